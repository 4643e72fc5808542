"""Checkers of notebook 04 (the distillation losses, Eq. 7, 8 and 10): the harness's table for each exercise."""

import torch
import torch.nn.functional as F
from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb04
from tinybert_ref.losses import attention_loss, prediction_loss


def _pair(mask):
    return (mask[:, None, :, None] * mask[:, None, None, :]).float()


def _neutralised(scores, mask):
    return torch.where(scores <= -1e2, torch.zeros_like(scores), scores) * _pair(mask)


def _squares(s, t, m):
    return (_neutralised(s, m) - _neutralised(t, m)) ** 2


def _soft_ce(s, te, t, dim=-1):
    return -(F.softmax(te / t, dim=dim) * F.log_softmax(s / t, dim=dim)).sum(-1).mean()


def _kl(s, te, t):
    return F.kl_div(F.log_softmax(s / t, -1), F.softmax(te / t, -1), reduction="batchmean")


TABLES = {
    "q1": Table("my_attention_loss", wrong=[
        ("softmax_applied", lambda s, t, m: ((s.softmax(-1) - t.softmax(-1)) ** 2 * _pair(m)).mean()),
        ("softmax_applied", lambda s, t, m: ((s.softmax(-1) - t.softmax(-1)) ** 2).mean()),
        ("mask_ignored", lambda s, t, m: ((s - t) ** 2).mean()),
        ("padded_queries_kept", lambda s, t, m: F.mse_loss(torch.where(s <= -1e2, 0.0, s),
                                                           torch.where(t <= -1e2, 0.0, t))),
        ("sum_not_mean", lambda s, t, m: _squares(s, t, m).sum()),
        ("no_head_average", lambda s, t, m: sum(F.mse_loss(_neutralised(s, m)[:, h], _neutralised(t, m)[:, h])
                                                for h in range(s.shape[1]))),
        ("convention_mean_over_real_entries", lambda s, t, m: _squares(s, t, m).sum() / (_pair(m).sum() * s.shape[1])),
        ("shape", lambda s, t, m: _squares(s, t, m).mean(dim=(0, 2, 3))),
        ("raises", lambda s, t, m: s @ t.transpose(0, 1)),
        ("values", lambda s, t, m: _squares(s, t, m).mean() * 1.5),
    ], passes=[attention_loss, lambda s, t, m: _squares(s, t, m).mean()]),
    "q2": Table("my_hidden_loss", wrong=[
        ("projection_on_teacher", lambda s, te, w: ((s - te @ w.T) ** 2).mean()),
        ("sum_not_mean", lambda s, te, w: ((s @ w - te) ** 2).sum()),
        ("sum_over_width", lambda s, te, w: ((s @ w - te) ** 2).sum(-1).mean()),
        ("root_mean_square", lambda s, te, w: torch.sqrt(F.mse_loss(s @ w, te))),
        ("raises", lambda s, te, w: F.mse_loss(s @ w.T, te)),
        ("values", lambda s, te, w: F.mse_loss(s @ w, te) + 0.1),
    ], passes=[lambda s, te, w: F.mse_loss(s @ w, te)]),
    "q3": Table("my_prediction_loss", wrong=[
        ("temperature_squared", lambda s, te, t: t * t * _soft_ce(s, te, t)),
        ("temperature_squared", lambda s, te, t: _kl(s, te, t) * t ** 2),  # Hinton et al.'s KL form
        ("temperature_ignored", lambda s, te, t: _soft_ce(s, te, 1.0)),
        ("temperature_ignored", lambda s, te, t: -(F.softmax(te / t, -1) * F.log_softmax(s, -1)).sum(-1).mean()),
        ("reversed_kl", lambda s, te, t: _soft_ce(te, s, t)),
        ("kl_instead_of_ce", _kl),
        ("hard_labels", lambda s, te, t: F.cross_entropy(s / t, te.argmax(-1))),
        ("wrong_softmax_axis", lambda s, te, t: _soft_ce(s, te, t, dim=0)),
        ("sum_not_mean", lambda s, te, t: -(F.softmax(te / t, -1) * F.log_softmax(s / t, -1)).sum()),
        ("convention_mean_over_classes", lambda s, te, t: -(F.softmax(te / t, -1) * F.log_softmax(s / t, -1)).mean()),
        ("shape", lambda s, te, t: -(F.softmax(te / t, -1) * F.log_softmax(s / t, -1)).sum(-1)),
        ("wrong_type", lambda s, te, t: float(_soft_ce(s, te, t))),
    ], passes=[prediction_loss, _soft_ce]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb04, TABLES)
