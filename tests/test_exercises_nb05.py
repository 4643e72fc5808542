"""Checkers of notebook 05 (general distillation): the harness's table for each exercise, and the references
against the package (the objective's total, `pack_corpus`)."""

import torch
from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb05
from tinybert_ref.internals import Internals
from tinybert_ref.objective import TransformerDistillationLoss


def _recipe(**changes):
    answer = {"teacher": "pretrained", "data": "general corpus", "losses": {"embedding", "attention", "hidden"}}
    answer.update(changes)
    return lambda: answer


def _flat(documents):
    return [t for d in documents for t in d]


TABLES = {
    "q1": Table("general_distillation_recipe", wrong=[
        ("fine_tuned_teacher", _recipe(teacher="fine-tuned")),
        ("task_data", _recipe(data="augmented task data")),
        ("task_data", _recipe(data="task data")),
        ("includes_prediction", _recipe(losses={"embedding", "attention", "hidden", "prediction"})),
        ("missing_layer_loss", _recipe(losses={"attention", "hidden"})),
        ("missing_layer_loss", _recipe(losses={"attention"})),
        ("unknown_choice", _recipe(teacher="distilled")),
        ("unknown_choice", _recipe(losses={"logits"})),
        ("wrong_type", _recipe(losses="attention")),
        ("wrong_type", lambda: {"teacher": "pretrained"}),
        ("wrong_type", lambda: ["pretrained"]),
        ("raises", lambda: {}["teacher"]),
    ], passes=[_recipe(losses=["Embedding", "attention", "hidden"])]),
    "q2": Table("my_layer_objective", wrong=[
        ("lambdas_ignored", lambda e, a, h, lam: e + (a + h).sum()),
        ("lambda_off_by_one", lambda e, a, h, lam: lam[0] * e + sum(lam[m] * (a[m] + h[m]) for m in range(len(a)))),
        ("embedding_missing", lambda e, a, h, lam: (lam[1:] * (a + h)).sum()),
        ("layer_part_missing", lambda e, a, h, lam: lam[0] * e + (lam[1:] * a).sum()),
        ("mean_not_sum", lambda e, a, h, lam: lam[0] * e + (lam[1:] * (a + h)).mean()),
        ("shape", lambda e, a, h, lam: torch.cat([(lam[:1] * e), lam[1:] * (a + h)])),
        ("values", lambda e, a, h, lam: lam[0] * e + (lam[1:] * (a + h)).sum() + 1),
    ], passes=[lambda e, a, h, lam: lam[0] * e + sum(lam[m + 1] * (a[m] + h[m]) for m in range(len(a)))]),
    "q3": Table("my_pack", wrong=[
        ("remainder_kept", lambda d, s, c, p: torch.tensor(
            [[c, *_flat(d)[i:i + s - 2], p] + [0] * (s - 2 - len(_flat(d)[i:i + s - 2]))
             for i in range(0, len(_flat(d)), s - 2)])),
        ("per_document", lambda d, s, c, p: torch.tensor(
            [[c, *doc[i:i + s - 2], p] for doc in d for i in range(0, len(doc) - (s - 2) + 1, s - 2)])),
        ("no_special_tokens", lambda d, s, c, p: torch.tensor(
            [_flat(d)[i:i + s] for i in range(0, len(_flat(d)) - s + 1, s)])),
        ("one_special_token", lambda d, s, c, p: torch.tensor(
            [[c, *_flat(d)[i:i + s - 1]] for i in range(0, len(_flat(d)) - s + 2, s - 1)])),
        ("block_too_long", lambda d, s, c, p: torch.tensor(
            [[c, *_flat(d)[i:i + s], p] for i in range(0, len(_flat(d)) - s + 1, s)])),
        ("wrong_type", lambda d, s, c, p: [[c, *_flat(d)[i:i + s - 2], p]
                                           for i in range(0, len(_flat(d)) - s + 3, s - 2)]),
        ("values", lambda d, s, c, p: nb05.reference_pack(d, s, p, c)),
    ]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb05, TABLES)


def test_q2_reference_is_the_package_total():
    generator = torch.Generator().manual_seed(0)

    def internals(layers, width):
        hidden = tuple(torch.randn(2, 5, width, generator=generator) for _ in range(layers + 1))
        scores = tuple(torch.randn(2, 12, 5, 5, generator=generator) for _ in range(layers))
        return Internals(hidden, scores)

    loss = TransformerDistillationLoss(8, 16, [0, 2, 3, 5, 6])
    parts = loss(internals(4, 8), internals(6, 16))
    attention = torch.stack([parts[f"attention/{m}"] for m in range(1, 5)])
    hidden = torch.stack([parts[f"hidden/{m}"] for m in range(1, 5)])
    total = nb05.reference_layer_objective(parts["embedding"], attention, hidden, torch.ones(5))
    assert torch.allclose(total, parts["total"])


def test_q3_a_mutating_answer_does_not_confuse_the_checker():
    def pops_then_pads(documents, seq_len, cls_id, sep_id):
        result = TABLES["q3"].wrong[0][1](documents, seq_len, cls_id, sep_id)
        documents.clear()
        return result

    assert nb05.q3.check(pops_then_pads).code == "remainder_kept"


def test_q3_reference_is_the_package_packing():
    from tinybert_ref.data.corpus import pack_corpus
    from tinybert_ref.models import load_teacher

    _, tokenizer = load_teacher(tokenizer_only=True)
    texts = ["The pound rose against the dollar.", "Shares in the firm fell sharply on Monday after the report.",
             "Ministers met again."]
    packed = pack_corpus(texts, tokenizer, seq_len=9)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    mine = nb05.reference_pack(ids, 9, tokenizer.cls_token_id, tokenizer.sep_token_id)
    assert torch.equal(mine, torch.tensor(packed["input_ids"]))
    assert nb05.q3.check(nb05.reference_pack).passed
