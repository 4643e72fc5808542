"""Checkers of notebook 08 (attention transfer): the harness's table for each exercise."""

import math

import torch
from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb08
from tinybert_ref.mapping import layer_mapping


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


TABLES = {
    "q1": Table("per_head_mse", wrong=[
        ("mask_ignored", lambda s, t, mask: ((s - t) ** 2).mean(dim=(0, 2, 3))),
        ("padding_in_denominator", lambda s, t, mask: _real_diff(s, t, mask).pow(2).mean(dim=(0, 2, 3))),
        ("key_mask_only", _keys_only),
        ("averaged_per_example", _per_sentence),
        ("softmax_applied", lambda s, t, mask: torch.where(_keep(mask), s.softmax(-1) - t.softmax(-1), 0.0)
         .pow(2).sum(dim=(0, 2, 3)) / _keep(mask).sum()),
        ("sum_not_mean", lambda s, t, mask: _real_diff(s, t, mask).pow(2).sum(dim=(0, 2, 3))),
        ("shape", lambda s, t, mask: ((s - t) * _keep(mask)).pow(2).sum() / _keep(mask).sum()),
        ("not_finite", lambda s, t, mask: ((s - t) ** 2 * 1e39).mean(dim=(0, 2, 3))),
        ("values", lambda s, t, mask: _real_diff(s, t, mask).abs().sum(dim=(0, 2, 3)) / _keep(mask).sum()),
        ("raises", lambda s, t, mask: (s - t)[mask.bool()]),
    ], passes=[lambda s, t, mask: _real_diff(s, t, mask).pow(2).sum(dim=(0, 2, 3)) / _keep(mask).sum()]),
    "q2": Table("teacher_layer_for", wrong=[
        ("mapping_off_by_one", lambda m, M, N: layer_mapping(M, N)[m] - 1),
        ("convention_rounding", lambda m, M, N: round(m * N / M)),
        ("convention_rounding", lambda m, M, N: m * N // M),
        ("convention_rounding", lambda m, M, N: math.ceil(m * N / M)),
        ("bottom_instead", lambda m, M, N: m),
        ("top_instead", lambda m, M, N: N - M + m if m else 0),
        ("ratio_inverted", lambda m, M, N: m * M // N),
        ("wrong_type", lambda m, M, N: m * N / M),
        ("values", lambda m, M, N: m + 7 if m else 0),
        ("raises", lambda m, M, N: [0, 3, 6, 9, 12][m] if N == 12 and M == 4 else None.bit_length()),
    ], passes=[lambda m, M, N: layer_mapping(M, N)[m], lambda m, M, N: int(m * N / M + 0.5)]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb08, TABLES)


def test_q2_our_runs_mapping():
    assert [nb08.teacher_layer_for(m, 4, 6) for m in range(5)] == [0, 2, 3, 5, 6]
    assert [nb08.teacher_layer_for(m, 4, 12) for m in range(5)] == [0, 3, 6, 9, 12]
