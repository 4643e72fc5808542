"""Checkers of notebook 02 (BERT pretraining): the harness's table for each exercise."""

import torch
import torch.nn.functional as F
from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb02


def _masking(mask_below=0.8, random_below=0.9, special_ok=False, reverse=False, where_style=False, random_first=False):
    def answer(input_ids, special, select_draw, replace_draw, random_ids, mask_id):
        selected = (select_draw >= 0.15) if reverse else (select_draw < 0.15)
        if not special_ok:
            selected = selected & ~special
        if where_style:  # a different but correct way of writing it
            out = torch.where(selected & (replace_draw < 0.8), torch.full_like(input_ids, mask_id), input_ids)
            return torch.where(selected & (replace_draw >= 0.8) & (replace_draw < 0.9), random_ids, out)
        out = input_ids.clone()
        if random_first:  # 10% random, then 80% [MASK]: BERT's rates in another order
            out[selected & (replace_draw < 0.1)] = random_ids[selected & (replace_draw < 0.1)]
            out[selected & (replace_draw >= 0.1) & (replace_draw < 0.9)] = mask_id
            return out
        out[selected & (replace_draw < mask_below)] = mask_id
        rand = selected & (replace_draw >= mask_below) & (replace_draw < random_below)
        out[rand] = random_ids[rand]
        return out
    return answer


def _flat_ce(lg, targets):
    return F.cross_entropy(lg.reshape(-1, lg.size(-1)), targets.reshape(-1))


TABLES = {
    "q1": Table("bert_masking", wrong=[
        ("masks_all_selected", _masking(mask_below=2.0)),
        ("selects_special_tokens", _masking(special_ok=True)),
        ("no_random_replacement", _masking(random_below=0.8)),
        ("split_reversed", _masking(mask_below=0.1, random_below=0.2)),
        ("selection_reversed", _masking(reverse=True)),
        ("convention_split_order", _masking(random_first=True)),
        ("convention_split_order", lambda ids, special, sd, rd, rand, m: _masking()(ids, special, sd, 1 - rd, rand, m)),
        ("values", _masking(mask_below=0.7, random_below=0.9)),
        ("dtype", lambda ids, *rest: ids.float()),
        ("shape", lambda ids, *rest: ids[:, :10]),
    ], passes=[_masking(where_style=True)]),
    "q2": Table("mlm_loss", wrong=[
        ("loss_on_all_tokens", lambda lg, o, s: _flat_ce(lg, o)),
        ("loss_on_unselected", lambda lg, o, s: F.cross_entropy(lg[~s], o[~s])),
        ("sum_not_mean", lambda lg, o, s: F.cross_entropy(lg[s], o[s], reduction="sum")),
        ("softmax_before_loss", lambda lg, o, s: F.cross_entropy(lg[s].softmax(-1), o[s])),
        ("shape", lambda lg, o, s: F.cross_entropy(lg[s], o[s], reduction="none")),
        ("wrong_type", lambda lg, o, s: F.cross_entropy(lg[s], o[s]).item()),
    ], passes=[lambda lg, o, s: _flat_ce(lg, torch.where(s, o, -100))]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb02, TABLES)
