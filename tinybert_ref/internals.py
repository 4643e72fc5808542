"""Pre-softmax attention scores and all hidden states from an unmodified `transformers` BERT.

TinyBERT's Transformer-layer distillation (Eq. 7 and Eq. 8) compares the attention *scores*
A = Q K^T / sqrt(d_k) (before softmax) and the hidden states H of mapped layers; the embedding loss
(Eq. 9) compares the embedding output E = H_0. A plain `transformers` forward returns neither the
scores (eager gives probabilities after dropout, sdpa gives nothing) nor, by default, the hidden
states. Taught in notebook 04 (scores vs probabilities) and used by every distillation step.

How: we register an attention function under the name `ATTN_IMPLEMENTATION` with
`transformers.AttentionInterface`. It computes exactly what eager attention computes (softmax,
dropout in training, @ V) and returns the scores as its second value, which `transformers` hands back
as `outputs.attentions` when `output_attentions=True`. The same name is registered with
`transformers.masking_utils.AttentionMaskInterface` (eager's additive mask); without that, the
padding mask is silently dropped (DESIGN.md section 8).

The returned scores include the additive mask, as the official TinyBERT code returns them
(`attention_scores + attention_mask` before softmax). The mask here holds float32 min, not the
official -10000; the loss's official clip (`<= -1e2 -> 0`) neutralises padded keys either way.
When a batch has no padding the mask is None and the scores are the raw scaled scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

__all__ = ["ATTN_IMPLEMENTATION", "Internals", "enable_scores", "forward_with_internals", "scores_attention"]

log = logging.getLogger(__name__)

ATTN_IMPLEMENTATION = "tinybert_scores"


def scores_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention that returns the pre-softmax scores instead of the probabilities.

    query, key, value: (B, H, L, d_k); attention_mask: additive (B, 1, L, L) or None.
    Returns (context (B, L, H, d_k), scores (B, H, L, L)) with scores = Q K^T * scaling + mask,
    the `A` of TinyBERT Eq. 7. The context equals `transformers`' eager and sdpa attention.
    """
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:  # a boolean mask (True = attend) from a custom mask function
            attention_mask = torch.where(attention_mask, 0.0, torch.finfo(scores.dtype).min).to(scores.dtype)
        scores = scores + attention_mask
    probabilities = nn.functional.softmax(scores, dim=-1)
    probabilities = nn.functional.dropout(probabilities, p=dropout, training=module.training)
    context = torch.matmul(probabilities, value).transpose(1, 2).contiguous()
    return context, scores


AttentionInterface.register(ATTN_IMPLEMENTATION, scores_attention)
# Without this second registration `transformers` builds no mask for an unknown implementation name,
# and padded keys are attended to (padded-batch outputs then differ from sdpa by ~0.9).
AttentionMaskInterface.register(ATTN_IMPLEMENTATION, eager_mask)


@dataclass
class Internals:
    """What one forward returns for distillation.

    hidden_states: N+1 tensors (B, L, D); [0] is the embedding output E, [i] the output of layer i.
    attention_scores: N tensors (B, H, L, L); [i] is layer i+1's Q K^T / sqrt(d_k) + additive mask.
    logits: (B, num_labels) for a sequence classifier, else None.
    """

    hidden_states: tuple[torch.Tensor, ...]
    attention_scores: tuple[torch.Tensor, ...]
    logits: torch.Tensor | None = None


def _unwrap(model: nn.Module) -> nn.Module:
    """The `transformers` model inside DDP/accelerate (`.module`) or torch.compile (`._orig_mod`) wrappers."""
    while not hasattr(model, "config"):
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            raise TypeError(
                f"{type(model).__name__} is not a `transformers` model (no .config): pass a BertModel or "
                "BertForSequenceClassification (or a DDP/compiled wrapper of one)"
            )
        model = inner
    return model


def enable_scores(model: nn.Module) -> nn.Module:
    """Switch a loaded `transformers` model to the score-returning attention, in place; returns it.

    Outputs are unchanged (the function computes what eager attention computes). The switch is not
    saved by `save_pretrained` (`transformers` does not serialise the attention implementation), so an
    exported model loads with the default elsewhere. Pass `attn_implementation=ATTN_IMPLEMENTATION`
    to `from_pretrained` to load a model already switched.
    """
    inner = _unwrap(model)
    if inner.config._attn_implementation != ATTN_IMPLEMENTATION:
        inner.set_attn_implementation(ATTN_IMPLEMENTATION)
        if inner.config._attn_implementation != ATTN_IMPLEMENTATION:
            raise TypeError(
                f"{type(inner).__name__} cannot switch its attention implementation (it does not use "
                "transformers' AttentionInterface); TinyBERT distillation needs a BERT-style model that does"
            )
        log.debug("%s switched to attn_implementation=%r", type(inner).__name__, ATTN_IMPLEMENTATION)
    return model


def forward_with_internals(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
) -> Internals:
    """One forward of a BertModel or BertForSequenceClassification returning all hidden states and scores.

    input_ids, attention_mask (1 = real token), token_type_ids: (B, L).
    Switches the model to `ATTN_IMPLEMENTATION` first if needed (see `enable_scores`). Gradients flow
    through every returned tensor. Wrapped models (DDP, accelerate, torch.compile) are called through
    their wrapper, so gradient synchronisation still happens.
    """
    enable_scores(model)
    outputs = model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                    output_hidden_states=True, output_attentions=True, return_dict=True)
    num_layers = _unwrap(model).config.num_hidden_layers
    if outputs.attentions is None or len(outputs.attentions) != num_layers:
        raise RuntimeError(
            f"expected {num_layers} attention-score tensors, got "
            f"{None if outputs.attentions is None else len(outputs.attentions)}: the model did not use "
            f"attn_implementation={ATTN_IMPLEMENTATION!r}; call enable_scores(model) before wrapping it"
        )
    return Internals(
        hidden_states=tuple(outputs.hidden_states),
        attention_scores=tuple(outputs.attentions),
        logits=getattr(outputs, "logits", None),
    )
