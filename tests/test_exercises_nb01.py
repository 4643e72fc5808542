"""Checkers of notebook 01 (attention): reference and workshop solutions pass, the starter is
`not_attempted`, and each catalogued mistake, written as a learner would, is named by its code."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from tinybert_ref.attention import MultiHeadSelfAttention, scaled_dot_product_attention
from tinybert_ref.exercises import nb01

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions" / "nb01.py"


def _solutions():
    spec = importlib.util.spec_from_file_location("nb01_solutions", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _starter(*args):
    raise NotImplementedError


EXERCISES = [nb01.q1, nb01.q2, nb01.q3]


@pytest.mark.parametrize("exercise", EXERCISES, ids=["q1", "q2", "q3"])
def test_starter_reference_hints(exercise):
    assert exercise.check(_starter).code == "not_attempted"
    assert exercise.check(exercise.reference).code == "correct"
    assert 1 <= len(exercise.hints) <= 3
    assert "def " in exercise.solution()


def test_solutions_pass():
    solutions = _solutions()
    assert nb01.q1.check(solutions.attention_scores).code == "correct"
    assert nb01.q2.check(solutions.masked_attention_probabilities).code == "correct"
    assert nb01.q3.check(solutions.split_heads).code == "correct"


def test_references_agree_with_the_package():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 4, 8, generator=generator) for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    package = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(nb01.attention_scores(q, k), scaled_dot_product_attention(q, k, v).scores)
    torch.testing.assert_close(nb01.masked_attention_probabilities(nb01.attention_scores(q, k), mask),
                               package.probabilities)
    x = torch.randn(2, 4, 12, generator=generator)
    module = MultiHeadSelfAttention(12, 3)
    torch.testing.assert_close(nb01.split_heads(x, 3), module._split_heads(x))


@pytest.mark.parametrize("answer, code", [
    (lambda q, k: q @ k.transpose(-2, -1), "missing_scale"),
    (lambda q, k: q @ k.transpose(-2, -1) / q.shape[-1], "wrong_scale"),
    (lambda q, k: torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1), "softmax_applied"),
    (lambda q, k: k @ q.transpose(-2, -1) / 8 ** 0.5, "queries_keys_swapped"),
    (lambda q, k: q @ k.transpose(-2, -1) / 8 ** 0.5, "hardcoded_scale"),  # right for d_k = 8 only
    (lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(32), "hardcoded_scale"),  # the notebook's d_k
    (lambda q, k: q @ k.transpose(-2, -1) / 2.0, "hardcoded_scale"),  # sqrt(4), the worked example's d_k
    (lambda q, k: q @ k.transpose(-2, -1) / 3.0, "values"),
    (lambda q, k: q @ k.transpose(-2, -1) / q.size(1) ** 0.5, "values"),  # H, not d_k
    (lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1]), "correct"),
    (lambda q, k: q.transpose(-2, -1) @ k, "shape"),
    (lambda q, k: q @ k, "raises"),
])
def test_q1_mistakes(answer, code):
    assert nb01.q1.check(answer).code == code


def test_q1_probes_vary_the_head_size():
    """A scale written as a number passes one probe at most: the probes' d_k differ from each other."""
    probes = [nb01.q1.make_inputs, *nb01.q1.extra_inputs]
    assert [make()[0].shape[-1] for make in probes] == list(nb01.PROBE_HEAD_SIZES)
    assert len(set(nb01.PROBE_HEAD_SIZES)) == len(probes) >= 3


def test_hardcoded_scale_message_names_the_mistake():
    result = nb01.q1.check(lambda q, k: q @ k.transpose(-2, -1) / 8 ** 0.5)
    assert not result.passed and "sqrt(8)" in result.message and "q.size(-1)" in result.message


def _fill(value):
    def answer(scores, mask):
        return scores.masked_fill(mask[:, None, None, :] == 0, value).softmax(-1)
    return answer


@pytest.mark.parametrize("answer, code", [
    (_fill(float("-inf")), "correct"),
    (_fill(-1e4), "correct"),
    (lambda s, m: (s + (1.0 - m[:, None, None, :]) * -10000.0).softmax(-1), "correct"),  # the official code
    (lambda s, m: s.softmax(-1), "mask_ignored"),
    (lambda s, m: s.masked_fill(m[:, None, :, None] == 0, -1e9).softmax(-1), "mask_wrong_axis"),
    (lambda s, m: s.masked_fill(m[:, None, :, None] == 0, float("-inf")).softmax(-1), "not_finite"),
    (lambda s, m: s.masked_fill(m[:, None, None, :] == 1, -1e9).softmax(-1), "mask_inverted"),
    (lambda s, m: s.masked_fill(m[:, None, None, :] == 0, -1e9).softmax(-2), "softmax_wrong_axis"),
    (lambda s, m: (s * m[:, None, None, :]).softmax(-1), "mask_multiplied"),
    (lambda s, m: s.masked_fill(m[:, None, None, :] == 0, -1e9), "values"),
])
def test_q2_mistakes(answer, code):
    assert nb01.q2.check(answer).code == code


@pytest.mark.parametrize("answer, code", [
    (lambda x, h: x.view(x.shape[0], x.shape[1], h, -1), "heads_last"),
    (lambda x, h: x.view(x.shape[0], h, x.shape[1], -1), "reshaped_not_transposed"),
    (lambda x, h: x.view(x.shape[0], x.shape[1], -1, h).permute(0, 3, 1, 2), "head_size_first"),
    (lambda x, h: x.view(x.shape[0], x.shape[1], h, -1).permute(0, 2, 3, 1), "shape"),
    (lambda x, h: x.view(x.shape[0], x.shape[1], h, -1).permute(0, 2, 1, 3).contiguous(), "correct"),
])
def test_q3_mistakes(answer, code):
    assert nb01.q3.check(answer).code == code


def test_heads_last_message_names_the_transpose():
    result = nb01.q3.check(lambda x, h: x.view(x.shape[0], x.shape[1], h, -1))
    assert "(2, 5, 3, 4)" in result.message and not result.passed
