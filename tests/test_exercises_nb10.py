"""Checkers of notebook 10 (myths appendix): the harness's table for each exercise, and the closed form
against real models."""

import pytest
import torch
import torch.nn.functional as F
from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb10


def _count(s, bias=1, norm=True, positions=True, pooler=True, ffn=2, attention=4):
    V, P, T, D, Fh, N = (s[k] for k in ("vocab_size", "max_position_embeddings", "type_vocab_size", "hidden_size",
                                          "intermediate_size", "num_hidden_layers"))
    ln = 2 * D if norm else 0
    embeddings = V * D + ((P + T) * D if positions else 0) + ln
    layer = attention * (D * D + bias * D) + ln + D * Fh + bias * Fh + (ffn - 1) * (Fh * D + bias * D) + ln
    return embeddings + N * layer + ((D * D + bias * D) if pooler else 0)


TABLES = {
    "q1": Table("bert_parameters", wrong=[
        ("forgot_biases", lambda s: _count(s, bias=0)),
        ("forgot_layer_norms", lambda s: _count(s, norm=False)),
        ("forgot_position_embeddings", lambda s: _count(s, positions=False)),
        ("forgot_pooler", lambda s: _count(s, pooler=False)),
        ("one_ffn_matrix", lambda s: _count(s, ffn=1)),
        ("forgot_attention_output", lambda s: _count(s, attention=3)),
        ("wrong_type", lambda s: _count(s) / 1e6),
        ("values", lambda s: _count(s) + 1),
        ("raises", lambda s: s["num_layers"]),
    ], passes=[_count]),
    "q2": Table("mse_in_float32", wrong=[
        ("computed_in_bf16", lambda s, t: F.mse_loss(s, t)),
        ("computed_in_bf16", lambda s, t: ((s - t) ** 2).mean()),
        ("computed_in_bf16", lambda s, t: F.mse_loss(s, t).float()),
        ("computed_in_float64", lambda s, t: F.mse_loss(s.double(), t.double())),  # issue 14: was accepted
        ("computed_in_float64", lambda s, t: ((s.double() - t.double()) ** 2).mean()),
        ("subtracted_in_bf16", lambda s, t: ((s - t).float() ** 2).mean()),
        ("sum_not_mean", lambda s, t: ((s.float() - t.float()) ** 2).sum()),
        ("root_mean_square", lambda s, t: F.mse_loss(s.float(), t.float()).sqrt()),
        ("dtype", lambda s, t: F.mse_loss(s.float(), t.float()).half()),
        ("shape", lambda s, t: ((s.float() - t.float()) ** 2).mean(-1)),
        ("wrong_type", lambda s, t: F.mse_loss(s.float(), t.float()).item()),
        ("values", lambda s, t: (s.float() - t.float()).abs().mean()),
        ("raises", lambda s, t: s @ t),
    ], passes=[lambda s, t: F.mse_loss(s.float(), t.float())]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb10, TABLES)


@pytest.mark.parametrize("shape", [nb10.TINYBERT4, nb10.MINILM, nb10.SMALL], ids=["tinybert4", "minilm", "small"])
def test_reference_counts_the_real_model(shape):
    """The closed form equals the parameters of a real `transformers` BertModel of that shape."""
    from transformers import BertConfig, BertModel

    from tinybert_ref.models import count_parameters

    assert nb10.bert_parameters(shape) == count_parameters(BertModel(BertConfig(num_attention_heads=12, **shape)))


def test_q2_probe_separates_bf16_from_float32():
    """The probe is chosen so that a bf16 loss differs from the float32 one beyond the tolerance."""
    student, teacher = nb10._q2_inputs(0)()
    assert student.dtype == torch.bfloat16
    exact, rounded = nb10.mse_in_float32(student, teacher), F.mse_loss(student, teacher).float()
    assert not torch.allclose(exact, rounded, atol=nb10.q2.atol, rtol=nb10.q2.rtol)
