"""Checkers for notebook 07 (task distillation): q1 the retention of a dev-selected student, q2 the
soft targets of the prediction layer (Eq. 10).
"""

from __future__ import annotations

import numbers

import torch

from ..losses import prediction_loss
from .checker import Mistake, TensorExercise, ValueExercise, convention, expect_type

__all__ = ["q1", "q2", "dev_selected_retention", "soft_targets"]


# --------------------------------------------------------------------------- q1: retention, selected on dev
def dev_selected_retention(checkpoints: list[dict], teacher: dict) -> float:
    """Test retention of the student checkpoint with the best dev score: test(best-dev) / teacher test.

    checkpoints: [{"step", "dev", "test"}, ...] in training order; teacher: {"dev", "test"}. On a dev
    tie the earlier checkpoint wins, as in `tinybert_ref.train` (it saves only on a strict improvement).
    """
    best = checkpoints[0]
    for checkpoint in checkpoints[1:]:
        if checkpoint["dev"] > best["dev"]:
            best = checkpoint
    return best["test"] / teacher["test"]


def _best(checkpoints, key, later_on_tie=False):
    best = checkpoints[0]
    for checkpoint in checkpoints[1:]:
        if checkpoint[key] > best[key] or (later_on_tie and checkpoint[key] == best[key]):
            best = checkpoint
    return best


def _q1_probes():
    return [
        ([{"step": 100, "dev": 0.85, "test": 0.875}, {"step": 200, "dev": 0.90, "test": 0.855},
          {"step": 300, "dev": 0.88, "test": 0.86}], {"dev": 0.925, "test": 0.885}),
        ([{"step": 50, "dev": 0.70, "test": 0.72}, {"step": 100, "dev": 0.75, "test": 0.74},
          {"step": 150, "dev": 0.75, "test": 0.745}, {"step": 200, "dev": 0.73, "test": 0.77},
          {"step": 250, "dev": 0.71, "test": 0.73}], {"dev": 0.80, "test": 0.78}),
    ]


q1 = ValueExercise(
    name="retention of the dev-selected student",
    hints=[
        "Retention = student score / teacher score, both on the test set. But WHICH student checkpoint? The one "
        "the pipeline kept: chosen on dev, never on test.",
        "Find the checkpoint with the highest 'dev' (the earlier one on a tie), then divide ITS 'test' by the "
        "teacher's 'test'. The best test score of all checkpoints is a number you are not allowed to pick.",
        "best = checkpoints[0]; for c in checkpoints[1:]: best = c if c['dev'] > best['dev'] else best; "
        "return best['test'] / teacher['test']",
    ],
    reference=dev_selected_retention,
    probes=_q1_probes,
    describe=lambda args: f"{len(args[0])} checkpoints, teacher {args[1]}",
    inspect=expect_type(numbers.Real, "a number: the retention as a fraction, e.g. 0.97"),
    rel_tol=1e-4,
    mistakes=[
        Mistake("selected_on_test", lambda c, t: _best(c, "test")["test"] / t["test"],
                "you picked the checkpoint with the best TEST score. That is selection on test: the figure is "
                "optimistic and no longer an estimate of unseen data. Select on dev, then report its test score"),
        convention("tie_break", lambda c, t: _best(c, "dev", later_on_tie=True)["test"] / t["test"],
                   "on a dev tie you kept the later checkpoint; this package's training loop saves only when dev "
                   "strictly improves, so the earlier one is the model it exported"),
        Mistake("dev_retention", lambda c, t: _best(c, "dev")["dev"] / t["dev"],
                "that is the DEV retention (dev / dev). Report the selected checkpoint's test score over the "
                "teacher's test score; dev retention is worth showing beside it, not instead"),
        Mistake("last_checkpoint", lambda c, t: c[-1]["test"] / t["test"],
                "you used the last checkpoint; the pipeline keeps the one with the best dev score"),
        Mistake("mixed_splits", lambda c, t: _best(c, "dev")["test"] / t["dev"],
                "numerator and denominator come from different splits (student test / teacher dev): use the "
                "teacher's TEST score"),
        Mistake("inverted", lambda c, t: t["test"] / _best(c, "dev")["test"],
                "the ratio is upside down: retention is student / teacher"),
        Mistake("percent", lambda c, t: 100 * dev_selected_retention(c, t),
                "right checkpoint, but as a percentage; return the fraction (0.97, not 97)"),
    ],
    success="you report retention as the paper does: the dev-selected model's test score over the teacher's. "
            "Try next: compute the dev retention too; metrics.json keeps both.",
)


# --------------------------------------------------------------------------- q2: soft targets at temperature t
def soft_targets(teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(z^T / t) over classes: the targets of Eq. 10. teacher_logits (B, C) -> (B, C)."""
    return torch.softmax(teacher_logits / temperature, dim=-1)


def _q2_inputs(temperature: float, seed: int):
    def make():
        generator = torch.Generator().manual_seed(seed)
        return 3.0 * torch.randn(4, 5, generator=generator), temperature
    return make


q2 = TensorExercise(
    name="soft targets of the prediction layer",
    hints=[
        "Eq. 10 compares the student's log-probabilities with the teacher's probabilities, both computed from "
        "logits divided by the temperature t.",
        "Divide the (B, C) logits by t first, then take the softmax over the classes (the last dimension).",
        "return torch.softmax(teacher_logits / temperature, dim=-1)",
    ],
    reference=soft_targets,
    shown_solution=prediction_loss,
    make_inputs=_q2_inputs(2.0, 0),
    extra_inputs=[_q2_inputs(0.5, 1)],
    describe="(B, C)",
    locate=("example", "class"),
    mistakes=[
        Mistake("no_temperature", lambda z, t: torch.softmax(z, -1),
                "the temperature is missing: divide the logits by t before the softmax (t = 2 in this probe)"),
        Mistake("temperature_multiplied", lambda z, t: torch.softmax(z * t, -1),
                "you multiplied by t; Eq. 10 divides the logits by t (a larger t gives SOFTER targets)"),
        Mistake("temperature_after_softmax", lambda z, t: torch.softmax(z, -1) / t,
                "you divided the probabilities by t; divide the logits, then take the softmax (rows must sum to 1)"),
        Mistake("log_probabilities", lambda z, t: torch.log_softmax(z / t, -1),
                "these are log-probabilities (the student's side of Eq. 10); the targets are probabilities"),
        Mistake("softmax_over_batch", lambda z, t: torch.softmax(z / t, 0),
                "the softmax ran over the batch (dim 0); it must run over the classes (dim -1)"),
        Mistake("hard_labels", lambda z, t: torch.nn.functional.one_hot(z.argmax(-1), z.shape[-1]).float(),
                "these are hard labels (one-hot argmax): Eq. 10 keeps the teacher's whole distribution, which "
                "is the point of distillation (the 'dark knowledge' in the small probabilities)"),
    ],
    success="you built the targets of Eq. 10; with the student's log_softmax(z^S / t) they give "
            "tinybert_ref.losses.prediction_loss. Try next: how do the targets change as t grows?",
)
