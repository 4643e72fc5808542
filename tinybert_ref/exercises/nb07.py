"""Checkers for notebook 07 (task distillation): q1 the retention of a dev-selected student, q2 the
soft targets of the prediction layer (Eq. 10).

`CaseExercise` checks functions whose answer is a plain value (a number, a string, a dict of
numbers) on fixed probes, numbers within a relative tolerance; notebooks 08-10 reuse it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..losses import prediction_loss
from .checker import CheckResult, Exercise, Mistake, TensorExercise

__all__ = ["CaseExercise", "q1", "q2", "dev_selected_retention", "soft_targets"]


def _plain(value):
    """0-d tensors and numpy scalars -> Python numbers; other values unchanged."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def _same(a, b, rel_tol: float, abs_tol: float) -> bool:
    a, b = _plain(a), _plain(b)
    if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, numbers.Real) and isinstance(b, numbers.Real)):
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(_same(a[k], b[k], rel_tol, abs_tol) for k in a)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(_same(x, y, rel_tol, abs_tol) for x, y in zip(a, b, strict=True))
        return type(a) is type(b) and a == b
    return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=abs_tol)


@dataclass
class CaseExercise(Exercise):
    """An exercise whose answer is a function returning a plain value, checked on fixed probes.

    probes: returns a list of argument tuples; the function is called on a fresh copy of each.
    describe: argument tuple -> words for messages. inspect: optional (got, expected, args) ->
    CheckResult or None, run first (wrong type, missing keys). mistakes: `compute(*args)` gives the
    wrong value; for dict answers a mistake is recognised key by key. Numbers match within rel_tol.
    """

    probes: Callable[[], list[tuple]] = None
    mistakes: Sequence[Mistake] = ()
    describe: Callable[[tuple], str] = repr
    inspect: Callable | None = None
    rel_tol: float = 1e-4
    abs_tol: float = 1e-9
    success: str = "your function matches the reference on every probe."

    def _check(self, fn: Callable) -> CheckResult:
        import copy

        seen = []
        for args in self.probes():
            expected = self.reference(*args)
            try:
                got = _plain(fn(*copy.deepcopy(args)))
            except NotImplementedError:
                return CheckResult(False, "not_attempted", "Not attempted yet: replace the `raise NotImplementedError` line")
            except Exception as error:
                return CheckResult(False, "raises", f"called with {self.describe(args)} it raised "
                                   f"{type(error).__name__}: {error}")
            problem = self.inspect(got, expected, args) if self.inspect else None
            if problem is not None:
                return problem
            seen.append((args, got))
            if not self._same(got, expected):
                return self._diagnose(args, got, expected, seen)
        return CheckResult(True, "correct", self.success)

    def _same(self, a, b) -> bool:
        return _same(a, b, self.rel_tol, self.abs_tol)

    def _matches(self, got, wrong, expected) -> bool:
        if self._same(wrong, expected):
            return False
        if isinstance(got, dict) and isinstance(wrong, dict) and isinstance(expected, dict):
            bad = [k for k in expected if k not in got or not self._same(got[k], expected[k])]
            return all(k in got and k in wrong and self._same(got[k], wrong[k]) for k in bad)
        return self._same(got, wrong)

    def _diagnose(self, args, got, expected, seen) -> CheckResult:
        candidates = [m for m in self.mistakes if self._matches(got, m.compute(*args), expected)]
        # prefer a mistake that also explains every earlier probe (they can coincide on one probe)
        consistent = [m for m in candidates if all(self._same(g, m.compute(*a)) for a, g in seen[:-1])]
        chosen = (consistent or candidates or [None])[0]
        if chosen is not None:
            return CheckResult(False, chosen.code, f"for {self.describe(args)}: {chosen.message}")
        return CheckResult(False, "values", f"for {self.describe(args)}: {_difference(got, expected)}")


def _difference(got, expected) -> str:
    if isinstance(expected, dict) and isinstance(got, dict):
        for key, value in expected.items():
            if key not in got:
                return f"the key {key!r} is missing (expected {value!r})"
            if not _same(got[key], value, 1e-4, 1e-9):
                return f"{key!r} should be {_fmt(value)}, got {_fmt(got[key])}"
    return f"expected {_fmt(expected)}, got {_fmt(got)}"


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


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


def _q1_inspect(got, expected, args):
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        return CheckResult(False, "wrong_type", f"expected a number (the retention as a fraction, e.g. 0.97), got "
                           f"{type(got).__name__} {got!r}")
    return None


q1 = CaseExercise(
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
    inspect=_q1_inspect,
    mistakes=[
        Mistake("selected_on_test", lambda c, t: _best(c, "test")["test"] / t["test"],
                "you picked the checkpoint with the best TEST score. That is selection on test: the figure is "
                "optimistic and no longer an estimate of unseen data. Select on dev, then report its test score"),
        Mistake("tie_took_later", lambda c, t: _best(c, "dev", later_on_tie=True)["test"] / t["test"],
                "on a dev tie you kept the later checkpoint; the training loop saves only when dev strictly "
                "improves, so the earlier one is the model that was exported"),
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
    return torch.softmax(teacher_logits.float() / temperature, dim=-1)


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
    locate=lambda index: f"example {index[0]}, class {index[1]}",
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
