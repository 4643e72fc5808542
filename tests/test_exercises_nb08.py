"""Checkers of notebook 08 (attention transfer): reference and workshop solutions pass, the starter is
`not_attempted`, and each catalogued mistake, written as a learner would, is named by its code."""

import importlib.util
from pathlib import Path

import pytest
import torch

from tinybert_ref.exercises import nb08
from tinybert_ref.mapping import layer_mapping

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions" / "nb08.py"


def _solutions():
    spec = importlib.util.spec_from_file_location("nb08_solutions", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _starter(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise, source", [(nb08.q1, "def per_head_mse"), (nb08.q2, "def uniform_mapping")],
                         ids=["q1", "q2"])
def test_starter_reference_hints(exercise, source):
    assert exercise.check(_starter).code == "not_attempted"
    assert exercise.check(exercise.reference).code == "correct"
    assert 1 <= len(exercise.hints) <= 3
    assert source in exercise.solution()


def test_solutions_pass():
    solutions = _solutions()
    assert nb08.q1.check(solutions.per_head_mse).code == "correct"
    assert nb08.q2.check(solutions.teacher_layer_for).code == "correct"


def _keep(mask):
    real = mask.bool()
    return real[:, None, :, None] & real[:, None, None, :]


def _real_diff(s, t, mask):
    return torch.where(_keep(mask), s - t, torch.zeros(()))


def _per_sentence(s, t, mask):
    means = []
    for b in range(len(mask)):
        n = int(mask[b].sum())
        means.append(((s[b, :, :n, :n] - t[b, :, :n, :n]) ** 2).mean(dim=(1, 2)))
    return torch.stack(means).mean(0)


def _keys_only(s, t, mask):
    keep = mask.bool()[:, None, None, :].expand_as(s)
    return torch.where(keep, s - t, 0.0).pow(2).sum(dim=(0, 2, 3)) / keep[:, 0].sum()


@pytest.mark.parametrize("answer, code", [
    (lambda s, t, mask: _real_diff(s, t, mask).pow(2).sum(dim=(0, 2, 3)) / _keep(mask).sum(), "correct"),
    (lambda s, t, mask: ((s - t) ** 2).mean(dim=(0, 2, 3)), "mask_ignored"),
    (lambda s, t, mask: _real_diff(s, t, mask).pow(2).mean(dim=(0, 2, 3)), "padding_in_denominator"),
    (_keys_only, "key_mask_only"),
    (_per_sentence, "averaged_per_example"),
    (lambda s, t, mask: torch.where(_keep(mask), s.softmax(-1) - t.softmax(-1), 0.0).pow(2).sum(dim=(0, 2, 3))
     / _keep(mask).sum(), "softmax_applied"),
    (lambda s, t, mask: _real_diff(s, t, mask).pow(2).sum(dim=(0, 2, 3)), "sum_not_mean"),
    (lambda s, t, mask: ((s - t) * _keep(mask)).pow(2).sum() / _keep(mask).sum(), "shape"),
    (lambda s, t, mask: ((s - t) ** 2 * 1e39).mean(dim=(0, 2, 3)), "not_finite"),
    (lambda s, t, mask: _real_diff(s, t, mask).abs().sum(dim=(0, 2, 3)) / _keep(mask).sum(), "values"),
    (lambda s, t, mask: (s - t)[mask.bool()], "raises"),
])
def test_q1_mistakes(answer, code):
    assert nb08.q1.check(answer).code == code


@pytest.mark.parametrize("answer, code", [
    (lambda m, M, N: layer_mapping(M, N)[m], "correct"),
    (lambda m, M, N: int(m * N / M + 0.5), "correct"),
    (lambda m, M, N: layer_mapping(M, N)[m] - 1, "mapping_off_by_one"),
    (lambda m, M, N: round(m * N / M), "bankers_rounding"),
    (lambda m, M, N: m * N // M, "floor_rounding"),
    (lambda m, M, N: m, "bottom_instead"),
    (lambda m, M, N: N - M + m if m else 0, "top_instead"),
    (lambda m, M, N: m * M // N, "ratio_inverted"),
    (lambda m, M, N: m * N / M, "wrong_type"),
    (lambda m, M, N: m + 7 if m else 0, "values"),
    (lambda m, M, N: [0, 3, 6, 9, 12][m] if N == 12 and M == 4 else None.bit_length(), "raises"),
])
def test_q2_mistakes(answer, code):
    assert nb08.q2.check(answer).code == code


def test_q2_our_runs_mapping():
    assert [nb08.teacher_layer_for(m, 4, 6) for m in range(5)] == [0, 2, 3, 5, 6]
    assert [nb08.teacher_layer_for(m, 4, 12) for m in range(5)] == [0, 3, 6, 9, 12]
