"""Checkers for notebook 08 (attention transfer): q1 the per-head MSE of attention scores over real
tokens only, q2 which teacher layer g(m) a student layer is compared with (uniform mapping, Eq. 6).
"""

from __future__ import annotations

import math

import torch

from ..mapping import layer_mapping, uniform_mapping
from ..snapshots import per_head_mse
from .checker import Mistake, TensorExercise, ValueExercise, convention, expect_type

__all__ = ["q1", "q2", "teacher_layer_for"]

MASKED = torch.finfo(torch.float32).min  # what transformers 5 adds to the scores of padded keys


# --------------------------------------------------------------------------- q1: per-head MSE without padding
def _q1_inputs(lengths: tuple[int, ...], seed: int):
    """Student and teacher scores (B, H, L, L) = (3, 4, 7, 7) with padded keys masked as in a real
    forward, and the (B, L) mask; padded query rows keep real-looking values, as they do in BERT."""
    def make():
        generator = torch.Generator().manual_seed(seed)
        batch, heads, length = len(lengths), 4, max(lengths)
        mask = torch.zeros(batch, length, dtype=torch.long)
        for b, n in enumerate(lengths):
            mask[b, :n] = 1
        additive = torch.where(mask[:, None, None, :] == 1, 0.0, MASKED)
        teacher = 2.0 * torch.randn(batch, heads, length, length, generator=generator) + additive
        student = 0.5 * torch.randn(batch, heads, length, length, generator=generator) + additive
        return student, teacher, mask
    return make


def _keep(mask, queries=True):
    real = mask != 0
    return (real[:, None, :, None] if queries else torch.ones_like(real)[:, None, :, None]) & real[:, None, None, :]


def _masked_sq(student, teacher, keep):
    return torch.where(keep, student.float() - teacher.float(), 0.0).pow(2)


def _padding_in_denominator(student, teacher, mask):
    batch, _, length, _ = student.shape
    return _masked_sq(student, teacher, _keep(mask)).sum(dim=(0, 2, 3)) / (batch * length * length)


def _key_mask_only(student, teacher, mask):
    keep = _keep(mask, queries=False)
    return _masked_sq(student, teacher, keep).sum(dim=(0, 2, 3)) / keep.sum()


def _per_example(student, teacher, mask):
    rows = [per_head_mse(student[b:b + 1], teacher[b:b + 1], mask[b:b + 1]) for b in range(len(mask))]
    return torch.stack(rows).mean(0)


def _probabilities(student, teacher, mask):
    return per_head_mse(student.softmax(-1), teacher.softmax(-1), mask)


def _sum_not_mean(student, teacher, mask):
    return _masked_sq(student, teacher, _keep(mask)).sum(dim=(0, 2, 3))


def _plain_mean(student, teacher, mask):
    return (student.float() - teacher.float()).pow(2).mean(dim=(0, 2, 3))


q1 = TensorExercise(
    name="per-head MSE of attention scores, padding left out",
    hints=[
        "Only (query, key) pairs where BOTH tokens are real count. Build a (B, 1, L, L) boolean mask from the "
        "(B, L) attention_mask with two broadcasts, one for queries and one for keys.",
        "Square the differences where the mask is True (use torch.where: padded keys hold float32 min, and "
        "arithmetic on them overflows), sum over batch, query and key (dims 0, 2, 3), and divide by the number "
        "of real pairs.",
        "real = attention_mask != 0; keep = real[:, None, :, None] & real[:, None, None, :]; "
        "diff = torch.where(keep, student_scores - teacher_scores, 0.0); "
        "return diff.pow(2).sum(dim=(0, 2, 3)) / keep.sum()",
    ],
    reference=per_head_mse,
    make_inputs=_q1_inputs((7, 5, 3), 0),
    extra_inputs=[_q1_inputs((6, 6, 2), 1)],
    describe="(H,)",
    locate=("head",),
    mistakes=[
        Mistake("mask_ignored", _plain_mean,
                "padding was not left out: the mean ran over every (query, key) entry, padded ones included, so the "
                "figure depends on how much padding the batch has. Keep pairs whose query AND key are real"),
        Mistake("padding_in_denominator", _padding_in_denominator,
                "padded entries were zeroed but still counted in the mean (divided by B*L*L). That is how the "
                "training loss (Eq. 7, official code) averages; here divide by the number of real pairs"),
        Mistake("key_mask_only", _key_mask_only,
                "only padded KEYS were left out: rows of padded QUERIES still count (BERT computes them, and they "
                "hold real-looking values). Mask queries too"),
        Mistake("averaged_per_example", _per_example,
                "you averaged each sentence first, then the sentences: short sentences then weigh as much as long "
                "ones. Pool all real pairs of the batch into one mean"),
        Mistake("softmax_applied", _probabilities,
                "you compared probabilities; TinyBERT transfers the scores A before softmax (Eq. 7), and so does "
                "this measurement"),
        Mistake("sum_not_mean", _sum_not_mean,
                "you summed the squared errors; divide by the number of real (query, key) pairs"),
    ],
    success="you can measure how close a student head's scores are to its teacher head's, padding left out "
            "(tinybert_ref.snapshots.per_head_mse). Try next: run it on the checkpoints above.",
)


# --------------------------------------------------------------------------- q2: which teacher layer
def teacher_layer_for(m: int, student_layers: int, teacher_layers: int) -> int:
    """n = g(m) under the uniform mapping (tinybert_ref.mapping.uniform_mapping): 12 -> 4 gives 3m;
    6 -> 4 rounds m * 1.5 with halves up: [0, 2, 3, 5, 6]."""
    return uniform_mapping(student_layers, teacher_layers)[m]


def _q2_probes():
    probes = [(m, 4, 12) for m in range(5)]
    probes += [(m, 4, 6) for m in (1, 2, 3, 4)]  # our run: MiniLM (6 layers) -> TinyBERT4
    return probes + [(m, 5, 12) for m in range(1, 6)]


def _top(m, student_layers, teacher_layers):
    return 0 if m == 0 else teacher_layers - student_layers + m


q2 = ValueExercise(
    name="which teacher layer student layer m learns from",
    hints=[
        "Under the uniform mapping each student layer sits at the same relative depth in the teacher: n is close to "
        "m * N / M, and g(0) = 0 (embeddings), g(M) = N.",
        "When m * N / M is not a whole number (6 -> 4 gives 1.5 and 4.5), the package rounds halves UP, to the deeper "
        "layer. Python's round() rounds halves to even, so do it in integers: floor(m * N / M + 1/2).",
        "return (2 * m * teacher_layers + student_layers) // (2 * student_layers)",
    ],
    reference=teacher_layer_for,
    shown_solution=uniform_mapping,
    probes=_q2_probes,
    describe=lambda args: f"m = {args[0]}, M = {args[1]} student layers, N = {args[2]} teacher layers",
    inspect=expect_type(int, "an int layer number: round, then int(...)"),
    mistakes=[
        Mistake("mapping_off_by_one", lambda m, M, N: teacher_layer_for(m, M, N) - 1,
                "one too low: that is the list INDEX of the layer in internals.attention_scores (layer n sits at "
                "attention_scores[n - 1]). The question asks for the layer number n = g(m), counting from 1"),
        convention("rounding", lambda m, M, N: round(m * N / M),
                   "Python's round() sends halves to the even number (round(4.5) = 4); the package rounds halves "
                   "up, to the deeper layer, so that 6 -> 4 gives [0, 2, 3, 5, 6]"),
        convention("rounding", lambda m, M, N: m * N // M,
                   "you rounded down (m * N // M); the package rounds to the nearest layer, halves up"),
        convention("rounding", lambda m, M, N: math.ceil(m * N / M),
                   "you rounded up (12 -> 5 gives 3 for m = 1); the package rounds to the nearest layer, halves up"),
        Mistake("bottom_instead", lambda m, M, N: layer_mapping(M, N, "bottom")[m],
                "that is the bottom mapping g(m) = m; uniform spreads the student over the whole teacher"),
        Mistake("top_instead", _top,
                "that is the top mapping g(m) = N - M + m; uniform spreads the student over the whole teacher"),
        Mistake("ratio_inverted", lambda m, M, N: m * M // N,
                "the ratio is upside down: a student layer jumps N / M teacher layers, not M / N"),
    ],
    success="you can say which teacher layer each student layer is pulled towards (Eq. 6). In our run, "
            "MiniLM's 6 layers onto 4: [0, 2, 3, 5, 6].",
)
