"""Checkers for notebook 07 (task distillation).

    q1  my_soft_targets(teacher_logits, temperature)          the targets of Eq. 10, softmax(z^T / t)
    q2  my_prediction_step(student, teacher, batch, optimizer, temperature)
                                                              one optimiser step of step 2 (Eq. 10)
    q3  my_retention(checkpoints, teacher)                    the retention of a dev-selected student

q2 checks what the answer leaves behind: it runs the answer on fresh probe models and compares the
student's weights after the step and the returned loss with the reference's (`StepExercise`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..losses import prediction_loss
from .checker import (
    NOT_ATTEMPTED,
    CheckResult,
    Exercise,
    Mistake,
    TensorExercise,
    ValueExercise,
    convention,
    expect_type,
    plain,
)

__all__ = ["q1", "q2", "q3", "StepExercise", "dev_selected_retention", "prediction_step", "soft_targets"]


# --------------------------------------------------------------------------- q1: soft targets at temperature t
def soft_targets(teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(z^T / t) over classes: the targets of Eq. 10. teacher_logits (B, C) -> (B, C)."""
    return torch.softmax(teacher_logits / temperature, dim=-1)


def _q1_inputs(temperature: float, seed: int):
    def make():
        generator = torch.Generator().manual_seed(seed)
        return 3.0 * torch.randn(4, 5, generator=generator), temperature
    return make


q1 = TensorExercise(
    name="soft targets of the prediction layer",
    hints=[
        "Eq. 10 compares the student's log-probabilities with the teacher's probabilities, both computed from "
        "logits divided by the temperature t.",
        "Divide the (B, C) logits by t first, then take the softmax over the classes (the last dimension).",
        "return torch.softmax(teacher_logits / temperature, dim=-1)",
    ],
    reference=soft_targets,
    shown_solution=prediction_loss,
    make_inputs=_q1_inputs(2.0, 0),
    extra_inputs=[_q1_inputs(0.5, 1)],
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


# --------------------------------------------------------------------------- q2: one step of step 2 (Eq. 10)
def prediction_step(student, teacher, batch, optimizer, temperature):
    """One optimiser step of prediction-layer distillation (Eq. 10); returns the step's loss, detached.

    student, teacher: sequence classifiers (B, C logits); batch: their inputs (input_ids, attention_mask,
    token_type_ids, each (B, L)); optimizer: over the student's parameters, whose .grad may still hold
    an earlier batch's gradients. The teacher is frozen: its forward keeps no graph.
    """
    with torch.no_grad():
        teacher_logits = teacher(**batch).logits
    student_logits = student(**batch).logits
    loss = prediction_loss(student_logits, teacher_logits, temperature)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def _weights(model) -> dict:
    return {name: parameter.detach().clone() for name, parameter in model.named_parameters()}


@dataclass
class StepExercise(Exercise):
    """An exercise whose answer makes one training step in place, on models and an optimizer it is given.

    make_probe: returns fresh arguments each call, (student, teacher, batch, optimizer, temperature) here;
    the reference, the answer and every mistake each get their own. An answer is right when the student's
    weights after the step and the returned loss (a number or a 0-d tensor) match the reference's, and
    the teacher got no gradients. mistakes: `compute` is a wrong step function, matched by the same two.
    """

    make_probe: Callable[[], tuple] = None
    mistakes: Sequence[Mistake] = ()
    describe: str = ""
    atol: float = 1e-6
    rtol: float = 1e-5
    success: str = "your step matches the reference: same loss, same weights after the step."

    def _outcome(self, step: Callable) -> tuple:
        args = self.make_probe()
        return plain(step(*args)), _weights(args[0])

    def _check(self, fn: Callable) -> CheckResult:
        expected_loss, expected = self._outcome(self.reference)
        args = self.make_probe()
        try:
            returned = fn(*args)
        except NotImplementedError:
            return CheckResult(False, "not_attempted", NOT_ATTEMPTED)
        except Exception as error:
            return CheckResult(False, "raises", f"one step on {self.describe} raised {type(error).__name__}: {error}")
        loss, weights = plain(returned), _weights(args[0])
        if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
            return CheckResult(False, "wrong_type", f"return the step's loss, a 0-d tensor or a number; got "
                               f"{type(returned).__name__}")
        if not math.isfinite(loss) or not all(torch.isfinite(w).all() for w in weights.values()):
            return CheckResult(False, "not_finite", "the loss or the student's weights hold NaN or inf")
        if self._matches(loss, weights, expected_loss, expected):
            if any(parameter.grad is not None for parameter in args[1].parameters()):
                return CheckResult(False, "teacher_not_frozen", "the loss and the step are right, but the teacher's "
                                   "weights received gradients: its forward ran with autograd on and backward() went "
                                   "through it. Run the teacher under torch.no_grad(): it is not trained, and no "
                                   "graph of its forward needs keeping.")
            return CheckResult(True, "correct", self.success)
        for mistake in self.mistakes:
            if self._matches(loss, weights, *self._outcome(mistake.compute)):
                return CheckResult(False, mistake.code, mistake.message)
        return CheckResult(False, "values", self._difference(loss, weights, expected_loss, expected))

    def _matches(self, loss, weights, other_loss, other) -> bool:
        return math.isclose(loss, other_loss, rel_tol=self.rtol, abs_tol=self.atol) and all(
            torch.allclose(weights[name], other[name], atol=self.atol, rtol=self.rtol) for name in other)

    def _difference(self, loss, weights, expected_loss, expected) -> str:
        deviations = {name: (weights[name] - expected[name]).abs().max().item() for name in expected}
        worst = max(deviations, key=deviations.get)
        parts = []
        if not math.isclose(loss, expected_loss, rel_tol=self.rtol, abs_tol=self.atol):
            parts.append(f"the returned loss is {loss:.6g}, expected {expected_loss:.6g}")
        if deviations[worst] > self.atol:
            parts.append(f"the student's weights after the step differ from the reference's (largest deviation "
                         f"{deviations[worst]:.3g} in {worst})")
        return "; ".join(parts) + f" (tolerance atol={self.atol}, rtol={self.rtol})"


_STEP_TEMPERATURE = 2.0


def _tiny_classifier(width: int, layers: int, seed: int, logit_scale: float):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=40, hidden_size=width, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * width, max_position_embeddings=16, num_labels=3,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.mul_(logit_scale)  # logits of a few units: soft targets that are not uniform
    return model


def _step_batch(generator) -> dict:
    mask = torch.ones(4, 7, dtype=torch.long)
    mask[3, 5:] = 0
    return {"input_ids": torch.randint(1, 40, (4, 7), generator=generator) * mask, "attention_mask": mask,
            "token_type_ids": torch.zeros(4, 7, dtype=torch.long)}


def _step_probe():
    """(student, teacher, batch, optimizer, t = 2): 3-class BERTs (student 2 layers of width 16, teacher 3 of
    24), no dropout, a batch of 4 x 7 tokens (the last padded after 5). The optimizer (SGD with momentum)
    has made one step on an earlier batch, whose gradients are still in the student's .grad."""
    generator = torch.Generator().manual_seed(70)
    student, teacher = _tiny_classifier(16, 2, seed=71, logit_scale=20.0), _tiny_classifier(24, 3, 72, 60.0)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9)
    prediction_step(student, teacher, _step_batch(generator), optimizer, _STEP_TEMPERATURE)
    return student, teacher, _step_batch(generator), optimizer, _STEP_TEMPERATURE


def _wrong_step(loss_of, zero_grad=True, backward=True, step=True):
    """A step with one of the usual mistakes: loss_of(student_logits, teacher_logits, t) -> the loss."""
    def run(student, teacher, batch, optimizer, temperature):
        with torch.no_grad():
            teacher_logits = teacher(**batch).logits
        loss = loss_of(student(**batch).logits, teacher_logits, temperature)
        if zero_grad:
            optimizer.zero_grad()
        if backward:
            loss.backward()
        if step:
            optimizer.step()
        return loss.detach()
    return run


def _kl(student_logits, teacher_logits, t):
    return F.kl_div(F.log_softmax(student_logits / t, -1), F.softmax(teacher_logits / t, -1), reduction="batchmean")


q2 = StepExercise(
    name="one step of prediction-layer distillation",
    hints=[
        "One step is: the teacher's logits without gradients, the student's logits with them, the loss of Eq. 10 "
        "between the two at temperature t, then clear the old gradients, backpropagate, and let the optimizer "
        "update the student. Return the loss.",
        "`torch.no_grad()` around the teacher's forward; `prediction_loss(student_logits, teacher_logits, "
        "temperature)` is Eq. 10. backward() ADDS to .grad, and .grad still holds an earlier batch's "
        "gradients: call optimizer.zero_grad() before loss.backward(), then optimizer.step().",
        "`with torch.no_grad(): teacher_logits = teacher(**batch).logits`; `student_logits = "
        "student(**batch).logits`; `loss = prediction_loss(student_logits, teacher_logits, temperature)`; "
        "`optimizer.zero_grad(); loss.backward(); optimizer.step()`; `return loss.detach()`.",
    ],
    reference=prediction_step,
    make_probe=_step_probe,
    describe="the probe (3-class student and teacher, a batch of 4 x 7 tokens, t = 2)",
    mistakes=[
        Mistake("stale_gradients", _wrong_step(prediction_loss, zero_grad=False),
                "the update used the earlier batch's gradients too: backward() adds to .grad, and the probe's "
                ".grad still held the previous batch's. Call optimizer.zero_grad() before loss.backward()."),
        Mistake("no_update", _wrong_step(prediction_loss, step=False),
                "the student's weights did not change: after loss.backward(), call optimizer.step()."),
        Mistake("no_backward", _wrong_step(prediction_loss, zero_grad=False, backward=False),
                "optimizer.step() used the gradients already in .grad (the earlier batch's): call loss.backward() "
                "first, so that the step follows this batch's loss."),
        Mistake("hard_labels", _wrong_step(lambda s, t, temp: F.cross_entropy(s, t.argmax(-1))),
                "you trained on the teacher's argmax as a hard label; Eq. 10 keeps the teacher's whole softened "
                "distribution softmax(z^T/t) as the target: use prediction_loss(student_logits, teacher_logits, t)."),
        Mistake("temperature_ignored", _wrong_step(lambda s, t, temp: prediction_loss(s, t, 1.0)),
                "the temperature was not used (this is t = 1; the probe passes t = 2): pass `temperature` to "
                "prediction_loss."),
        Mistake("temperature_squared", _wrong_step(lambda s, t, temp: temp ** 2 * prediction_loss(s, t, temp)),
                "Eq. 10 has no t^2 factor (Hinton et al.'s gradient rescaling; TinyBERT does not use it)."),
        Mistake("reversed_kl", _wrong_step(lambda s, t, temp: prediction_loss(t, s, temp)),
                "teacher and student are swapped: prediction_loss(student_logits, teacher_logits, t) takes the "
                "student first; the teacher's distribution is the target."),
        Mistake("kl_instead_of_ce", _wrong_step(_kl),
                "the step is right (KL has the same gradient as Eq. 10), but the loss you return is "
                "KL(p_T || p_S), the cross-entropy minus the teacher's entropy: return Eq. 10's cross-entropy, "
                "as prediction_loss computes it."),
    ],
    success="your step is the body of prediction-layer distillation: frozen teacher, student forward, Eq. 10, "
            "zero_grad, backward, step. Try next: the loop below runs it step after step.",
)


# --------------------------------------------------------------------------- q3: retention, selected on dev
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


def _q3_probes():
    return [
        ([{"step": 100, "dev": 0.85, "test": 0.875}, {"step": 200, "dev": 0.90, "test": 0.855},
          {"step": 300, "dev": 0.88, "test": 0.86}], {"dev": 0.925, "test": 0.885}),
        ([{"step": 50, "dev": 0.70, "test": 0.72}, {"step": 100, "dev": 0.75, "test": 0.74},
          {"step": 150, "dev": 0.75, "test": 0.745}, {"step": 200, "dev": 0.73, "test": 0.77},
          {"step": 250, "dev": 0.71, "test": 0.73}], {"dev": 0.80, "test": 0.78}),
    ]


q3 = ValueExercise(
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
    probes=_q3_probes,
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
