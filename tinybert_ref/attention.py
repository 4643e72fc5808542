"""Scaled dot-product attention, multi-head self-attention and a BERT encoder layer, from scratch.

Vaswani et al. (2017), Eq. 1:      Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V
TinyBERT (Jiao et al., 2020), section 2 (Transformer preliminaries), in the paper's notation:
    A = Q K^T / sqrt(d_k)                         (the pre-softmax scores that Eq. 7 distils)
    MultiHead(H) = Concat(softmax(A_1) V_1, ..., softmax(A_h) V_h) W^O
    FFN(x) = GELU(x W_1 + b_1) W_2 + b_2          (BERT's activation is the exact, erf-based GELU)
Taught in notebook 01 (attention, masks, equality with `transformers`) and reused in notebook 02.

BERT is post-LayerNorm: x' = LayerNorm(x + Dropout(MultiHead(x))), y = LayerNorm(x' + Dropout(FFN(x'))).
Each module has `from_bert_layer`, which copies a `transformers` BertLayer's weights, so the tests
can check this code against `transformers` on the real MiniLM teacher. This module is for reading;
training uses the unmodified `transformers` model (see `tinybert_ref.internals`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["AttentionResult", "Encoder", "EncoderLayer", "MultiHeadSelfAttention", "scaled_dot_product_attention"]


class AttentionResult(NamedTuple):
    """output: (B, L, D) or (B, H, L, d_k); probabilities and scores: (B, H, L, L)."""

    output: torch.Tensor
    probabilities: torch.Tensor
    scores: torch.Tensor


def _additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """1/True = attend, 0/False = ignore -> 0 / float min, broadcastable to (B, H, L, L).

    A (B, L) padding mask becomes (B, 1, 1, L): every query ignores the padded keys. We add the
    dtype's minimum, as `transformers` does (the official TinyBERT code adds -10000).
    """
    if mask.dim() == 2:
        mask = mask[:, None, None, :]
    return torch.zeros((), dtype=dtype).masked_fill(~mask.bool(), torch.finfo(dtype).min)


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
    dropout: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> AttentionResult:
    """softmax(Q K^T / sqrt(d_k) + M) V, returning (output, probabilities, scores).

    q, k, v: (B, H, L, d_k); mask: (B, L) with 1 = real token, or anything broadcastable to
    (B, H, L, L) with 1/True = may attend. scores A = Q K^T / sqrt(d_k) + M, with M = 0 where
    attention is allowed and float min where not (so masked scores are hugely negative, as in the
    official TinyBERT code). output: (B, H, L, d_k). `dropout` (e.g. an nn.Dropout) acts on the
    probabilities before they weight V, as in BERT; the returned probabilities are before dropout.
    """
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / d_k**0.5
    if mask is not None:
        scores = scores + _additive_mask(mask, scores.dtype).to(scores.device)
    probabilities = scores.softmax(dim=-1)
    weights = probabilities if dropout is None else dropout(probabilities)
    return AttentionResult(weights @ v, probabilities, scores)


class MultiHeadSelfAttention(nn.Module):
    """h heads of scaled dot-product attention over one sequence, then the output projection W^O.

    In `transformers` the Q/K/V projections live in `attention.self` and W^O in `attention.output.dense`.
    """

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden size {hidden_size} is not divisible by {num_heads} heads: "
                             "pick a number of heads that divides the hidden size")
        self.num_heads, self.head_size = num_heads, hidden_size // num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, H, L, d_k)."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_size).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> AttentionResult:
        """x: (B, L, D); mask: (B, L), 1 = real token. Returns output (B, L, D) after W^O, and the
        probabilities and scores (B, H, L, L) of every head."""
        q, k, v = self._split_heads(self.query(x)), self._split_heads(self.key(x)), self._split_heads(self.value(x))
        heads = scaled_dot_product_attention(q, k, v, mask, dropout=self.dropout)
        merged = heads.output.transpose(1, 2).reshape(x.shape)  # (B, H, L, d_k) -> (B, L, D): concat heads
        return AttentionResult(self.out(merged), heads.probabilities, heads.scores)

    @classmethod
    def from_bert_layer(cls, bert_layer: nn.Module) -> MultiHeadSelfAttention:
        """Copy Q, K, V (from `attention.self`) and W^O (from `attention.output.dense`) of a BertLayer."""
        source = bert_layer.attention.self
        module = cls(source.query.in_features, source.num_attention_heads, source.dropout.p)
        with torch.no_grad():
            for name in ("query", "key", "value"):
                getattr(module, name).load_state_dict(getattr(source, name).state_dict())
            module.out.load_state_dict(bert_layer.attention.output.dense.state_dict())
        return module


class EncoderLayer(nn.Module):
    """One post-LayerNorm BERT layer: attention, Add & Norm, FFN with GELU, Add & Norm."""

    def __init__(self, hidden_size: int, num_heads: int, ffn_size: int, dropout: float = 0.0,
                 attention_dropout: float = 0.0, layer_norm_eps: float = 1e-12):
        super().__init__()
        self.attention = MultiHeadSelfAttention(hidden_size, num_heads, attention_dropout)
        self.attention_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.ffn_in = nn.Linear(hidden_size, ffn_size)
        self.ffn_out = nn.Linear(ffn_size, hidden_size)
        self.ffn_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> AttentionResult:
        """x: (B, L, D); mask: (B, L), 1 = real token. Returns output (B, L, D) and the attention's
        probabilities and scores (B, H, L, L)."""
        attended = self.attention(x, mask)
        x = self.attention_norm(x + self.dropout(attended.output))
        ffn = self.ffn_out(nn.functional.gelu(self.ffn_in(x)))  # exact (erf) GELU, BERT's "gelu"
        x = self.ffn_norm(x + self.dropout(ffn))
        return AttentionResult(x, attended.probabilities, attended.scores)

    @classmethod
    def from_bert_layer(cls, bert_layer: nn.Module) -> EncoderLayer:
        """A layer with a `transformers` BertLayer's weights (BERT's exact GELU activation only)."""
        activation = bert_layer.attention.self.config.hidden_act
        if activation != "gelu":
            raise ValueError(f"EncoderLayer implements BERT's exact GELU, but this layer uses "
                             f"hidden_act={activation!r}; use a BERT checkpoint with hidden_act='gelu'")
        attention_norm, ffn_norm = bert_layer.attention.output.LayerNorm, bert_layer.output.LayerNorm
        layer = cls(attention_norm.normalized_shape[0], bert_layer.attention.self.num_attention_heads,
                    bert_layer.intermediate.dense.out_features, bert_layer.output.dropout.p,
                    bert_layer.attention.self.dropout.p, attention_norm.eps)
        layer.attention = MultiHeadSelfAttention.from_bert_layer(bert_layer)
        with torch.no_grad():
            layer.attention_norm.load_state_dict(attention_norm.state_dict())
            layer.ffn_in.load_state_dict(bert_layer.intermediate.dense.state_dict())
            layer.ffn_out.load_state_dict(bert_layer.output.dense.state_dict())
            layer.ffn_norm.load_state_dict(ffn_norm.state_dict())
        return layer


class Encoder(nn.Module):
    """A stack of EncoderLayers: H_m = Layer_m(H_{m-1}), H_0 = the embedding output E."""

    def __init__(self, layers: list[EncoderLayer]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, embeddings: torch.Tensor, mask: torch.Tensor | None = None):
        """embeddings: (B, L, D); mask: (B, L). Returns (hidden_states: N+1 tensors (B, L, D) with
        [0] = embeddings, scores: N tensors (B, H, L, L)), the same layout as `internals.Internals`."""
        hidden_states, scores = [embeddings], []
        for layer in self.layers:
            result = layer(hidden_states[-1], mask)
            hidden_states.append(result.output)
            scores.append(result.scores)
        return tuple(hidden_states), tuple(scores)

    @classmethod
    def from_bert(cls, bert_model: nn.Module) -> Encoder:
        """Copy every layer of a `transformers` BertModel (or a model with a `.bert` BertModel)."""
        bert_model = getattr(bert_model, "bert", bert_model)
        return cls([EncoderLayer.from_bert_layer(layer) for layer in bert_model.encoder.layer])
