"""Checkers of notebook 07 (task distillation): reference and workshop solutions pass, the starter is
`not_attempted`, and each catalogued mistake, written as a learner would, is named by its code."""

import importlib.util
from pathlib import Path

import pytest
import torch

from tinybert_ref.exercises import nb07

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions" / "nb07.py"


def _solutions():
    spec = importlib.util.spec_from_file_location("nb07_solutions", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _starter(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", [nb07.q1, nb07.q2], ids=["q1", "q2"])
def test_starter_reference_hints(exercise):
    assert exercise.check(_starter).code == "not_attempted"
    assert exercise.check(exercise.reference).code == "correct"
    assert 1 <= len(exercise.hints) <= 3
    assert exercise.solution().startswith("def ")


def test_solutions_pass():
    solutions = _solutions()
    assert nb07.q1.check(solutions.retention).code == "correct"
    assert nb07.q2.check(solutions.soft_targets).code == "correct"


def _by_dev(checkpoints):
    return max(checkpoints, key=lambda c: c["dev"])  # max() keeps the first of equal keys


def _last_by_dev(checkpoints):
    return sorted(checkpoints, key=lambda c: c["dev"])[-1]  # sorted is stable: the later one wins a tie


@pytest.mark.parametrize("answer, code", [
    (lambda c, t: _by_dev(c)["test"] / t["test"], "correct"),
    (lambda c, t: max(x["test"] for x in c) / t["test"], "selected_on_test"),
    (lambda c, t: _last_by_dev(c)["test"] / t["test"], "tie_took_later"),
    (lambda c, t: _by_dev(c)["dev"] / t["dev"], "dev_retention"),
    (lambda c, t: c[-1]["test"] / t["test"], "last_checkpoint"),
    (lambda c, t: _by_dev(c)["test"] / t["dev"], "mixed_splits"),
    (lambda c, t: t["test"] / _by_dev(c)["test"], "inverted"),
    (lambda c, t: round(100 * _by_dev(c)["test"] / t["test"], 3), "percent"),
    (lambda c, t: str(_by_dev(c)["test"] / t["test"]), "wrong_type"),
    (lambda c, t: c["dev"], "raises"),
    (lambda c, t: 0.5, "values"),
    (lambda c, t: torch.tensor(_by_dev(c)["test"] / t["test"]), "correct"),
])
def test_q1_mistakes(answer, code):
    assert nb07.q1.check(answer).code == code


def test_q1_selection_matches_the_pipeline():
    """The training loop saves on a strict improvement only: the earlier checkpoint wins a dev tie."""
    checkpoints = [{"step": 1, "dev": 0.5, "test": 0.6}, {"step": 2, "dev": 0.5, "test": 0.9}]
    assert nb07.dev_selected_retention(checkpoints, {"dev": 1.0, "test": 1.0}) == 0.6


@pytest.mark.parametrize("answer, code", [
    (lambda z, t: (z / t).softmax(-1), "correct"),
    (lambda z, t: torch.softmax(z, dim=-1), "no_temperature"),
    (lambda z, t: torch.softmax(z * t, dim=-1), "temperature_multiplied"),
    (lambda z, t: torch.softmax(z, dim=-1) / t, "temperature_after_softmax"),
    (lambda z, t: torch.log_softmax(z / t, dim=-1), "log_probabilities"),
    (lambda z, t: torch.softmax(z / t, dim=0), "softmax_over_batch"),
    (lambda z, t: torch.nn.functional.one_hot(z.argmax(-1), z.shape[-1]).float(), "hard_labels"),
    (lambda z, t: torch.softmax(z / t, dim=-1).T, "shape"),
    (lambda z, t: torch.softmax(z / t, dim=-1).tolist(), "wrong_type"),
    (lambda z, t: z / 0 - z / 0, "not_finite"),
    (lambda z, t: torch.softmax(z / (t + 0.1), dim=-1), "values"),
    (lambda z, t: torch.softmax(z / t, dim=2), "raises"),
])
def test_q2_mistakes(answer, code):
    assert nb07.q2.check(answer).code == code


def test_q2_targets_are_eq10s():
    """Cross-entropy against the soft targets is the package's prediction loss (Eq. 10)."""
    from tinybert_ref.losses import prediction_loss

    generator = torch.Generator().manual_seed(3)
    student, teacher = torch.randn(4, 5, generator=generator), torch.randn(4, 5, generator=generator)
    manual = -(nb07.soft_targets(teacher, 2.0) * torch.log_softmax(student / 2.0, -1)).sum(-1).mean()
    assert torch.allclose(manual, prediction_loss(student, teacher, 2.0))
