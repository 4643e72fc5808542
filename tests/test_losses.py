"""The four distillation losses (Eq. 7-10): hand-computed values, masking, gradients, dtypes, errors."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tinybert_ref.losses import attention_loss, embedding_loss, hidden_loss, prediction_loss

FLOAT32_MIN = torch.finfo(torch.float32).min


def _linear(weight, bias):
    projection = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        projection.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        projection.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return projection


def _masked_scores(batch=2, heads=3, length=5, padded=2, mask_value=FLOAT32_MIN, seed=0):
    """Random scores (B, H, L, L) whose last `padded` keys of sample 0 carry the additive mask."""
    generator = torch.Generator().manual_seed(seed)
    student = torch.randn(batch, heads, length, length, generator=generator)
    teacher = torch.randn(batch, heads, length, length, generator=generator)
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    attention_mask[0, length - padded:] = 0
    additive = (1 - attention_mask[:, None, None, :].float()) * mask_value
    return student + additive, teacher + additive, attention_mask


# ---- Eq. 7: attention ---------------------------------------------------------------------------

def test_attention_loss_by_hand():
    student = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    teacher = torch.tensor([[[[0.0, 2.0], [1.0, 5.0]]]])
    # squared differences 1, 0, 4, 1 -> mean 6/4
    assert attention_loss(student, teacher).item() == pytest.approx(1.5)


def test_attention_loss_neutralises_masked_keys_by_hand():
    student = torch.tensor([[[[1.0, -10000.0], [3.0, -10000.0]]]])
    teacher = torch.tensor([[[[0.0, FLOAT32_MIN], [1.0, FLOAT32_MIN]]]])
    # masked entries become 0 on both sides; the mean still runs over all 4 entries: (1 + 4) / 4
    assert attention_loss(student, teacher).item() == pytest.approx(1.25)
    # with attention_mask, the padded query row goes too: only (q0, k0) is left, 1 / 4
    mask = torch.tensor([[1, 0]])
    assert attention_loss(student, teacher, mask).item() == pytest.approx(0.25)


def test_attention_loss_is_mean_over_heads_of_per_head_mse():
    student, teacher, _ = _masked_scores(mask_value=0.0)
    per_head = [F.mse_loss(student[:, h], teacher[:, h]) for h in range(student.shape[1])]
    assert attention_loss(student, teacher).item() == pytest.approx(torch.stack(per_head).mean().item(), rel=1e-6)
    assert attention_loss(student, teacher).item() == pytest.approx(F.mse_loss(student, teacher).item(), rel=1e-6)


def test_minus_1e4_and_float32_min_masks_give_the_same_loss():
    official = attention_loss(*_masked_scores(mask_value=-10000.0)[:2])
    transformers_5 = attention_loss(*_masked_scores(mask_value=FLOAT32_MIN)[:2])
    assert torch.isfinite(transformers_5)
    assert official.item() == pytest.approx(transformers_5.item(), rel=1e-6)


def test_values_at_padded_positions_do_not_change_the_loss():
    student, teacher, attention_mask = _masked_scores()
    reference = attention_loss(student, teacher, attention_mask)
    changed_student, changed_teacher = student.clone(), teacher.clone()
    # padded keys: any masked value; padded queries (rows of sample 0): any value at all
    changed_student[0, :, :, -2:] = -1e9
    changed_teacher[0, :, -2:, :] = torch.randn(3, 2, 5) * 100
    assert attention_loss(changed_student, changed_teacher, attention_mask).item() == pytest.approx(reference.item())


def test_loss_with_mask_does_not_depend_on_mask_encoding():
    masked_student, masked_teacher, attention_mask = _masked_scores(mask_value=FLOAT32_MIN)
    plain_student, plain_teacher, _ = _masked_scores(mask_value=0.0)  # same values, no additive mask
    with_additive = attention_loss(masked_student, masked_teacher, attention_mask)
    without_additive = attention_loss(plain_student, plain_teacher, attention_mask)
    assert with_additive.item() == pytest.approx(without_additive.item(), rel=1e-6)


def test_attention_loss_gradient_reaches_student_only_at_real_positions():
    student, teacher, attention_mask = _masked_scores()
    student.requires_grad_(True)
    attention_loss(student, teacher, attention_mask).backward()
    assert student.grad.abs().sum() > 0
    assert torch.all(student.grad[0, :, :, -2:] == 0) and torch.all(student.grad[0, :, -2:, :] == 0)
    assert torch.isfinite(student.grad).all()


def test_attention_loss_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 12, 8, 8\).*\(2, 8, 8, 12\)"):
        attention_loss(torch.zeros(2, 12, 8, 8), torch.zeros(2, 8, 8, 12))
    with pytest.raises(ValueError, match=r"\(B, H, L, L\)"):
        attention_loss(torch.zeros(2, 8, 8), torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match=r"attention_mask must be \(B, L\) = \(2, 8\)"):
        attention_loss(torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 8, 8), torch.ones(2, 7))


# ---- Eq. 8 and 9: hidden states and embeddings ------------------------------------------------------

def test_embedding_loss_by_hand():
    projection = _linear([[1.0], [3.0]], [0.0, 1.0])
    student = torch.tensor([[[2.0]]])           # (1, 1, 1) -> projected [2, 7]
    teacher = torch.tensor([[[1.0, 7.0]]])      # differences 1, 0 -> mean 1/2
    assert embedding_loss(student, teacher, projection).item() == pytest.approx(0.5)
    assert hidden_loss(student, teacher, projection).item() == pytest.approx(0.5)


def test_projected_losses_match_mse_of_the_projection():
    torch.manual_seed(0)
    projection = nn.Linear(6, 10)
    student, teacher = torch.randn(2, 5, 6), torch.randn(2, 5, 10)
    expected = F.mse_loss(projection(student), teacher)
    assert hidden_loss(student, teacher, projection).item() == pytest.approx(expected.item(), rel=1e-6)
    assert embedding_loss(teacher, teacher, None).item() == 0.0


@pytest.mark.parametrize("loss", [embedding_loss, hidden_loss])
def test_gradients_reach_projection_and_student(loss):
    torch.manual_seed(0)
    projection = nn.Linear(6, 10)
    student = torch.randn(2, 5, 6, requires_grad=True)
    loss(student, torch.randn(2, 5, 10), projection).backward()
    assert projection.weight.grad.abs().sum() > 0 and projection.bias.grad.abs().sum() > 0
    assert student.grad.abs().sum() > 0


@pytest.mark.parametrize("loss", [embedding_loss, hidden_loss])
def test_projected_loss_shape_errors(loss):
    with pytest.raises(ValueError, match=r"student \(2, 5, 6\) and teacher \(2, 4, 10\)"):
        loss(torch.zeros(2, 5, 6), torch.zeros(2, 4, 10), nn.Linear(6, 10))
    with pytest.raises(ValueError, match=r"projection expects width 8.*nn.Linear\(6, 10\)"):
        loss(torch.zeros(2, 5, 6), torch.zeros(2, 5, 10), nn.Linear(8, 10))
    with pytest.raises(ValueError, match=r"\(2, 5, 12\) do not match the teacher states \(2, 5, 10\)"):
        loss(torch.zeros(2, 5, 6), torch.zeros(2, 5, 10), nn.Linear(6, 12))


# ---- Eq. 10: prediction ------------------------------------------------------------------------------

def test_prediction_loss_by_hand():
    student = torch.tensor([[1.0, 0.0]])
    teacher = torch.tensor([[0.0, 0.0]])         # uniform teacher: CE = log(1 + e^(1/t)) - 1/(2t)
    assert prediction_loss(student, teacher).item() == pytest.approx(math.log(1 + math.e) - 0.5, rel=1e-6)
    at_t2 = prediction_loss(student, teacher, temperature=2.0).item()
    assert at_t2 == pytest.approx(math.log(1 + math.exp(0.5)) - 0.25, rel=1e-6)   # no t^2 = 4 factor
    assert at_t2 != pytest.approx(prediction_loss(student, teacher).item())


def test_prediction_loss_is_soft_cross_entropy_mean_over_batch():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 5), torch.randn(4, 5)
    per_example = -(teacher.softmax(-1) * student.log_softmax(-1)).sum(-1)
    assert prediction_loss(student, teacher).item() == pytest.approx(per_example.mean().item(), rel=1e-6)
    # with one-hot teacher probabilities it is the ordinary cross-entropy
    hard = F.one_hot(torch.tensor([0, 2, 1, 4]), 5).float() * 1e4
    expected = F.cross_entropy(student, torch.tensor([0, 2, 1, 4]))
    assert prediction_loss(student, hard).item() == pytest.approx(expected.item(), rel=1e-5)


def test_prediction_loss_regression_uses_mse():
    student, teacher = torch.tensor([[1.0], [2.0]]), torch.tensor([[0.0], [4.0]])
    assert prediction_loss(student, teacher).item() == pytest.approx(2.5)
    assert prediction_loss(student, teacher, temperature=3.0).item() == pytest.approx(2.5)


def test_prediction_loss_gradient_and_errors():
    student = torch.randn(3, 4, requires_grad=True)
    prediction_loss(student, torch.randn(3, 4)).backward()
    assert student.grad.abs().sum() > 0
    for bad in (0, -1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match="temperature"):
            prediction_loss(torch.zeros(2, 3), torch.zeros(2, 3), temperature=bad)
    with pytest.raises(ValueError, match=r"student \(2, 3\) and teacher \(2, 4\)"):
        prediction_loss(torch.zeros(2, 3), torch.zeros(2, 4))


# ---- float32 everywhere -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_scores_give_finite_float32_loss(dtype):
    student, teacher, attention_mask = _masked_scores(mask_value=FLOAT32_MIN)
    reference = attention_loss(student, teacher)
    low = attention_loss(student.to(dtype), teacher.to(dtype))   # the mask becomes -inf in both dtypes
    assert low.dtype == torch.float32 and torch.isfinite(low)
    assert low.item() == pytest.approx(reference.item(), rel=2e-2)
    assert attention_loss(student.to(dtype), teacher.to(dtype), attention_mask).item() == pytest.approx(
        attention_loss(student, teacher, attention_mask).item(), rel=2e-2)


def test_bf16_inputs_and_autocast_compute_in_float32():
    torch.manual_seed(0)
    projection = nn.Linear(6, 10)
    student, teacher = torch.randn(2, 5, 6), torch.randn(2, 5, 10)
    reference = hidden_loss(student, teacher, projection)
    low = hidden_loss(student.bfloat16(), teacher.bfloat16(), copy.deepcopy(projection).bfloat16())
    assert low.dtype == torch.float32 and low.item() == pytest.approx(reference.item(), rel=2e-2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert projection(student).dtype == torch.bfloat16   # autocast is really on
        in_autocast = hidden_loss(student, teacher, projection)
        logits_loss = prediction_loss(student[:, 0], student[:, 1])
    assert in_autocast.dtype == torch.float32 and logits_loss.dtype == torch.float32
    assert in_autocast.item() == pytest.approx(reference.item(), rel=1e-6)
