"""Checkers of notebook 10 (myths appendix): reference and workshop solutions pass, the starter is
`not_attempted`, and each catalogued mistake, written as a learner would, is named by its code."""

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tinybert_ref.exercises import nb10

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions" / "nb10.py"


def _solutions():
    spec = importlib.util.spec_from_file_location("nb10_solutions", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _starter(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", [nb10.q1, nb10.q2], ids=["q1", "q2"])
def test_starter_reference_hints(exercise):
    assert exercise.check(_starter).code == "not_attempted"
    assert exercise.check(exercise.reference).code == "correct"
    assert 1 <= len(exercise.hints) <= 3
    assert exercise.solution().startswith("def ")


def test_solutions_pass():
    solutions = _solutions()
    assert nb10.q1.check(solutions.bert_parameters).code == "correct"
    assert nb10.q2.check(solutions.mse_in_float32).code == "correct"


@pytest.mark.parametrize("shape", [nb10.TINYBERT4, nb10.MINILM, nb10.SMALL], ids=["tinybert4", "minilm", "small"])
def test_reference_counts_the_real_model(shape):
    """The closed form equals the parameters of a real `transformers` BertModel of that shape."""
    from transformers import BertConfig, BertModel

    from tinybert_ref.models import count_parameters

    assert nb10.bert_parameters(shape) == count_parameters(BertModel(BertConfig(num_attention_heads=12, **shape)))


def _count(s, bias=1, norm=True, positions=True, pooler=True, ffn=2, attention=4):
    V, P, T, D, Fh, N = (s[k] for k in ("vocab_size", "max_position_embeddings", "type_vocab_size", "hidden_size",
                                          "intermediate_size", "num_hidden_layers"))
    ln = 2 * D if norm else 0
    embeddings = V * D + ((P + T) * D if positions else 0) + ln
    layer = attention * (D * D + bias * D) + ln + D * Fh + bias * Fh + (ffn - 1) * (Fh * D + bias * D) + ln
    return embeddings + N * layer + ((D * D + bias * D) if pooler else 0)


@pytest.mark.parametrize("answer, code", [
    (lambda s: _count(s), "correct"),
    (lambda s: _count(s, bias=0), "forgot_biases"),
    (lambda s: _count(s, norm=False), "forgot_layer_norms"),
    (lambda s: _count(s, positions=False), "forgot_position_embeddings"),
    (lambda s: _count(s, pooler=False), "forgot_pooler"),
    (lambda s: _count(s, ffn=1), "one_ffn_matrix"),
    (lambda s: _count(s, attention=3), "forgot_attention_output"),
    (lambda s: _count(s) / 1e6, "wrong_type"),
    (lambda s: _count(s) + 1, "values"),
    (lambda s: s["num_layers"], "raises"),
])
def test_q1_mistakes(answer, code):
    assert nb10.q1.check(answer).code == code


@pytest.mark.parametrize("answer, code", [
    (lambda s, t: F.mse_loss(s.float(), t.float()), "correct"),
    (lambda s, t: F.mse_loss(s, t), "computed_in_bf16"),
    (lambda s, t: ((s - t) ** 2).mean(), "computed_in_bf16"),
    (lambda s, t: ((s - t).float() ** 2).mean(), "subtracted_in_bf16"),
    (lambda s, t: ((s.float() - t.float()) ** 2).sum(), "sum_not_mean"),
    (lambda s, t: F.mse_loss(s.float(), t.float()).sqrt(), "root_mean_square"),
    (lambda s, t: ((s.float() - t.float()) ** 2).mean(-1), "shape"),
    (lambda s, t: F.mse_loss(s.float(), t.float()).item(), "wrong_type"),
    (lambda s, t: (s.float() - t.float()).abs().mean(), "values"),
    (lambda s, t: s @ t, "raises"),
])
def test_q2_mistakes(answer, code):
    assert nb10.q2.check(answer).code == code


def test_q2_probe_separates_bf16_from_float32():
    """The probe is chosen so that a bf16 loss differs from the float32 one beyond the tolerance."""
    student, teacher = nb10._q2_inputs(0)()
    assert student.dtype == torch.bfloat16
    exact, rounded = nb10.mse_in_float32(student, teacher), F.mse_loss(student, teacher).float()
    assert not torch.allclose(exact, rounded, atol=nb10.q2.atol, rtol=nb10.q2.rtol)
