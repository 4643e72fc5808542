"""Checkers of notebook 04: the reference passes, the starter is `not_attempted`, every catalogued
mistake is named by its code, and the workshop solutions pass."""

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tinybert_ref.exercises import nb04
from tinybert_ref.losses import attention_loss, prediction_loss

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions" / "nb04.py"


def _solutions():
    spec = importlib.util.spec_from_file_location("nb04_solutions", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _starter(*args):
    raise NotImplementedError


def _pair(mask):
    return (mask[:, None, :, None] * mask[:, None, None, :]).float()


def _neutralised(scores, mask):
    return torch.where(scores <= -1e2, torch.zeros_like(scores), scores) * _pair(mask)


# ---- q1: attention loss (Eq. 7) ------------------------------------------------------------------

def _attn_correct(s, t, m):
    return ((_neutralised(s, m) - _neutralised(t, m)) ** 2).mean()


ATTENTION_ANSWERS = {
    "softmax_applied": lambda s, t, m: ((s.softmax(-1) - t.softmax(-1)) ** 2 * _pair(m)).mean(),
    "mask_ignored": lambda s, t, m: ((s - t) ** 2).mean(),
    "padded_queries_kept": lambda s, t, m: F.mse_loss(torch.where(s <= -1e2, 0.0, s), torch.where(t <= -1e2, 0.0, t)),
    "sum_not_mean": lambda s, t, m: ((_neutralised(s, m) - _neutralised(t, m)) ** 2).sum(),
    "no_head_average": lambda s, t, m: sum(F.mse_loss(_neutralised(s, m)[:, h], _neutralised(t, m)[:, h])
                                           for h in range(s.shape[1])),
    "mean_over_real_entries": lambda s, t, m: ((_neutralised(s, m) - _neutralised(t, m)) ** 2).sum()
    / (_pair(m).sum() * s.shape[1]),
    "shape": lambda s, t, m: ((_neutralised(s, m) - _neutralised(t, m)) ** 2).mean(dim=(0, 2, 3)),
    "raises": lambda s, t, m: s @ t.transpose(0, 1),
    "values": lambda s, t, m: _attn_correct(s, t, m) * 1.5,
    "not_attempted": _starter,
}


@pytest.mark.parametrize("code", sorted(ATTENTION_ANSWERS))
def test_q1_codes(code):
    result = nb04.q1.check(ATTENTION_ANSWERS[code])
    assert result.code == code, result.message
    assert not result.passed


def test_q1_passes():
    assert nb04.q1.check(attention_loss).passed
    assert nb04.q1.check(_attn_correct).code == "correct"
    # softmax of the scores unmasked then masked: also recognised
    assert nb04.q1.check(lambda s, t, m: ((s.softmax(-1) - t.softmax(-1)) ** 2).mean()).code == "softmax_applied"


# ---- q2: prediction loss (Eq. 10) ----------------------------------------------------------------

def _soft_ce(s, te, t, dim=-1):
    return -(F.softmax(te / t, dim=dim) * F.log_softmax(s / t, dim=dim)).sum(-1).mean()


PREDICTION_ANSWERS = {
    "temperature_squared": lambda s, te, t: t * t * _soft_ce(s, te, t),
    "temperature_ignored": lambda s, te, t: _soft_ce(s, te, 1.0),
    "reversed_kl": lambda s, te, t: _soft_ce(te, s, t),
    "kl_instead_of_ce": lambda s, te, t: F.kl_div(F.log_softmax(s / t, -1), F.softmax(te / t, -1),
                                                  reduction="batchmean"),
    "hard_labels": lambda s, te, t: F.cross_entropy(s / t, te.argmax(-1)),
    "wrong_softmax_axis": lambda s, te, t: _soft_ce(s, te, t, dim=0),
    "sum_not_mean": lambda s, te, t: -(F.softmax(te / t, -1) * F.log_softmax(s / t, -1)).sum(),
    "mean_over_classes": lambda s, te, t: -(F.softmax(te / t, -1) * F.log_softmax(s / t, -1)).mean(),
    "shape": lambda s, te, t: -(F.softmax(te / t, -1) * F.log_softmax(s / t, -1)).sum(-1),
    "wrong_type": lambda s, te, t: float(_soft_ce(s, te, t)),
    "not_attempted": _starter,
}


@pytest.mark.parametrize("code", sorted(PREDICTION_ANSWERS))
def test_q2_codes(code):
    result = nb04.q2.check(PREDICTION_ANSWERS[code])
    assert result.code == code, result.message


def test_q2_temperature_squared_kl_and_one_sided_temperature():
    hinton = lambda s, te, t: F.kl_div(F.log_softmax(s / t, -1), F.softmax(te / t, -1),  # noqa: E731
                                       reduction="batchmean") * t ** 2
    assert nb04.q2.check(hinton).code == "temperature_squared"
    teacher_only = lambda s, te, t: -(F.softmax(te / t, -1) * F.log_softmax(s, -1)).sum(-1).mean()  # noqa: E731
    assert nb04.q2.check(teacher_only).code == "temperature_ignored"


def test_q2_passes():
    assert nb04.q2.check(prediction_loss).passed
    assert nb04.q2.check(_soft_ce).code == "correct"


# ---- q3: hidden loss (Eq. 8) ---------------------------------------------------------------------

HIDDEN_ANSWERS = {
    "projection_on_teacher": lambda s, te, w: ((s - te @ w.T) ** 2).mean(),
    "sum_not_mean": lambda s, te, w: ((s @ w - te) ** 2).sum(),
    "sum_over_width": lambda s, te, w: ((s @ w - te) ** 2).sum(-1).mean(),
    "root_mean_square": lambda s, te, w: torch.sqrt(F.mse_loss(s @ w, te)),
    "raises": lambda s, te, w: F.mse_loss(s @ w.T, te),
    "values": lambda s, te, w: F.mse_loss(s @ w, te) + 0.1,
    "not_attempted": _starter,
}


@pytest.mark.parametrize("code", sorted(HIDDEN_ANSWERS))
def test_q3_codes(code):
    assert nb04.q3.check(HIDDEN_ANSWERS[code]).code == code


def test_q3_passes():
    assert nb04.q3.check(nb04.reference_hidden_loss).passed
    assert nb04.q3.check(lambda s, te, w: F.mse_loss(s @ w, te)).passed


# ---- hints, solutions, workshop ------------------------------------------------------------------

@pytest.mark.parametrize("exercise", [nb04.q1, nb04.q2, nb04.q3], ids=lambda e: e.name)
def test_hints_and_solution(exercise):
    assert 1 <= len(exercise.hints) <= 3
    assert exercise.hint(99).startswith(f"Hint {len(exercise.hints)}/")
    assert "def " in exercise.solution()


def test_workshop_solutions_pass():
    solutions = _solutions()
    assert nb04.q1.check(solutions.my_attention_loss).passed
    assert nb04.q2.check(solutions.my_prediction_loss).passed
    assert nb04.q3.check(solutions.my_hidden_loss).passed
