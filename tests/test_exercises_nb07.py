"""Checkers of notebook 07 (task distillation): the harness's table for each exercise, and the references
against the package's Eq. 10, its training objective (one step) and its training loop (dev selection)."""

import torch
import torch.nn.functional as F
from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb07
from tinybert_ref.losses import prediction_loss


def _by_dev(checkpoints):
    return max(checkpoints, key=lambda c: c["dev"])  # max() keeps the first of equal keys


def _last_by_dev(checkpoints):
    return sorted(checkpoints, key=lambda c: c["dev"])[-1]  # sorted is stable: the later one wins a tie


def _soft_ce(s, te, t):
    return -(F.softmax(te / t, -1) * F.log_softmax(s / t, -1)).sum(-1).mean()


def _step(loss_of, zero_grad=True, zero_after=False, backward=True, step=True, frozen=True, student_grad=True,
          detached_teacher=False, steps=1, as_number=False):
    """A prediction-distillation step written as a learner might, with one thing changed."""
    def run(student, teacher, batch, optimizer, temperature):
        for _ in range(steps):
            if frozen:
                with torch.no_grad():
                    teacher_logits = teacher(**batch).logits
            else:
                teacher_logits = teacher(**batch).logits
            if detached_teacher:
                teacher_logits = teacher(**batch).logits.detach()
            with torch.set_grad_enabled(student_grad):
                loss = loss_of(student(**batch).logits, teacher_logits, temperature)
            if zero_grad and not zero_after:
                optimizer.zero_grad()
            if backward:
                loss.backward()
            if step:
                optimizer.step()
            if zero_after:
                optimizer.zero_grad()
        return loss.item() if as_number else loss
    return run


TABLES = {
    "q1": Table("soft_targets", wrong=[
        ("no_temperature", lambda z, t: torch.softmax(z, dim=-1)),
        ("temperature_multiplied", lambda z, t: torch.softmax(z * t, dim=-1)),
        ("temperature_after_softmax", lambda z, t: torch.softmax(z, dim=-1) / t),
        ("log_probabilities", lambda z, t: torch.log_softmax(z / t, dim=-1)),
        ("softmax_over_batch", lambda z, t: torch.softmax(z / t, dim=0)),
        ("hard_labels", lambda z, t: torch.nn.functional.one_hot(z.argmax(-1), z.shape[-1]).float()),
        ("shape", lambda z, t: torch.softmax(z / t, dim=-1).T),
        ("wrong_type", lambda z, t: torch.softmax(z / t, dim=-1).tolist()),
        ("not_finite", lambda z, t: z / 0 - z / 0),
        ("values", lambda z, t: torch.softmax(z / (t + 0.1), dim=-1)),
        ("raises", lambda z, t: torch.softmax(z / t, dim=2)),
    ], passes=[lambda z, t: (z / t).softmax(-1)]),
    "q2": Table("my_prediction_step", wrong=[
        ("stale_gradients", _step(prediction_loss, zero_grad=False)),
        ("stale_gradients", _step(prediction_loss, zero_after=True)),  # train.py's order, on dirty .grad
        ("no_update", _step(prediction_loss, step=False)),
        ("no_backward", _step(prediction_loss, zero_grad=False, backward=False)),
        ("hard_labels", _step(lambda s, te, t: F.cross_entropy(s, te.argmax(dim=1)))),
        ("hard_labels", _step(lambda s, te, t: F.nll_loss(F.log_softmax(s, -1), te.argmax(-1)))),
        ("temperature_ignored", _step(lambda s, te, t: _soft_ce(s, te, 1.0))),
        ("temperature_squared", _step(lambda s, te, t: t * t * _soft_ce(s, te, t))),
        ("reversed_kl", _step(lambda s, te, t: _soft_ce(te, s, t))),
        ("kl_instead_of_ce", _step(lambda s, te, t: F.kl_div(F.log_softmax(s / t, -1), F.softmax(te / t, -1),
                                                              reduction="batchmean"))),
        ("teacher_not_frozen", _step(prediction_loss, frozen=False)),
        ("raises", _step(prediction_loss, student_grad=False)),
        ("wrong_type", lambda student, teacher, batch, optimizer, t: [_step(prediction_loss)(student, teacher, batch,
                                                                                                optimizer, t)]),
        ("values", _step(lambda s, te, t: _soft_ce(s, te, t) + 0.5 * (s ** 2).mean())),
        ("values", _step(prediction_loss, steps=2)),
    ], passes=[_step(_soft_ce), _step(prediction_loss, detached_teacher=True),
               _step(prediction_loss, as_number=True)]),
    "q3": Table("retention", wrong=[
        ("selected_on_test", lambda c, t: max(x["test"] for x in c) / t["test"]),
        ("convention_tie_break", lambda c, t: _last_by_dev(c)["test"] / t["test"]),
        ("dev_retention", lambda c, t: _by_dev(c)["dev"] / t["dev"]),
        ("last_checkpoint", lambda c, t: c[-1]["test"] / t["test"]),
        ("mixed_splits", lambda c, t: _by_dev(c)["test"] / t["dev"]),
        ("inverted", lambda c, t: t["test"] / _by_dev(c)["test"]),
        ("percent", lambda c, t: round(100 * _by_dev(c)["test"] / t["test"], 3)),
        ("wrong_type", lambda c, t: str(_by_dev(c)["test"] / t["test"])),
        ("raises", lambda c, t: c["dev"]),
        ("values", lambda c, t: 0.5),
    ], passes=[lambda c, t: _by_dev(c)["test"] / t["test"],
               lambda c, t: torch.tensor(_by_dev(c)["test"] / t["test"])]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb07, TABLES)


def test_q2_reference_is_the_package_objective(tiny_config):
    """One reference step moves the student exactly as a step of `PredictionDistillation` (the objective that
    `train.train` runs for task distillation step 2) with the same optimizer."""
    from transformers import BertForSequenceClassification

    from tinybert_ref.objective import PredictionDistillation

    def models():
        torch.manual_seed(0)
        config = tiny_config(num_labels=3)
        return BertForSequenceClassification(config).eval(), BertForSequenceClassification(config).eval()

    batch = {"input_ids": torch.randint(5, 100, (3, 6)), "attention_mask": torch.ones(3, 6, dtype=torch.long),
             "token_type_ids": torch.zeros(3, 6, dtype=torch.long)}
    student, teacher = models()
    mine = nb07.prediction_step(student, teacher, batch, torch.optim.SGD(student.parameters(), lr=0.5), 2.0)
    package_student, package_teacher = models()
    objective = PredictionDistillation(package_student, package_teacher, temperature=2.0)
    optimizer = torch.optim.SGD(objective.parameters(), lr=0.5)
    loss = objective(batch)["total"]
    loss.backward()
    optimizer.step()
    assert torch.allclose(mine, loss.detach())
    for (name, a), b in zip(student.named_parameters(), package_student.parameters(), strict=True):
        assert torch.allclose(a, b), name


def test_q2_teacher_gradients_are_reported_even_when_the_step_is_right():
    frozen_forgotten = next(answer for code, answer in TABLES["q2"].wrong if code == "teacher_not_frozen")
    result = nb07.q2.check(frozen_forgotten)
    assert (result.passed, result.code) == (False, "teacher_not_frozen")


def test_q3_selection_matches_the_pipeline():
    """The training loop saves on a strict improvement only: the earlier checkpoint wins a dev tie."""
    checkpoints = [{"step": 1, "dev": 0.5, "test": 0.6}, {"step": 2, "dev": 0.5, "test": 0.9}]
    assert nb07.dev_selected_retention(checkpoints, {"dev": 1.0, "test": 1.0}) == 0.6


def test_q1_targets_are_eq10s():
    """Cross-entropy against the soft targets is the package's prediction loss (Eq. 10)."""
    from tinybert_ref.losses import prediction_loss

    generator = torch.Generator().manual_seed(3)
    student, teacher = torch.randn(4, 5, generator=generator), torch.randn(4, 5, generator=generator)
    manual = -(nb07.soft_targets(teacher, 2.0) * torch.log_softmax(student / 2.0, -1)).sum(-1).mean()
    assert torch.allclose(manual, prediction_loss(student, teacher, 2.0))
