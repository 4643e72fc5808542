"""The layer-wise objective (Eq. 6, 11): totals, switches, projections, depth and head checks."""

from types import SimpleNamespace

import pytest
import torch

from tinybert_ref.losses import attention_loss, hidden_loss, prediction_loss
from tinybert_ref.mapping import layer_mapping
from tinybert_ref.objective import TransformerDistillationLoss, prediction_objective

BATCH, LENGTH = 2, 5
STUDENT_WIDTH, TEACHER_WIDTH = 8, 12


def _internals(layers, width, heads=2, seed=0, pad=1):
    """Random Internals-like object: N+1 hidden states (B, L, D), N masked scores (B, H, L, L)."""
    generator = torch.Generator().manual_seed(seed)
    hidden = tuple(torch.randn(BATCH, LENGTH, width, generator=generator) for _ in range(layers + 1))
    additive = torch.zeros(BATCH, 1, 1, LENGTH)
    additive[0, ..., LENGTH - pad:] = torch.finfo(torch.float32).min
    scores = tuple(torch.randn(BATCH, heads, LENGTH, LENGTH, generator=generator) + additive for _ in range(layers))
    return SimpleNamespace(hidden_states=hidden, attention_scores=scores, logits=None)


def _mask(pad=1):
    mask = torch.ones(BATCH, LENGTH, dtype=torch.long)
    mask[0, LENGTH - pad:] = 0
    return mask


def _setup(**kwargs):
    torch.manual_seed(0)
    loss = TransformerDistillationLoss(STUDENT_WIDTH, TEACHER_WIDTH, layer_mapping(2, 4), **kwargs)
    return loss, _internals(2, STUDENT_WIDTH, seed=1), _internals(4, TEACHER_WIDTH, seed=2)


def test_total_is_sum_of_parts_and_parts_are_sums_of_layers():
    loss, student, teacher = _setup()
    out = loss(student, teacher, _mask())
    assert set(out) == {"total", "embedding", "attention", "hidden",
                        "attention/1", "attention/2", "hidden/1", "hidden/2"}
    assert out["attention"].item() == pytest.approx((out["attention/1"] + out["attention/2"]).item())
    assert out["hidden"].item() == pytest.approx((out["hidden/1"] + out["hidden/2"]).item())
    assert out["total"].item() == pytest.approx((out["embedding"] + out["attention"] + out["hidden"]).item())


def test_layer_terms_use_the_mapped_teacher_layers():
    loss, student, teacher = _setup()
    out = loss(student, teacher, _mask())
    # mapping [0, 2, 4]: student layer 2 learns from teacher layer 4 (scores index 3, hidden index 4)
    expected_attention = attention_loss(student.attention_scores[1], teacher.attention_scores[3], _mask())
    expected_hidden = hidden_loss(student.hidden_states[2], teacher.hidden_states[4], loss.projection)
    assert out["attention/2"].item() == pytest.approx(expected_attention.item())
    assert out["hidden/2"].item() == pytest.approx(expected_hidden.item())


@pytest.mark.parametrize("switch, removed", [
    ("use_embedding", {"embedding"}),
    ("use_attention", {"attention", "attention/1", "attention/2"}),
    ("use_hidden", {"hidden", "hidden/1", "hidden/2"}),
])
def test_switching_a_part_off_removes_it(switch, removed):
    full, student, teacher = _setup()
    reduced, _, _ = _setup(**{switch: False})
    full_out, reduced_out = full(student, teacher, _mask()), reduced(student, teacher, _mask())
    assert set(full_out) - set(reduced_out) == removed
    removed_total = sum(full_out[key] for key in removed if "/" not in key)
    assert reduced_out["total"].item() == pytest.approx((full_out["total"] - removed_total).item(), rel=1e-6)


def test_all_parts_off_errors():
    with pytest.raises(ValueError, match="all three layer losses are switched off"):
        TransformerDistillationLoss(8, 12, [0, 2, 4], use_embedding=False, use_attention=False, use_hidden=False)


def test_gradients_reach_shared_projection_and_student():
    loss, student, teacher = _setup()
    for tensor in student.hidden_states + student.attention_scores:
        tensor.requires_grad_(True)
    loss(student, teacher, _mask())["total"].backward()
    assert [name for name, _ in loss.named_parameters()] == ["projection.weight", "projection.bias"]
    assert loss.projection.weight.grad.abs().sum() > 0
    assert all(t.grad.abs().sum() > 0 for t in student.hidden_states + student.attention_scores)


def test_separate_projections_each_get_gradients():
    loss, student, teacher = _setup(shared_projection=False)
    assert loss.projection_for("embedding") is not loss.projection_for("hidden")
    loss(student, teacher, _mask())["total"].backward()
    for part in ("embedding", "hidden"):
        assert loss.projection_for(part).weight.grad.abs().sum() > 0
    assert sorted(loss.state_dict()) == ["embedding_projection.bias", "embedding_projection.weight",
                                         "hidden_projection.bias", "hidden_projection.weight"]


def test_attention_only_has_no_projection():
    loss, student, teacher = _setup(use_embedding=False, use_hidden=False)
    assert list(loss.parameters()) == []
    assert set(loss(student, teacher, _mask())) == {"total", "attention", "attention/1", "attention/2"}


def test_mapping_of_wrong_length_errors():
    loss = TransformerDistillationLoss(STUDENT_WIDTH, TEACHER_WIDTH, layer_mapping(3, 6))
    with pytest.raises(ValueError, match=r"student with 3 layers but the student has 2.*layer_mapping\(2, 4"):
        loss(_internals(2, STUDENT_WIDTH), _internals(4, TEACHER_WIDTH), _mask())


def test_mapping_beyond_teacher_depth_errors():
    loss = TransformerDistillationLoss(STUDENT_WIDTH, TEACHER_WIDTH, [0, 3, 6])
    with pytest.raises(ValueError, match="uses teacher layer 6 but the teacher has 4 layers"):
        loss(_internals(2, STUDENT_WIDTH), _internals(4, TEACHER_WIDTH), _mask())


def test_bad_mapping_at_construction_errors():
    with pytest.raises(ValueError, match="g\\(0\\) = 0"):
        TransformerDistillationLoss(8, 12, [2, 4])


def test_head_count_mismatch_names_both_counts():
    loss = TransformerDistillationLoss(STUDENT_WIDTH, TEACHER_WIDTH, [0, 2, 4])
    student, teacher = _internals(2, STUDENT_WIDTH, heads=3), _internals(4, TEACHER_WIDTH, heads=2)
    with pytest.raises(ValueError, match="student has 3 heads and the teacher 2.*num_attention_heads=2"):
        loss(student, teacher, _mask())
    # without attention transfer the head counts do not matter
    no_attention = TransformerDistillationLoss(STUDENT_WIDTH, TEACHER_WIDTH, [0, 2, 4], use_attention=False)
    assert torch.isfinite(no_attention(student, teacher, _mask())["total"])


def test_width_mismatch_errors():
    loss = TransformerDistillationLoss(16, TEACHER_WIDTH, [0, 2, 4])
    with pytest.raises(ValueError, match=r"student width 16 .* TransformerDistillationLoss\(8, 12, mapping\)"):
        loss(_internals(2, STUDENT_WIDTH), _internals(4, TEACHER_WIDTH), _mask())


def test_autocast_keeps_the_objective_in_float32():
    loss, student, teacher = _setup()
    reference = loss(student, teacher, _mask())["total"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss(student, teacher, _mask())["total"]
    assert mixed.dtype == torch.float32 and mixed.item() == pytest.approx(reference.item(), rel=1e-6)


def test_prediction_objective_is_the_prediction_loss():
    assert prediction_objective is prediction_loss
