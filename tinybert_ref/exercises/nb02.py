"""Checkers for notebook 02 (BERT pretraining): the 80/10/10 masking decision and the MLM loss.

q1  BERT's corruption: 15% of non-special tokens selected; of those 80% [MASK], 10% random, 10% kept
q2  the MLM loss: cross-entropy on the selected positions only
The random draws are inputs, so each answer is deterministic and can be compared exactly.
"""

from __future__ import annotations

import torch

from ..pretraining import apply_bert_masking, masked_lm_loss
from .checker import Mistake, TensorExercise, convention

__all__ = ["q1", "q2", "MASK_ID"]

MASK_ID = 103  # [MASK] in BERT's uncased vocabulary


def _masking_inputs() -> tuple:
    """A batch (B, L) = (4, 40): [CLS] ... [SEP] then padding, with draws covering every case."""
    generator = torch.Generator().manual_seed(4)
    input_ids = torch.randint(1000, 30000, (4, 40), generator=generator)
    special = torch.zeros(4, 40, dtype=torch.bool)
    lengths = [40, 31, 25, 12]
    for row, length in enumerate(lengths):
        input_ids[row, 0], input_ids[row, length - 1] = 101, 102  # [CLS], [SEP]
        input_ids[row, length:] = 0  # [PAD]
        special[row, 0] = special[row, length - 1:] = True
    select_draw = torch.rand(4, 40, generator=generator) * 0.3  # about half the tokens selected: many of each kind
    replace_draw = torch.rand(4, 40, generator=generator)
    random_ids = torch.randint(1000, 30000, (4, 40), generator=generator)
    return input_ids, special, select_draw, replace_draw, random_ids, MASK_ID


def _variant(mask=(0.0, 0.8), random=(0.8, 0.9), respect_special: bool = True, reversed_select: bool = False):
    """A corruption rule: [MASK] where mask[0] <= replace_draw < mask[1], the random id where replace_draw falls in
    `random`; the defaults are BERT's rule as the package writes it."""
    def compute(input_ids, special, select_draw, replace_draw, random_ids, mask_id):
        selected = select_draw >= 0.15 if reversed_select else select_draw < 0.15
        if respect_special:
            selected &= ~special
        out = input_ids.clone()
        out[selected & (replace_draw >= mask[0]) & (replace_draw < mask[1])] = mask_id
        use_random = selected & (replace_draw >= random[0]) & (replace_draw < random[1])
        out[use_random] = random_ids[use_random]
        return out
    return compute


_SPLIT_ORDER = ("your rates are BERT's 80 / 10 / 10, but you split replace_draw's range in another order. Any order "
                "gives the same rates; the package takes the quote's, [MASK] for replace_draw < 0.8, the random id "
                "for 0.8 <= replace_draw < 0.9, unchanged above, and that order decides which token a given draw "
                "corrupts")


q1 = TensorExercise(
    name="the 80/10/10 masking decision",
    hints=[
        "Two decisions per token. First: is it selected? 15% of the tokens, so select_draw < 0.15, and never a "
        "special token. Second, only for selected tokens, replace_draw splits [0, 1) in the quote's order: the "
        "first 80% -> [MASK], the next 10% -> the random id, the last 10% -> keep the token.",
        "Build a boolean `selected = (select_draw < 0.15) & ~special`, then two boolean masks from replace_draw; "
        "start from input_ids.clone() and assign with boolean indexing.",
        "out = input_ids.clone(); selected = (select_draw < 0.15) & ~special; "
        "out[selected & (replace_draw < 0.8)] = mask_id; r = selected & (replace_draw >= 0.8) & (replace_draw < 0.9); "
        "out[r] = random_ids[r]; return out",
    ],
    reference=apply_bert_masking,
    make_inputs=_masking_inputs,
    describe="(B, L) = (4, 40)",
    locate=("example", "position"),
    atol=0,
    rtol=0,
    mistakes=[
        Mistake("masks_all_selected", _variant(mask=(0.0, 1.01), random=(0.0, 0.0)),
                "every selected token became [MASK]; BERT replaces only 80% of them, puts a random token in 10% "
                "and keeps 10% unchanged, so the model cannot rely on seeing [MASK] (it never does at test time)"),
        Mistake("selects_special_tokens", _variant(respect_special=False),
                "[CLS], [SEP] or [PAD] were selected too; special tokens are never masked (special=True)"),
        Mistake("no_random_replacement", _variant(random=(0.0, 0.0)),
                "no selected token got the random id: 10% of the selected ones (0.8 <= replace_draw < 0.9) must"),
        Mistake("split_reversed", _variant(mask=(0.0, 0.1), random=(0.1, 0.2)),
                "the split is reversed: [MASK] is the 80% case (replace_draw < 0.8), random the next 10%"),
        Mistake("selection_reversed", _variant(reversed_select=True),
                "you selected the tokens with select_draw >= 0.15, i.e. 85% of them; a token is selected when "
                "select_draw < 0.15"),
        convention("split_order", _variant(mask=(0.1, 0.9), random=(0.0, 0.1)), _SPLIT_ORDER),
        convention("split_order", _variant(mask=(0.2, 1.0), random=(0.1, 0.2)), _SPLIT_ORDER),
        convention("split_order", _variant(mask=(0.0, 0.8), random=(0.9, 1.0)), _SPLIT_ORDER),
    ],
    success="your corruption is BERT's: 15% of the real tokens selected, then 80% [MASK] / 10% random / 10% kept.",
)


# ------------------------------------------------------------------------------- q2: the MLM loss
def _loss_inputs() -> tuple:
    generator = torch.Generator().manual_seed(5)
    logits = 2 * torch.randn(2, 9, 50, generator=generator)  # (B, L, V) with a vocabulary of 50
    original = torch.randint(0, 50, (2, 9), generator=generator)
    selected = torch.zeros(2, 9, dtype=torch.bool)
    selected[0, [2, 5]] = selected[1, [1, 3, 7]] = True
    return logits, original, selected


def _ce(logits, targets, reduction="mean"):
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                                             reduction=reduction)


q2 = TensorExercise(
    name="the MLM loss on selected positions",
    hints=[
        "The loss is a cross-entropy between the logits and the ORIGINAL token ids, but only where "
        "`selected` is True: the other 85% are not predicted.",
        "Boolean indexing picks the rows: logits[selected] is (number selected, V), original_ids[selected] "
        "(number selected,). Average, do not sum.",
        "return torch.nn.functional.cross_entropy(logits[selected], original_ids[selected])",
    ],
    reference=masked_lm_loss,
    make_inputs=_loss_inputs,
    describe="a scalar ()",
    mistakes=[
        Mistake("loss_on_all_tokens", lambda lg, o, s: _ce(lg, o),
                "the loss averages over ALL positions; BERT predicts only the selected 15% (set labels to "
                "-100 elsewhere, or index with `selected`)"),
        Mistake("loss_on_unselected", lambda lg, o, s: _ce(lg[~s], o[~s]),
                "the loss uses the positions that were NOT selected; use `selected`, not `~selected`"),
        Mistake("sum_not_mean", lambda lg, o, s: _ce(lg[s], o[s], reduction="sum"),
                "you summed over the selected positions; cross_entropy averages (so the loss does not grow "
                "with the batch)"),
        Mistake("softmax_before_loss", lambda lg, o, s: _ce(lg[s].softmax(-1), o[s]),
                "you applied softmax before cross_entropy; cross_entropy takes raw logits (it applies "
                "log-softmax itself)"),
    ],
    success="you computed BERT's MLM loss: cross-entropy of the original tokens at the selected positions only.",
)
