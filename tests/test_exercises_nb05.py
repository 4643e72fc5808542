"""Checkers of notebook 05 (general distillation): the harness's table for each exercise, and the references
against the package (the objective's total on real forwards, `pack_corpus`)."""

import copy

import torch
from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb05
from tinybert_ref.internals import Internals
from tinybert_ref.losses import attention_loss, embedding_loss, hidden_loss
from tinybert_ref.objective import TransformerDistillationLoss


def _recipe(**changes):
    answer = {"teacher": "pretrained", "data": "general corpus", "losses": {"embedding", "attention", "hidden"}}
    answer.update(changes)
    return lambda: answer


def _flat(documents):
    return [t for d in documents for t in d]


def _pairs(g):
    return list(enumerate(g))[1:]  # (m, g(m)) for m = 1..M


def _eq6(s, t, g, mask, w, layer_of=None, scores_of=None, hidden_of=None, mask_of=None):
    """Eq. 6 written as a learner might, with one index or argument swapped for a wrong one."""
    layer_of = layer_of or (lambda m, n: n)
    scores_of = scores_of or (lambda m, n: (m - 1, n - 1))
    hidden_of = hidden_of or (lambda m, n: (m, n))
    total = embedding_loss(s.hidden_states[0], t.hidden_states[0], w)
    for m, n in _pairs(g):
        n = layer_of(m, n)
        i, j = scores_of(m, n)
        total = total + attention_loss(s.attention_scores[i], t.attention_scores[j], mask if mask_of is None else mask_of)
        i, j = hidden_of(m, n)
        total = total + hidden_loss(s.hidden_states[i], t.hidden_states[j], w)
    return total


def _package_total(s, t, g, mask, w):
    loss = TransformerDistillationLoss(w.in_features, w.out_features, g)
    loss.projection = w
    return loss(s, t, mask)["total"]


TABLES = {
    "q1": Table("my_distillation_loss", wrong=[
        ("mapping_ignored", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, layer_of=lambda m, n: m)),
        ("scores_off_by_one", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, scores_of=lambda m, n: (m - 1, n))),
        ("hidden_off_by_one", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, hidden_of=lambda m, n: (m - 1, n - 1))),
        ("embedding_missing", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w)
         - embedding_loss(s.hidden_states[0], t.hidden_states[0], w)),
        ("layer_part_missing", lambda s, t, g, mask, w: embedding_loss(s.hidden_states[0], t.hidden_states[0], w)
         + sum(attention_loss(s.attention_scores[m - 1], t.attention_scores[n - 1], mask) for m, n in _pairs(g))),
        ("layer_part_missing", lambda s, t, g, mask, w: embedding_loss(s.hidden_states[0], t.hidden_states[0], w)
         + sum(hidden_loss(s.hidden_states[m], t.hidden_states[n], w) for m, n in _pairs(g))),
        ("mask_not_passed", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, mask_of=torch.ones_like(mask))),
        ("mean_not_sum", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w) / len(g)),
        ("raises", lambda s, t, g, mask, w: hidden_loss(t.hidden_states[0], s.hidden_states[0], w)),
        ("raises", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, scores_of=lambda m, n: (m, n))),
        ("shape", lambda s, t, g, mask, w: torch.stack([attention_loss(s.attention_scores[m - 1],
                                                                       t.attention_scores[n - 1], mask)
                                                        for m, n in _pairs(g)])),
        ("wrong_type", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w).item()),
        ("values", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w) + 1),
    ], passes=[_package_total, lambda s, t, g, mask, w: _eq6(s, t, g, mask, w).double().float()]),
    "q2": Table("general_distillation_recipe", wrong=[
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
    "q3": Table("my_layer_objective", wrong=[
        ("lambdas_ignored", lambda e, a, h, lam: e + (a + h).sum()),
        ("lambda_off_by_one", lambda e, a, h, lam: lam[0] * e + sum(lam[m] * (a[m] + h[m]) for m in range(len(a)))),
        ("embedding_missing", lambda e, a, h, lam: (lam[1:] * (a + h)).sum()),
        ("layer_part_missing", lambda e, a, h, lam: lam[0] * e + (lam[1:] * a).sum()),
        ("mean_not_sum", lambda e, a, h, lam: lam[0] * e + (lam[1:] * (a + h)).mean()),
        ("shape", lambda e, a, h, lam: torch.cat([(lam[:1] * e), lam[1:] * (a + h)])),
        ("values", lambda e, a, h, lam: lam[0] * e + (lam[1:] * (a + h)).sum() + 1),
    ], passes=[lambda e, a, h, lam: lam[0] * e + sum(lam[m + 1] * (a[m] + h[m]) for m in range(len(a)))]),
    "q4": Table("my_pack", wrong=[
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


def test_q1_reference_is_the_package_total_on_real_forwards(teacher_bert, teacher_tokenizer):
    """The reference of q1 on the real MiniLM teacher and a small random student (padded batch) is the
    package's Eq. 6, gradients included (the notebook's loop trains through it)."""
    from tinybert_ref.internals import forward_with_internals
    from tinybert_ref.mapping import layer_mapping
    from tinybert_ref.models import build_student

    teacher = copy.deepcopy(teacher_bert)  # forward_with_internals switches the attention in place: keep the
    student = build_student("small", teacher.config, seed=0)  # session's plain (sdpa) teacher as other tests need it
    batch = teacher_tokenizer(["The pound rose.", "Shares in the firm fell sharply on Monday."], padding=True,
                              return_tensors="pt")
    with torch.no_grad():
        teacher_out = forward_with_internals(teacher, **batch)
    student_out = forward_with_internals(student, **batch)
    mapping = layer_mapping(4, 6)
    layer_loss = TransformerDistillationLoss(student.config.hidden_size, teacher.config.hidden_size, mapping)
    mine = nb05.reference_distillation_loss(student_out, teacher_out, mapping, batch["attention_mask"],
                                            layer_loss.projection)
    package = layer_loss(student_out, teacher_out, batch["attention_mask"])["total"]
    assert torch.allclose(mine, package)
    mine.backward()
    assert layer_loss.projection.weight.grad is not None and student.embeddings.word_embeddings.weight.grad is not None


def test_q3_reference_is_the_package_total():
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


def test_q4_a_mutating_answer_does_not_confuse_the_checker():
    def pops_then_pads(documents, seq_len, cls_id, sep_id):
        result = TABLES["q4"].wrong[0][1](documents, seq_len, cls_id, sep_id)
        documents.clear()
        return result

    assert nb05.q4.check(pops_then_pads).code == "remainder_kept"


def test_q4_reference_is_the_package_packing():
    from tinybert_ref.data.corpus import pack_corpus
    from tinybert_ref.models import load_teacher

    _, tokenizer = load_teacher(tokenizer_only=True)
    texts = ["The pound rose against the dollar.", "Shares in the firm fell sharply on Monday after the report.",
             "Ministers met again."]
    packed = pack_corpus(texts, tokenizer, seq_len=9)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    mine = nb05.reference_pack(ids, 9, tokenizer.cls_token_id, tokenizer.sep_token_id)
    assert torch.equal(mine, torch.tensor(packed["input_ids"]))
    assert nb05.q4.check(nb05.reference_pack).passed
