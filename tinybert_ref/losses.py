"""The four TinyBERT distillation losses, one mapped layer pair at a time (Eq. 7-10).

    Eq. 7  L_attn = (1/h) sum_i MSE(A_i^S, A_i^T)     A: scores QK^T/sqrt(d_k), before softmax
    Eq. 8  L_hidn = MSE(H^S W_h, H^T)                 W_h: learnable (d', d) projection
    Eq. 9  L_embd = MSE(E^S W_e, E^T)                 W_e: learnable (d', d) projection
    Eq. 10 L_pred = CE(z^T / t, z^S / t)              soft cross-entropy at temperature t

Taught in notebook 04. Every loss is computed in float32 whatever the input dtype (autocast is
switched off inside): attention scores carry mask values near float32 min that overflow in half
precision, and small squared differences underflow in bf16. Shapes are (B, H, L, L) for scores,
(B, L, D') and (B, L, D) for student and teacher states, (B, C) for logits.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MASK_THRESHOLD", "attention_loss", "embedding_loss", "hidden_loss", "prediction_loss"]

# The official code zeroes every score <= -1e2: that catches its own -10000 mask and the float32-min
# mask of transformers 5.x alike, while real scores of a trained BERT stay far above it.
MASK_THRESHOLD = -1e2


def attention_loss(student_scores: torch.Tensor, teacher_scores: torch.Tensor,
                   attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 7 for one mapped layer pair: mean over heads of the per-head MSE of the score matrices.

    student_scores, teacher_scores: (B, H, L, L) pre-softmax scores, possibly with the additive
    padding mask already added; attention_mask: optional (B, L), 1 = real token.

    As in the official code, scores <= -1e2 (masked keys) become 0 on both sides, and the mean runs
    over all B*H*L*L entries, zeroed ones included. With equal-sized heads that mean equals
    (1/h) sum_i MSE(A_i^S, A_i^T). When attention_mask is given, entries whose query or key is
    padding are zeroed too, so the loss no longer depends on how (or whether) the scores were masked.
    Raises ValueError naming both shapes when they differ.
    """
    _check_same_shape("attention scores", student_scores, teacher_scores, "(B, H, L, L)")
    if student_scores.dim() != 4 or student_scores.shape[-1] != student_scores.shape[-2]:
        raise ValueError(f"attention scores must be (B, H, L, L), got {tuple(student_scores.shape)}; pass one "
                         "layer's scores, e.g. internals.attention_scores[m - 1]")
    with _float32(student_scores):
        student, teacher = student_scores.float(), teacher_scores.float()
        student = torch.where(student <= MASK_THRESHOLD, torch.zeros_like(student), student)
        teacher = torch.where(teacher <= MASK_THRESHOLD, torch.zeros_like(teacher), teacher)
        if attention_mask is not None:
            keep = _pair_mask(attention_mask.to(student.device), student.shape)
            student = torch.where(keep, student, torch.zeros_like(student))
            teacher = torch.where(keep, teacher, torch.zeros_like(teacher))
        return F.mse_loss(student, teacher)


def embedding_loss(student_embeddings: torch.Tensor, teacher_embeddings: torch.Tensor,
                   projection: nn.Module | None) -> torch.Tensor:
    """Eq. 9: MSE(E^S W_e, E^T), mean over all B*L*D entries.

    student_embeddings: (B, L, D'); teacher_embeddings: (B, L, D); projection: the learnable W_e,
    an nn.Linear(D', D) (or any callable (B, L, D') -> (B, L, D); None when D' = D and no projection
    is wanted). Raises ValueError naming both shapes when they do not fit.
    """
    return _projected_mse("embedding", student_embeddings, teacher_embeddings, projection)


def hidden_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor,
                projection: nn.Module | None) -> torch.Tensor:
    """Eq. 8: MSE(H^S W_h, H^T) for one mapped layer pair, mean over all B*L*D entries.

    student_hidden: (B, L, D'); teacher_hidden: (B, L, D); projection: the learnable W_h,
    nn.Linear(D', D). Raises ValueError naming both shapes when they do not fit.
    """
    return _projected_mse("hidden-state", student_hidden, teacher_hidden, projection)


def prediction_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                    temperature: float = 1.0) -> torch.Tensor:
    """Eq. 10: soft cross-entropy -sum_c softmax(z^T/t)_c * log_softmax(z^S/t)_c, mean over the batch.

    student_logits, teacher_logits: (B, C) (or (..., C): the mean runs over every leading position).
    There is no t^2 factor, as in the paper and the official code (the paper uses t = 1).
    The official `soft_cross_entropy` ends in `.mean()` over B*C entries, i.e. it also divides by the
    number of classes C; we keep the paper's cross-entropy (mean over the batch only), which differs
    by that constant factor. Regression (C = 1) uses MSE(z^S, z^T) without temperature: the official
    code uses MSE there too (against the gold labels, which this function does not see).
    """
    _check_temperature(temperature)
    _check_same_shape("logits", student_logits, teacher_logits, "(B, C)")
    if student_logits.dim() < 1 or student_logits.shape[-1] < 1:
        raise ValueError(f"logits need a class dimension last, got {tuple(student_logits.shape)}; pass (B, C)")
    with _float32(student_logits):
        student, teacher = student_logits.float(), teacher_logits.float()
        if student.shape[-1] == 1:
            return F.mse_loss(student, teacher)
        teacher_probs = F.softmax(teacher / temperature, dim=-1)
        student_log_probs = F.log_softmax(student / temperature, dim=-1)
        return -(teacher_probs * student_log_probs).sum(dim=-1).mean()


def _projected_mse(what: str, student: torch.Tensor, teacher: torch.Tensor, projection) -> torch.Tensor:
    if student.dim() != 3 or teacher.dim() != 3 or student.shape[:2] != teacher.shape[:2]:
        raise ValueError(f"{what} loss needs student (B, L, D') and teacher (B, L, D) with the same B and L, got "
                         f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)}; pass the same batch "
                         "through both models")
    expected_in = getattr(projection, "in_features", None)
    if expected_in is not None and expected_in != student.shape[-1]:
        raise ValueError(f"{what} loss: the projection expects width {expected_in} but the student states "
                         f"{tuple(student.shape)} have width {student.shape[-1]}; build it as nn.Linear(D', D) = "
                         f"nn.Linear({student.shape[-1]}, {teacher.shape[-1]})")
    with _float32(student):
        projected = _project(student.float(), projection)
        if projected.shape != teacher.shape:
            raise ValueError(f"{what} loss: the projected student states {tuple(projected.shape)} do not match the "
                             f"teacher states {tuple(teacher.shape)} (student {tuple(student.shape)}); project "
                             f"with nn.Linear({student.shape[-1]}, {teacher.shape[-1]})")
        return F.mse_loss(projected, teacher.float())


def _project(states: torch.Tensor, projection) -> torch.Tensor:
    if projection is None:
        return states
    if isinstance(projection, nn.Linear):
        # Use float32 copies of the weights so a bf16-cast projection still computes in float32.
        bias = None if projection.bias is None else projection.bias.float()
        return F.linear(states, projection.weight.float(), bias)
    return projection(states)


def _pair_mask(attention_mask: torch.Tensor, scores_shape: torch.Size) -> torch.Tensor:
    """(B, 1, L, L) bool mask: True where both the query and the key are real tokens."""
    batch, _, length, _ = scores_shape
    if tuple(attention_mask.shape) != (batch, length):
        raise ValueError(f"attention_mask must be (B, L) = ({batch}, {length}) to match the scores "
                         f"{tuple(scores_shape)}, got {tuple(attention_mask.shape)}; pass the tokenizer's mask")
    real = attention_mask != 0
    return real[:, None, :, None] & real[:, None, None, :]


def _check_same_shape(what: str, student: torch.Tensor, teacher: torch.Tensor, layout: str) -> None:
    if student.shape != teacher.shape:
        raise ValueError(f"student and teacher {what} must have the same shape {layout}, got student "
                         f"{tuple(student.shape)} and teacher {tuple(teacher.shape)}; check the layer mapping "
                         "and that both models see the same batch")


def _check_temperature(temperature) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}; "
                         "the paper uses t = 1")
    if temperature == float("inf"):
        raise ValueError("temperature must be finite, got inf; the paper uses t = 1")


def _float32(tensor: torch.Tensor):
    """Switch autocast off on the tensor's device, so the loss really runs in float32 inside a
    mixed-precision forward (accelerate wraps the whole objective in autocast)."""
    try:
        return torch.autocast(tensor.device.type, enabled=False)
    except RuntimeError:  # a device type autocast does not know (e.g. meta): nothing to switch off
        return contextlib.nullcontext()
