"""Workshop solutions for notebook 02 (BERT pretraining). Each function passes `tinybert_ref.exercises.nb02`."""

import torch


def bert_masking(input_ids, special, select_draw, replace_draw, random_ids, mask_id):
    """q1: select 15% of the non-special tokens; of those 80% [MASK], 10% random, 10% unchanged."""
    selected = (select_draw < 0.15) & ~special
    corrupted = input_ids.clone()
    corrupted[selected & (replace_draw < 0.8)] = mask_id
    use_random = selected & (replace_draw >= 0.8) & (replace_draw < 0.9)
    corrupted[use_random] = random_ids[use_random]
    return corrupted


def mlm_loss(logits, original_ids, selected):
    """q2: cross-entropy of the original tokens at the selected positions only."""
    return torch.nn.functional.cross_entropy(logits[selected], original_ids[selected])
