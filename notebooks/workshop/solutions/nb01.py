"""Workshop solutions for notebook 01 (attention). Each function passes `tinybert_ref.exercises.nb01`."""

import torch


def attention_scores(q, k):
    """q1: A = Q K^T / sqrt(d_k), (B, H, L, d_k) x (B, H, L, d_k) -> (B, H, L, L); no softmax."""
    return q @ k.transpose(-2, -1) / q.size(-1) ** 0.5


def masked_attention_probabilities(scores, attention_mask):
    """q2: padded keys (mask 0) get a huge negative score before softmax over keys."""
    keep = attention_mask[:, None, None, :].bool()  # (B, L) -> (B, 1, 1, L): acts on keys
    return scores.masked_fill(~keep, torch.finfo(scores.dtype).min).softmax(dim=-1)


def split_heads(x, num_heads):
    """q3: (B, L, D) -> (B, L, H, d_k) -> (B, H, L, d_k)."""
    batch, length, width = x.shape
    return x.view(batch, length, num_heads, width // num_heads).transpose(1, 2)
