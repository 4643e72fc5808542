"""Checkers for notebook 04 (the distillation losses, TinyBERT Eq. 7, 8 and 10).

    q1  my_attention_loss(student_scores, teacher_scores, mask)   Eq. 7, with the padding neutralised
    q2  my_hidden_loss(student_hidden, teacher_hidden, W_h)       Eq. 8, MSE(H^S W_h, H^T)
    q3  my_prediction_loss(student_logits, teacher_logits, t)     Eq. 10, soft cross-entropy at temperature t

Numbered in the notebook's order: each exercise sits in the section of its equation, before the package's
version is shown (predict, then reveal).

Each wrong variant in `mistakes` is computed on the probe inputs and named when the answer matches
it (STYLE.md section 3). The references are the package's `tinybert_ref.losses` functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import MASK_THRESHOLD, attention_loss, hidden_loss, prediction_loss
from .checker import Mistake, TensorExercise, convention

__all__ = ["q1", "q2", "q3"]

OFFICIAL_MASK = -10000.0  # what the official TinyBERT code adds to the scores of padded keys
FLOAT32_MIN = torch.finfo(torch.float32).min  # what transformers 5.x adds instead


# ---------------------------------------------------------------------------------- q1: Eq. 7
def _scores_probe(mask_value: float, seed: int):
    """(student_scores, teacher_scores, mask): (B, H, L, L) = (2, 12, 8, 8), example 1 padded after 5
    tokens, the additive mask already in the scores as the models return them."""
    generator = torch.Generator().manual_seed(seed)
    batch, heads, length = 2, 12, 8
    teacher = 2.0 * torch.randn(batch, heads, length, length, generator=generator)
    student = 0.5 * torch.randn(batch, heads, length, length, generator=generator)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, 5:] = 0
    additive = (1.0 - mask[:, None, None, :].float()) * mask_value
    return student + additive, teacher + additive, mask


def _official_probe():
    return _scores_probe(OFFICIAL_MASK, seed=4)


def _transformers_probe():
    return _scores_probe(FLOAT32_MIN, seed=5)


def _pairs(mask, shape):
    real = mask != 0
    return (real[:, None, :, None] & real[:, None, None, :]).expand(shape)


def _clipped(scores):
    return torch.where(scores <= MASK_THRESHOLD, torch.zeros_like(scores), scores)


def _neutralised_squares(student, teacher, mask):
    keep = _pairs(mask, student.shape)
    zero = torch.zeros_like(student)
    return (torch.where(keep, _clipped(student), zero) - torch.where(keep, _clipped(teacher), zero)) ** 2


def _softmax_mse(student, teacher, mask, zero_padded_queries):
    squares = (student.softmax(-1) - teacher.softmax(-1)) ** 2
    if zero_padded_queries:
        squares = torch.where(_pairs(mask, squares.shape), squares, torch.zeros_like(squares))
    return squares.mean()


def _clip_only(student, teacher, mask):
    return F.mse_loss(_clipped(student), _clipped(teacher))


q1 = TensorExercise(
    name="attention loss (Eq. 7)",
    hints=[
        "Eq. 7 compares the score matrices A = QK^T/sqrt(d_k) that you are given, head by head, with a mean "
        "squared error. No softmax: TinyBERT distils the scores, not the probabilities.",
        "The padded keys carry a huge negative mask value (-10000 in the official code, float32 min in "
        "transformers 5.x): set every score <= -1e2 to 0 on both sides, and zero the entries whose query or "
        "key is padding: `pair = mask[:, None, :, None] * mask[:, None, None, :]` has shape (B, 1, L, L).",
        "`s = torch.where(student_scores <= -1e2, 0.0, student_scores) * pair`, the same for the teacher, then "
        "`((s - t) ** 2).mean()`: the mean over all B*H*L*L entries (zeroed ones included) equals "
        "(1/h) sum_i MSE(A_i^S, A_i^T).",
    ],
    reference=attention_loss,
    make_inputs=_official_probe,
    extra_inputs=[_transformers_probe],
    describe="a 0-d loss tensor",
    locate=("batch", "head", "query", "key"),
    mistakes=[
        Mistake("softmax_applied", lambda s, t, m: _softmax_mse(s, t, m, True),
                "you compared attention probabilities softmax(A); Eq. 7 compares the scores A = QK^T/sqrt(d_k) "
                "before the softmax (the paper found that they converge faster and work better). Drop the softmax."),
        Mistake("softmax_applied", lambda s, t, m: _softmax_mse(s, t, m, False),
                "you compared attention probabilities softmax(A); Eq. 7 compares the scores A = QK^T/sqrt(d_k) "
                "before the softmax (the paper found that they converge faster and work better). Drop the softmax."),
        Mistake("mask_ignored", lambda s, t, m: F.mse_loss(s, t),
                "the padding was not neutralised: the scores of padded keys (mask value -10000 here) and the rows "
                "of padded queries went into the MSE. Set scores <= -1e2 to 0 on both sides and zero the entries "
                "whose query or key has mask == 0."),
        Mistake("padded_queries_kept", _clip_only,
                "you neutralised the masked keys (the official clip <= -1e2 -> 0), but the rows of padded *queries* "
                "still count (example 1, queries 5-7). Zero the entries whose query is padding too: "
                "mask[:, None, :, None]."),
        Mistake("sum_not_mean", lambda s, t, m: _neutralised_squares(s, t, m).sum(),
                "you summed the squared differences; Eq. 7 uses a mean squared error, averaged over heads: take the "
                "mean over all B*H*L*L entries."),
        Mistake("no_head_average", lambda s, t, m: _neutralised_squares(s, t, m).mean(dim=(0, 2, 3)).sum(),
                "you added up the per-head MSEs; Eq. 7 averages them: L_attn = (1/h) sum_i MSE(A_i^S, A_i^T), so "
                "divide by the h = 12 heads (or take one mean over all entries)."),
        convention("mean_over_real_entries",
                   lambda s, t, m: _neutralised_squares(s, t, m).sum() / _pairs(m, s.shape).sum(),
                   "you averaged over the real (query, key) entries only, a fair reading of Eq. 7. The official code, "
                   "and this package after it, zero the padded entries and take the mean over all B*H*L*L "
                   "entries, so that its losses equal the official ones; use .mean() after zeroing."),
    ],
    success="your Eq. 7 compares pre-softmax scores head by head and neutralises both padded keys and padded "
            "queries, whatever mask value the model used. Try next: run it on the real scores above and compare "
            "with `attention_loss`.",
)


# ---------------------------------------------------------------------------------- q2: Eq. 8
def _hidden_probe():
    """(student_hidden, teacher_hidden, W_h): (B, L, D') = (2, 8, 312), (B, L, D) = (2, 8, 384),
    W_h (D', D) = (312, 384), the TinyBERT4 and MiniLM widths."""
    generator = torch.Generator().manual_seed(20)
    student = torch.randn(2, 8, 312, generator=generator)
    teacher = torch.randn(2, 8, 384, generator=generator)
    projection = 0.05 * torch.randn(312, 384, generator=generator)
    return student, teacher, projection


def reference_hidden_loss(student_hidden, teacher_hidden, w_h):
    """Eq. 8 with W_h given as a (D', D) matrix: the package's `hidden_loss` with the projection x @ W_h."""
    return hidden_loss(student_hidden, teacher_hidden, lambda states: states @ w_h)


q2 = TensorExercise(
    name="hidden-state loss (Eq. 8)",
    hints=[
        "The student is narrower (D' = 312) than the teacher (D = 384). Eq. 8 maps the *student* into the "
        "teacher's space with the learnable W_h before comparing: MSE(H^S W_h, H^T).",
        "W_h has shape (D', D) = (312, 384), so `student_hidden @ W_h` has shape (B, L, 384), like the teacher.",
        "`((student_hidden @ W_h - teacher_hidden) ** 2).mean()`: a mean over all B*L*D entries.",
    ],
    reference=reference_hidden_loss,
    shown_solution=hidden_loss,
    make_inputs=_hidden_probe,
    describe="a 0-d loss tensor",
    locate=("batch", "position", "feature"),
    mistakes=[
        Mistake("projection_on_teacher", lambda s, te, w: F.mse_loss(s, te @ w.T),
                "you projected the teacher down into the student's space (H^T W_h^T); Eq. 8 projects the "
                "*student* up: H^S W_h, shape (B, L, D) = (2, 8, 384), compared with H^T unchanged."),
        Mistake("sum_not_mean", lambda s, te, w: ((s @ w - te) ** 2).sum(),
                "you summed the squared differences; Eq. 8 is a mean squared error over all B*L*D entries."),
        Mistake("sum_over_width", lambda s, te, w: ((s @ w - te) ** 2).sum(-1).mean(),
                "you summed over the D = 384 features and averaged over tokens only; MSE averages over the "
                "features too (a factor D apart)."),
        Mistake("root_mean_square", lambda s, te, w: ((s @ w - te) ** 2).mean().sqrt(),
                "you took the square root (an RMSE); Eq. 8 is the mean squared error itself."),
    ],
    success="your Eq. 8 projects the student's hidden states into the teacher's width with W_h and takes the "
            "MSE. Try next: the embedding loss (Eq. 9) is the same function applied to E = hidden_states[0].",
)


# --------------------------------------------------------------------------------- q3: Eq. 10
PROBE_TEMPERATURE = 2.0


def _logits_probe():
    """(student_logits, teacher_logits, t): (B, C) = (6, 5), the five BBC topics, t = 2 (B differs from
    t^2 = 4 and from C, so that summing over the batch is not mistaken for the t^2 factor)."""
    generator = torch.Generator().manual_seed(10)
    teacher = 3.0 * torch.randn(6, 5, generator=generator)
    student = 1.5 * torch.randn(6, 5, generator=generator)
    return student, teacher, PROBE_TEMPERATURE


def _soft_ce(student, teacher, t, dim=-1):
    return -(F.softmax(teacher / t, dim=dim) * F.log_softmax(student / t, dim=dim)).sum(dim=-1).mean()


def _kl(p_logits, q_logits, t):
    """KL(softmax(p/t) || softmax(q/t)), mean over the batch."""
    p_log = F.log_softmax(p_logits / t, dim=-1)
    return (p_log.exp() * (p_log - F.log_softmax(q_logits / t, dim=-1))).sum(-1).mean()


_T_SQUARED = ("Eq. 10 has no t^2 factor (that factor is Hinton et al.'s gradient rescaling, which TinyBERT's "
              "paper and official code do not use): return the soft cross-entropy itself.")
_REVERSED = ("teacher and student are swapped: in Eq. 10, CE(z^T/t, z^S/t), the teacher's softened "
             "probabilities are the target and the student's log-probabilities are scored: "
             "-sum_c softmax(z^T/t)_c * log_softmax(z^S/t)_c.")

q3 = TensorExercise(
    name="prediction loss (Eq. 10)",
    hints=[
        "Eq. 10 is a cross-entropy between two *soft* distributions: the teacher's softmax(z^T/t) is the target, "
        "the student's log_softmax(z^S/t) is scored. Both logits are divided by the same t.",
        "Softmax over the classes, i.e. the last dimension (dim=-1) of the (B, C) logits; sum over the classes, "
        "then average over the batch. No t^2 factor, no hard labels.",
        "`p_t = F.softmax(teacher_logits / t, dim=-1)`, `log_p_s = F.log_softmax(student_logits / t, dim=-1)`, "
        "then `-(p_t * log_p_s).sum(dim=-1).mean()`.",
    ],
    reference=prediction_loss,
    make_inputs=_logits_probe,
    describe="a 0-d loss tensor",
    mistakes=[
        Mistake("temperature_squared", lambda s, te, t: t ** 2 * _soft_ce(s, te, t), _T_SQUARED),
        Mistake("temperature_squared", lambda s, te, t: t ** 2 * _kl(te, s, t), _T_SQUARED),
        Mistake("temperature_ignored", lambda s, te, t: _soft_ce(s, te, 1.0),
                f"the temperature was not applied (this is the value at t = 1, but the probe uses "
                f"t = {PROBE_TEMPERATURE}): divide both the teacher's and the student's logits by t."),
        Mistake("temperature_ignored", lambda s, te, t: -(F.softmax(te / t, -1) * F.log_softmax(s, -1)).sum(-1).mean(),
                "only the teacher's logits were divided by t: divide the student's logits by the same t."),
        Mistake("temperature_ignored", lambda s, te, t: -(F.softmax(te, -1) * F.log_softmax(s / t, -1)).sum(-1).mean(),
                "only the student's logits were divided by t: divide the teacher's logits by the same t."),
        Mistake("reversed_kl", lambda s, te, t: _soft_ce(te, s, t), _REVERSED),
        Mistake("reversed_kl", lambda s, te, t: _kl(s, te, t), _REVERSED),
        Mistake("kl_instead_of_ce", lambda s, te, t: _kl(te, s, t),
                "you computed KL(p_T || p_S). It has the same gradient as Eq. 10 but a different value: it is the "
                "cross-entropy minus the teacher's entropy. Eq. 10 is the cross-entropy -sum_c p_T,c log p_S,c."),
        Mistake("hard_labels", lambda s, te, t: F.cross_entropy(s / t, te.argmax(-1)),
                "you used the teacher's argmax as a hard label; Eq. 10 keeps the teacher's whole softened "
                "distribution softmax(z^T/t) as the target (that is the point of distillation)."),
        Mistake("hard_labels", lambda s, te, t: F.cross_entropy(s, te.argmax(-1)),
                "you used the teacher's argmax as a hard label; Eq. 10 keeps the teacher's whole softened "
                "distribution softmax(z^T/t) as the target (that is the point of distillation)."),
        Mistake("wrong_softmax_axis", lambda s, te, t: _soft_ce(s, te, t, dim=0),
                "the softmax ran over the batch (dim=0) instead of the classes: use dim=-1 on (B, C) logits."),
        Mistake("sum_not_mean", lambda s, te, t: _soft_ce(s, te, t) * s.shape[0],
                "you summed the per-example losses over the batch; average them (.mean() over B)."),
        convention("mean_over_classes", lambda s, te, t: _soft_ce(s, te, t) / s.shape[-1],
                   "you averaged over the B*C entries, as the official code's `soft_cross_entropy` does; this "
                   "package follows the paper's cross-entropy, which sums over the classes and averages over the "
                   "batch (a factor C = 5 apart)."),
    ],
    success="your Eq. 10 is the soft cross-entropy of the student against the teacher's softened distribution, "
            "at temperature t and without a t^2 factor. Try next: plot softmax(z^T/t) for t = 1, 2, 4.",
)
