"""Workshop solutions for notebook 04 (the distillation losses). Each passes `tinybert_ref.exercises.nb04`.

Written the way a participant would, from the equations, not by calling the package.
"""

import torch
import torch.nn.functional as F


def my_attention_loss(student_scores, teacher_scores, mask):
    """Eq. 7: (1/h) sum_i MSE(A_i^S, A_i^T) on the pre-softmax scores, padding neutralised.

    student_scores, teacher_scores: (B, H, L, L); mask: (B, L), 1 = real token.
    """
    pair = (mask[:, None, :, None] * mask[:, None, None, :]).to(student_scores.dtype)  # (B, 1, L, L)
    student = torch.where(student_scores <= -1e2, 0.0, student_scores) * pair
    teacher = torch.where(teacher_scores <= -1e2, 0.0, teacher_scores) * pair
    return ((student - teacher) ** 2).mean()  # the mean over B*H*L*L = the mean over heads of per-head MSEs


def my_hidden_loss(student_hidden, teacher_hidden, w_h):
    """Eq. 8: MSE(H^S W_h, H^T); student (B, L, D'), teacher (B, L, D), W_h (D', D)."""
    return ((student_hidden @ w_h - teacher_hidden) ** 2).mean()


def my_prediction_loss(student_logits, teacher_logits, t):
    """Eq. 10: CE(z^T/t, z^S/t), summed over the classes, averaged over the batch; no t^2."""
    teacher_probs = F.softmax(teacher_logits / t, dim=-1)
    student_log_probs = F.log_softmax(student_logits / t, dim=-1)
    return -(teacher_probs * student_log_probs).sum(dim=-1).mean()
