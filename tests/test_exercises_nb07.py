"""Checkers of notebook 07 (task distillation): the harness's table for each exercise, and the references
against the training loop (dev selection) and the package's Eq. 10."""

import torch
from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb07


def _by_dev(checkpoints):
    return max(checkpoints, key=lambda c: c["dev"])  # max() keeps the first of equal keys


def _last_by_dev(checkpoints):
    return sorted(checkpoints, key=lambda c: c["dev"])[-1]  # sorted is stable: the later one wins a tie


TABLES = {
    "q1": Table("retention", wrong=[
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
    "q2": Table("soft_targets", wrong=[
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
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb07, TABLES)


def test_q1_selection_matches_the_pipeline():
    """The training loop saves on a strict improvement only: the earlier checkpoint wins a dev tie."""
    checkpoints = [{"step": 1, "dev": 0.5, "test": 0.6}, {"step": 2, "dev": 0.5, "test": 0.9}]
    assert nb07.dev_selected_retention(checkpoints, {"dev": 1.0, "test": 1.0}) == 0.6


def test_q2_targets_are_eq10s():
    """Cross-entropy against the soft targets is the package's prediction loss (Eq. 10)."""
    from tinybert_ref.losses import prediction_loss

    generator = torch.Generator().manual_seed(3)
    student, teacher = torch.randn(4, 5, generator=generator), torch.randn(4, 5, generator=generator)
    manual = -(nb07.soft_targets(teacher, 2.0) * torch.log_softmax(student / 2.0, -1)).sum(-1).mean()
    assert torch.allclose(manual, prediction_loss(student, teacher, 2.0))
