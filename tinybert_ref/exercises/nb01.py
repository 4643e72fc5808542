"""Checkers for notebook 01 (attention): scaled dot-product scores, a padding mask, splitting heads.

q1  A = Q K^T / sqrt(d_k)                      TinyBERT Eq. 1 (the scores Eq. 7 distils)
q2  softmax over keys with padded keys masked  (BERT's additive attention mask)
q3  (B, L, D) -> (B, H, L, d_k)                 the head split of multi-head attention (Eq. 3)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..attention import MultiHeadSelfAttention, scaled_dot_product_attention
from .checker import CheckResult, Mistake, TensorExercise

__all__ = ["q1", "q2", "q3", "attention_scores", "masked_attention_probabilities", "split_heads"]


def _where(index: tuple) -> str:
    names = ("batch", "head", "query", "key")
    return ", ".join(f"{name} {i}" for name, i in zip(names, index, strict=False))


# ------------------------------------------------------------------------------- q1: scores
def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """A = Q K^T / sqrt(d_k) (Eq. 1). q, k: (B, H, L, d_k) -> (B, H, L, L)."""
    return scaled_dot_product_attention(q, k, k).scores


def _qk(shape: tuple = (2, 3, 5, 8), seed: int = 1) -> tuple:
    """(q, k), each (B, H, L, d_k); the first probe has d_k = 8, the others d_k = 4 and 32 (set apart from
    H and L), so that a scale that does not read d_k from the input passes one probe at most."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator), torch.randn(*shape, generator=generator)


PROBE_HEAD_SIZES = (8, 4, 32)  # d_k of the probes, in order


def _hardcoded(d_k: int) -> Mistake:
    return Mistake("hardcoded_scale", lambda q, k: q @ k.transpose(-2, -1) / d_k ** 0.5,
                   f"the scale is a fixed number (you divided by sqrt({d_k}) whatever the input): Eq. 1 divides by "
                   f"sqrt(d_k), and d_k is the head size of the input, q.size(-1). The probes use d_k = "
                   f"{', '.join(map(str, PROBE_HEAD_SIZES))}, so a constant is right for one of them at most")


q1 = TensorExercise(
    name="scaled dot-product scores",
    hints=[
        "Each score is the dot product of one query row with one key row, scaled by 1/sqrt(d_k); "
        "d_k is the last dimension of q.",
        "q @ k.transpose(-2, -1) gives (B, H, L, L); divide by the square root of q.size(-1). No softmax here: "
        "TinyBERT distils the scores A, not the probabilities.",
        "return q @ k.transpose(-2, -1) / q.size(-1) ** 0.5",
    ],
    reference=attention_scores,
    shown_solution=scaled_dot_product_attention,
    make_inputs=_qk,
    extra_inputs=[lambda: _qk((2, 3, 5, 4), seed=6), lambda: _qk((1, 2, 6, 32), seed=7)],
    describe="(B, H, L, L)",
    locate=_where,
    mistakes=[
        Mistake("missing_scale", lambda q, k: q @ k.transpose(-2, -1),
                "the scores are not scaled: Eq. 1 divides Q K^T by sqrt(d_k) (here sqrt(8)) so that their "
                "spread does not grow with the head size"),
        Mistake("wrong_scale", lambda q, k: q @ k.transpose(-2, -1) / q.size(-1),
                "you divided by d_k = 8; Eq. 1 divides by sqrt(d_k) = 2.83"),
        Mistake("softmax_applied", lambda q, k: (q @ k.transpose(-2, -1) / q.size(-1) ** 0.5).softmax(-1),
                "you returned softmax probabilities; A is the score matrix BEFORE softmax (TinyBERT Eq. 7 "
                "distils exactly these scores)"),
        Mistake("queries_keys_swapped", lambda q, k: k @ q.transpose(-2, -1) / q.size(-1) ** 0.5,
                "rows and columns are swapped (K Q^T): rows must be queries, columns keys"),
        # the probes' head sizes, which are also the notebook's (32 in section 1, 4 in the worked example)
        *(_hardcoded(d_k) for d_k in PROBE_HEAD_SIZES),
    ],
    success="you computed A = Q K^T / sqrt(d_k) for any head size d_k, the pre-softmax scores that TinyBERT "
            "distils (Eq. 7).",
)


# ------------------------------------------------------------------------------- q2: padding mask
def masked_attention_probabilities(scores: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """softmax over keys of scores with padded keys excluded. scores: (B, H, L, L); attention_mask:
    (B, L), 1 = real token, 0 = padding -> probabilities (B, H, L, L), 0 on padded keys."""
    return _masked_softmax(scores, attention_mask[:, None, None, :])


def _masked_softmax(scores: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    return scores.masked_fill(~keep.bool(), torch.finfo(scores.dtype).min).softmax(-1)


def _scores_and_mask() -> tuple:
    generator = torch.Generator().manual_seed(2)
    scores = 3 * torch.randn(2, 3, 6, 6, generator=generator)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])  # example 0 has two padded keys
    return scores, mask


q2 = TensorExercise(
    name="a padding mask",
    hints=[
        "Padding is a property of keys: no query may attend to a padded key, so the mask must act on the "
        "LAST axis of (B, H, L, L). Turn (B, L) into (B, 1, 1, L) to broadcast.",
        "Before softmax, put a huge negative number where attention_mask == 0 (masked_fill with "
        "torch.finfo(scores.dtype).min, or add (1 - mask) * -10000 as the official TinyBERT code does).",
        "keep = attention_mask[:, None, None, :].bool(); "
        "return scores.masked_fill(~keep, torch.finfo(scores.dtype).min).softmax(dim=-1)",
    ],
    reference=masked_attention_probabilities,
    shown_solution=scaled_dot_product_attention,
    make_inputs=_scores_and_mask,
    describe="(B, H, L, L) = (2, 3, 6, 6)",
    locate=_where,
    mistakes=[
        Mistake("mask_ignored", lambda s, m: s.softmax(-1),
                "the mask has no effect: padded keys still get probability (batch 0, keys 4 and 5 should get 0)"),
        Mistake("mask_wrong_axis", lambda s, m: _masked_softmax(s, m[:, None, :, None]),
                "the mask acts on queries (rows), not keys (columns): use attention_mask[:, None, None, :]"),
        Mistake("mask_inverted", lambda s, m: _masked_softmax(s, 1 - m[:, None, None, :]),
                "the mask is inverted: 1 means a real token (attend), 0 means padding (ignore)"),
        Mistake("softmax_wrong_axis", lambda s, m: s.masked_fill(~m[:, None, None, :].bool(),
                                                               torch.finfo(s.dtype).min).softmax(-2),
                "softmax runs over queries (dim=-2); each query's probabilities over keys must sum to 1 (dim=-1)"),
        Mistake("mask_multiplied", lambda s, m: (s * m[:, None, None, :]).softmax(-1),
                "you multiplied the scores by the mask: a score of 0 still gets probability after softmax; "
                "add a huge negative number (or masked_fill) instead"),
    ],
    atol=1e-6,
    success="padded keys get probability 0 and every row still sums to 1: that is BERT's attention mask.",
)


# ------------------------------------------------------------------------------- q3: split heads
def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, L, D) -> (B, H, L, d_k) with d_k = D / H: head h holds features h*d_k .. (h+1)*d_k - 1."""
    batch, length, width = x.shape
    return x.view(batch, length, num_heads, width // num_heads).transpose(1, 2)


def _hidden() -> tuple:
    generator = torch.Generator().manual_seed(3)
    return torch.randn(2, 5, 12, generator=generator), 3  # (B, L, D) = (2, 5, 12), H = 3, d_k = 4


@dataclass
class _ShapeMistakeExercise(TensorExercise):
    """Like TensorExercise, but a wrong shape is first matched against the catalogued mistakes, so that
    "heads ended up last" is named instead of only "wrong shape"."""

    def _check_one(self, fn: Callable, inputs, expected) -> CheckResult | None:
        result = super()._check_one(fn, inputs, expected)
        if result is None or result.code != "shape":
            return result
        got = fn(*[x.clone() if isinstance(x, torch.Tensor) else x for x in inputs])
        for mistake in self.mistakes:
            wrong = mistake.compute(*inputs)
            if wrong.shape == got.shape and torch.allclose(got.float(), wrong.float()):
                return CheckResult(False, mistake.code, f"{result.message}. {mistake.message}")
        return result


q3 = _ShapeMistakeExercise(
    name="split the heads",
    hints=[
        "First view the last axis D as (H, d_k): (B, L, D) -> (B, L, H, d_k). Then move H in front of L.",
        "x.view(B, L, H, D // H) and then .transpose(1, 2). A plain .view(B, H, L, d_k) has the right "
        "shape but mixes tokens into heads.",
        "B, L, D = x.shape; return x.view(B, L, num_heads, D // num_heads).transpose(1, 2)",
    ],
    reference=split_heads,
    shown_solution=MultiHeadSelfAttention._split_heads,
    make_inputs=_hidden,
    describe="(B, H, L, d_k)",
    locate=lambda index: ", ".join(f"{n} {i}" for n, i in zip(("batch", "head", "position", "feature"), index,
                                                                strict=False)),
    mistakes=[
        Mistake("heads_last", lambda x, h: x.view(*x.shape[:2], h, x.size(-1) // h),
                "heads ended up last (B, L, H, d_k): transpose(1, 2) to get (B, H, L, d_k)"),
        Mistake("reshaped_not_transposed", lambda x, h: x.reshape(x.size(0), h, x.size(1), x.size(-1) // h),
                "the shape is right but a plain view/reshape to (B, H, L, d_k) mixes positions into heads: "
                "view as (B, L, H, d_k) first, then transpose(1, 2)"),
        Mistake("head_size_first", lambda x, h: x.view(*x.shape[:2], x.size(-1) // h, h).permute(0, 3, 1, 2),
                "features are split as (d_k, H) instead of (H, d_k): head h must hold the contiguous block "
                "of features h*d_k .. (h+1)*d_k - 1"),
    ],
    success="you split D into H heads of d_k features, (B, L, D) -> (B, H, L, d_k), as BERT does.",
)
