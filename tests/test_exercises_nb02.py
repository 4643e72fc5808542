"""Checkers of notebook 02 (BERT pretraining): reference and workshop solutions pass, the starter is
`not_attempted`, and each catalogued mistake, written as a learner would, is named by its code."""

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tinybert_ref.exercises import nb02

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions" / "nb02.py"


def _solutions():
    spec = importlib.util.spec_from_file_location("nb02_solutions", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _starter(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", [nb02.q1, nb02.q2], ids=["q1", "q2"])
def test_starter_reference_hints(exercise):
    assert exercise.check(_starter).code == "not_attempted"
    assert exercise.check(exercise.reference).code == "correct"
    assert 1 <= len(exercise.hints) <= 3
    assert "def " in exercise.solution()


def test_solutions_pass():
    solutions = _solutions()
    assert nb02.q1.check(solutions.bert_masking).code == "correct"
    assert nb02.q2.check(solutions.mlm_loss).code == "correct"


def _masking(mask_below=0.8, random_below=0.9, special_ok=False, reverse=False, where_style=False):
    def answer(input_ids, special, select_draw, replace_draw, random_ids, mask_id):
        selected = (select_draw >= 0.15) if reverse else (select_draw < 0.15)
        if not special_ok:
            selected = selected & ~special
        if where_style:  # a different but correct way of writing it
            out = torch.where(selected & (replace_draw < 0.8), torch.full_like(input_ids, mask_id), input_ids)
            return torch.where(selected & (replace_draw >= 0.8) & (replace_draw < 0.9), random_ids, out)
        out = input_ids.clone()
        out[selected & (replace_draw < mask_below)] = mask_id
        rand = selected & (replace_draw >= mask_below) & (replace_draw < random_below)
        out[rand] = random_ids[rand]
        return out
    return answer


@pytest.mark.parametrize("answer, code", [
    (_masking(where_style=True), "correct"),
    (_masking(mask_below=2.0), "masks_all_selected"),
    (_masking(special_ok=True), "selects_special_tokens"),
    (_masking(random_below=0.8), "no_random_replacement"),
    (_masking(mask_below=0.1, random_below=0.2), "split_reversed"),
    (_masking(reverse=True), "selection_reversed"),
    (_masking(mask_below=0.7, random_below=0.9), "values"),
    (lambda ids, *rest: ids.float(), "values"),
    (lambda ids, *rest: ids[:, :10], "shape"),
])
def test_q1_mistakes(answer, code):
    assert nb02.q1.check(answer).code == code


@pytest.mark.parametrize("answer, code", [
    (lambda lg, o, s: F.cross_entropy(lg.reshape(-1, lg.size(-1)), torch.where(s, o, -100).reshape(-1)), "correct"),
    (lambda lg, o, s: F.cross_entropy(lg.reshape(-1, lg.size(-1)), o.reshape(-1)), "loss_on_all_tokens"),
    (lambda lg, o, s: F.cross_entropy(lg[~s], o[~s]), "loss_on_unselected"),
    (lambda lg, o, s: F.cross_entropy(lg[s], o[s], reduction="sum"), "sum_not_mean"),
    (lambda lg, o, s: F.cross_entropy(lg[s].softmax(-1), o[s]), "softmax_before_loss"),
    (lambda lg, o, s: F.cross_entropy(lg[s], o[s], reduction="none"), "shape"),
    (lambda lg, o, s: F.cross_entropy(lg[s], o[s]).item(), "wrong_type"),
])
def test_q2_mistakes(answer, code):
    assert nb02.q2.check(answer).code == code
