"""Checkers for notebook 05 (general distillation, TinyBERT Section 3.3 and Eq. 6 / Eq. 11).

    q1  my_distillation_loss(student_out, teacher_out, mapping, attention_mask, projection)
                                                              Eq. 6 through g(m), from the models' outputs
    q2  general_distillation_recipe()                        which teacher, which data, which losses
    q3  my_layer_objective(embedding, attention, hidden, lambdas)   Eq. 6 for m = 0..M from its parts
    q4  my_pack(documents, seq_len, cls_id, sep_id)          the corpus packing of `data.corpus.pack_corpus`

q2 checks a dict of answers (a `ValueExercise`); q1, q3 and q4 are `TensorExercise`s. q4 names a known
mistake even when it changes the number of blocks (`mistakes_change_shape`): "remainder_kept" is more
useful than "shape".
"""

from __future__ import annotations

import torch
from torch import nn

from ..data import corpus
from ..internals import Internals
from ..losses import attention_loss, embedding_loss, hidden_loss
from .checker import CheckResult, Mistake, TensorExercise, ValueExercise

__all__ = ["q1", "q2", "q3", "q4", "RECIPE_CHOICES", "reference_distillation_loss", "reference_recipe",
           "reference_layer_objective", "reference_pack"]


# ------------------------------------------------------------ q1: Eq. 6 through g(m), from the outputs
def reference_distillation_loss(student_out, teacher_out, mapping, attention_mask, projection):
    """Eq. 6 with every lambda_m = 1 and Eq. 11 for m = 0..M, from two forwards' `Internals`.

    student_out, teacher_out: hidden_states (M+1 / N+1 tensors (B, L, D') / (B, L, D), [0] = E) and
    attention_scores (M / N tensors (B, H, L, L), [i] = layer i + 1); mapping: [g(0), ..., g(M)];
    attention_mask: (B, L); projection: W, nn.Linear(D', D), shared by Eq. 8 and Eq. 9 as in the
    official code. Equals `TransformerDistillationLoss(D', D, mapping)`'s "total" with that projection.
    """
    total = embedding_loss(student_out.hidden_states[0], teacher_out.hidden_states[0], projection)
    for m in range(1, len(mapping)):
        n = mapping[m]  # the teacher layer g(m) that student layer m learns from
        total = total + attention_loss(student_out.attention_scores[m - 1], teacher_out.attention_scores[n - 1],
                                       attention_mask)
        total = total + hidden_loss(student_out.hidden_states[m], teacher_out.hidden_states[n], projection)
    return total


def _outputs_probe(seed: int, student_layers: int, teacher_layers: int, mapping: list[int]):
    """(student_out, teacher_out, mapping, attention_mask, projection): B = 2, H = 4 heads, L = 6 with
    example 1 padded after 4 tokens (float32 min added to the padded keys' scores, as the models return
    them), D' = 8, D = 16."""
    generator = torch.Generator().manual_seed(seed)
    batch, heads, length = 2, 4, 6
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, 4:] = 0
    additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min

    def outputs(layers: int, width: int, scale: float) -> Internals:
        hidden = tuple(scale * torch.randn(batch, length, width, generator=generator) for _ in range(layers + 1))
        scores = tuple(scale * 3.0 * torch.randn(batch, heads, length, length, generator=generator) + additive
                       for _ in range(layers))
        return Internals(hidden, scores)

    student_out, teacher_out = outputs(student_layers, 8, 0.5), outputs(teacher_layers, 16, 1.0)
    projection = nn.Linear(8, 16)
    with torch.no_grad():
        projection.weight.copy_(0.3 * torch.randn(16, 8, generator=generator))
        projection.bias.copy_(0.1 * torch.randn(16, generator=generator))
    return student_out, teacher_out, mapping, mask, projection


def _explicit_probe():
    """M = 3 student layers, N = 7 teacher layers, g = [0, 2, 4, 6]: every index mistake still computes."""
    return _outputs_probe(50, 3, 7, [0, 2, 4, 6])


def _second_probe():
    return _outputs_probe(51, 2, 5, [0, 2, 4])


def _eq6(s, t, mapping, mask, w, teacher_layer=None, scores_shift=1, hidden_shift=0, use_mask=True,
         embedding=True, attention=True, hidden=True):
    """Eq. 6 with one of the usual mistakes switched in (the defaults give the reference)."""
    teacher_layer = teacher_layer or (lambda m: mapping[m])
    terms = [embedding_loss(s.hidden_states[0], t.hidden_states[0], w)] if embedding else []
    for m in range(1, len(mapping)):
        n = teacher_layer(m)
        if attention:
            terms.append(attention_loss(s.attention_scores[m - 1], t.attention_scores[n - scores_shift],
                                        mask if use_mask else None))
        if hidden:
            terms.append(hidden_loss(s.hidden_states[m - hidden_shift], t.hidden_states[n - hidden_shift], w))
    return torch.stack(terms).sum()


_INDICES = ("hidden_states[0] is E and hidden_states[n] the output of layer n, but attention_scores has no "
            "embedding entry: layer n's scores are attention_scores[n - 1]")

q1 = TensorExercise(
    name="Eq. 6 through g(m), from the models' outputs",
    hints=[
        "With every lambda_m = 1, Eq. 6 is a plain sum. Eq. 11 gives its terms: embedding_loss for m = 0, then "
        "attention_loss + hidden_loss for each student layer m = 1..M against teacher layer n = g(m) = "
        "mapping[m].",
        f"Mind the indices: {_INDICES}. Pass attention_mask to attention_loss, and the projection W to "
        "embedding_loss and hidden_loss.",
        "`total = embedding_loss(s.hidden_states[0], t.hidden_states[0], projection)`, then for m in "
        "1..len(mapping) - 1 with n = mapping[m]: add `attention_loss(s.attention_scores[m - 1], "
        "t.attention_scores[n - 1], attention_mask)` and `hidden_loss(s.hidden_states[m], t.hidden_states[n], "
        "projection)`.",
    ],
    reference=reference_distillation_loss,
    make_inputs=_explicit_probe,
    extra_inputs=[_second_probe],
    describe="a 0-d loss tensor",
    mistakes=[
        Mistake("mapping_ignored", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, teacher_layer=lambda m: m),
                "student layer m was compared with teacher layer m: the mapping was not used. Student layer m "
                "learns from teacher layer n = g(m) = mapping[m]."),
        Mistake("scores_off_by_one", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, scores_shift=0),
                f"the teacher's scores are one layer off: {_INDICES}, so use attention_scores[g(m) - 1]."),
        Mistake("hidden_off_by_one", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, hidden_shift=1),
                f"the hidden states are one layer off: {_INDICES}. Layer m's output is hidden_states[m]."),
        Mistake("embedding_missing", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, embedding=False),
                "the embedding term (m = 0, Eq. 9) is missing: add embedding_loss(E^S, E^T, W), i.e. of "
                "hidden_states[0] on both sides."),
        Mistake("layer_part_missing", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, hidden=False),
                "the hidden-state terms (Eq. 8) are missing: Eq. 11 gives each layer m = 1..M L_attn + L_hidn."),
        Mistake("layer_part_missing", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, attention=False),
                "the attention terms (Eq. 7) are missing: Eq. 11 gives each layer m = 1..M L_attn + L_hidn."),
        Mistake("mask_not_passed", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, use_mask=False),
                "attention_loss was called without attention_mask: the clip neutralises padded keys, but the "
                "rows of padded queries (example 1, positions 4-5) still count. Pass attention_mask."),
        Mistake("mean_not_sum", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w) / len(g),
                "you averaged over the layer pairs; Eq. 6 sums over m."),
        Mistake("mean_not_sum", lambda s, t, g, mask, w: _eq6(s, t, g, mask, w, embedding=False) / (len(g) - 1)
                + embedding_loss(s.hidden_states[0], t.hidden_states[0], w),
                "you averaged over the layers m = 1..M; Eq. 6 sums over m."),
    ],
    success="you assembled Eq. 6 from two forwards' outputs through g(m), as TransformerDistillationLoss does. "
            "Try next: the training loop below calls the same sum at every step.",
)


# ------------------------------------------------------------------------------ q2: the recipe
RECIPE_CHOICES = {
    "teacher": ("pretrained", "fine-tuned"),
    "data": ("general corpus", "task data", "augmented task data"),
    "losses": ("embedding", "attention", "hidden", "prediction"),
}


def reference_recipe() -> dict:
    """General distillation (Section 3.3): the pretrained BERT without fine-tuning as teacher, a large
    general-domain corpus, and the Transformer-layer losses only (Eq. 11 for m = 0..M)."""
    return {"teacher": "pretrained", "data": "general corpus", "losses": {"embedding", "attention", "hidden"}}


def _recipe_mistake(got, expected, args) -> CheckResult | None:
    """The first thing wrong with a well-formed recipe, in the order a learner should fix them."""
    if got["teacher"] == "fine-tuned":
        return CheckResult(False, "fine_tuned_teacher", "general distillation uses the *pretrained* BERT, not "
                           "fine-tuned on any task: it produces a general student that any task can start from. "
                           "The fine-tuned teacher belongs to task distillation (notebook 07).")
    if got["data"] != "general corpus":
        return CheckResult(False, "task_data", f"'{got['data']}' is the data of task distillation (notebook 07); "
                           "general distillation runs on a large general-domain corpus (English Wikipedia, 2,500M "
                           "words, in the paper; BBC article bodies here).")
    if "prediction" in got["losses"]:
        return CheckResult(False, "includes_prediction", "general distillation has no task, so no logits to "
                           "match: Eq. 10 (prediction) is left out; only Eq. 11 for m = 0..M is used.")
    missing = [name for name in RECIPE_CHOICES["losses"][:3] if name not in got["losses"]]
    if missing:
        return CheckResult(False, "missing_layer_loss", f"missing {', '.join(missing)}: general distillation "
                           "uses every Transformer-layer loss of Eq. 11 (embedding at m = 0, attention and hidden "
                           "at m = 1..M).")
    return None


def _recipe_format(answer, args) -> CheckResult | dict:
    """The answer with its loss names lower-cased in a set, or what is wrong with its form."""
    if not isinstance(answer, dict) or set(answer) != set(RECIPE_CHOICES):
        got = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
        return CheckResult(False, "wrong_type", f"return a dict with exactly the keys {sorted(RECIPE_CHOICES)}, "
                           f"got {got}")
    for key in ("teacher", "data"):
        if answer[key] not in RECIPE_CHOICES[key]:
            return CheckResult(False, "unknown_choice", f"{key}={answer[key]!r} is not one of the choices "
                               f"{RECIPE_CHOICES[key]}")
    losses = answer["losses"]
    if isinstance(losses, str) or not hasattr(losses, "__iter__"):
        return CheckResult(False, "wrong_type", f"losses must be a set of names such as {{'attention'}}, got "
                           f"{losses!r}")
    unknown = [x for x in losses if str(x).lower() not in RECIPE_CHOICES["losses"]]
    if unknown:
        return CheckResult(False, "unknown_choice", f"unknown loss name(s) {unknown}; choose from "
                           f"{RECIPE_CHOICES['losses']}")
    return {**answer, "losses": {str(x).lower() for x in losses}}


q2 = ValueExercise(
    name="the general-distillation recipe",
    hints=[
        "General distillation happens once, before any task is known; its student is then fine-tuned by task "
        "distillation for every task.",
        "No task means no fine-tuned teacher and no logits to match. Which teacher exists before any task?",
        "teacher 'pretrained', data 'general corpus', and the three Transformer-layer losses of Eq. 11 "
        "(m = 0..M): {'embedding', 'attention', 'hidden'}.",
    ],
    reference=reference_recipe,
    normalise=_recipe_format,
    inspect=_recipe_mistake,
    success="general distillation = pretrained teacher + general corpus + the embedding, attention and hidden "
            "losses. Try next: what changes in task distillation?",
)


# --------------------------------------------------------------------------- q3: Eq. 6 from parts
def reference_layer_objective(embedding, attention, hidden, lambdas):
    """Eq. 6 with Eq. 11 for m = 0..M: lambda_0 L_embd + sum_{m=1..M} lambda_m (L_attn^m + L_hidn^m).

    embedding: 0-d; attention, hidden: (M,) per student layer m = 1..M; lambdas: (M + 1,) for m = 0..M.
    With every lambda_m = 1 this is `TransformerDistillationLoss`'s "total".
    """
    return lambdas[0] * embedding + (lambdas[1:] * (attention + hidden)).sum()


def _parts_probe():
    generator = torch.Generator().manual_seed(30)
    embedding = torch.rand((), generator=generator) + 0.3
    attention = 10 * torch.rand(4, generator=generator) + 1
    hidden = torch.rand(4, generator=generator) + 0.2
    lambdas = torch.tensor([1.0, 0.5, 2.0, 1.5, 0.25])
    return embedding, attention, hidden, lambdas


def _parts_probe_ones():
    embedding, attention, hidden, _ = _parts_probe()
    return embedding, attention[:3], hidden[:3], torch.ones(4)


q3 = TensorExercise(
    name="the layer-wise objective (Eq. 6)",
    hints=[
        "Eq. 6 is a weighted sum over the layer pairs m = 0..M; Eq. 11 says what each term is: L_embd for m = 0, "
        "L_attn + L_hidn for m = 1..M.",
        "lambdas[0] weighs the embedding term; lambdas[m] for m = 1..M weighs layer m, whose parts are "
        "attention[m - 1] and hidden[m - 1].",
        "`lambdas[0] * embedding + (lambdas[1:] * (attention + hidden)).sum()`",
    ],
    reference=reference_layer_objective,
    make_inputs=_parts_probe,
    extra_inputs=[_parts_probe_ones],
    describe="a 0-d loss tensor",
    mistakes=[
        Mistake("lambdas_ignored", lambda e, a, h, lam: e + a.sum() + h.sum(),
                "the weights lambda_m were left out: Eq. 6 multiplies each layer's loss by its lambda_m "
                "(all 1 in the official code, but not in this probe)."),
        Mistake("lambda_off_by_one", lambda e, a, h, lam: lam[0] * e + (lam[:-1] * (a + h)).sum(),
                "the weights are shifted by one: lambdas[0] belongs to the embeddings (m = 0), so layer m = 1..M "
                "takes lambdas[m], i.e. lambdas[1:]."),
        Mistake("lambda_off_by_one", lambda e, a, h, lam: lam[-1] * e + (lam[:-1] * (a + h)).sum(),
                "the weights are shifted by one: lambdas[0] belongs to the embeddings (m = 0), so layer m = 1..M "
                "takes lambdas[m], i.e. lambdas[1:]."),
        Mistake("embedding_missing", lambda e, a, h, lam: (lam[1:] * (a + h)).sum(),
                "the embedding term (m = 0, Eq. 9) is missing: add lambdas[0] * embedding."),
        Mistake("layer_part_missing", lambda e, a, h, lam: lam[0] * e + (lam[1:] * a).sum(),
                "the hidden-state terms are missing: Eq. 11 gives each layer m = 1..M L_hidn + L_attn."),
        Mistake("layer_part_missing", lambda e, a, h, lam: lam[0] * e + (lam[1:] * h).sum(),
                "the attention terms are missing: Eq. 11 gives each layer m = 1..M L_hidn + L_attn."),
        Mistake("mean_not_sum", lambda e, a, h, lam: lam[0] * e + (lam[1:] * (a + h)).mean(),
                "you averaged over the layers; Eq. 6 sums over m."),
        Mistake("mean_not_sum", lambda e, a, h, lam: (lam[0] * e + (lam[1:] * (a + h)).sum()) / len(lam),
                "you averaged over the layers; Eq. 6 sums over m."),
    ],
    success="you can put Eq. 6 together from the per-layer losses that the training history records. "
            "Try next: rebuild the 'total' curve of the stage's history from its per-layer columns.",
)


# ----------------------------------------------------------------------------- q4: corpus packing
def reference_pack(documents, seq_len: int, cls_id: int, sep_id: int) -> torch.Tensor:
    """Blocks of exactly seq_len ids, [CLS] w_1..w_{seq_len-2} [SEP], cut from the concatenation of all
    documents (token ids without special tokens); the incomplete remainder is dropped. (N, seq_len).
    The same rule as `pack_corpus` (which applies it per batch of 1,000 documents)."""
    flat = [token for document in documents for token in document]
    body = seq_len - 2
    blocks = [[cls_id, *flat[i:i + body], sep_id] for i in range(0, len(flat) - body + 1, body)]
    return torch.tensor(blocks, dtype=torch.long).reshape(len(blocks), seq_len)


def _documents(lengths, start=1000):
    documents, next_id = [], start
    for length in lengths:
        documents.append(list(range(next_id, next_id + length)))
        next_id += length
    return documents


def _pack_probe():
    """4 documents of 5, 3, 7 and 2 token ids (17 in all), seq_len 8: two blocks, 5 ids left over."""
    return _documents([5, 3, 7, 2]), 8, 101, 102


def _pack_probe_long():
    """3 documents of 10, 9 and 11 ids, seq_len 6: seven blocks of 4 ids, 2 left over."""
    return _documents([10, 9, 11], start=2000), 6, 101, 102


def _remainder_kept(documents, seq_len, cls_id, sep_id, pad_id=0):
    flat = [t for d in documents for t in d]
    body = seq_len - 2
    blocks = [[cls_id, *flat[i:i + body], sep_id] for i in range(0, len(flat), body)]
    return torch.tensor([b + [pad_id] * (seq_len - len(b)) for b in blocks])


def _per_document(documents, seq_len, cls_id, sep_id):
    blocks = [reference_pack([d], seq_len, cls_id, sep_id) for d in documents]
    return torch.cat(blocks) if blocks else torch.empty(0, seq_len, dtype=torch.long)


def _raw_chunks(documents, seq_len, cls_id, sep_id):
    flat = [t for d in documents for t in d]
    return torch.tensor([flat[i:i + seq_len] for i in range(0, len(flat) - seq_len + 1, seq_len)])


def _one_special(documents, seq_len, cls_id, sep_id, which):
    flat = [t for d in documents for t in d]
    body = seq_len - 1
    blocks = [flat[i:i + body] for i in range(0, len(flat) - body + 1, body)]
    return torch.tensor([[cls_id, *b] if which == "cls" else [*b, sep_id] for b in blocks])


def _body_of_seq_len(documents, seq_len, cls_id, sep_id):
    flat = [t for d in documents for t in d]
    return torch.tensor([[cls_id, *flat[i:i + seq_len], sep_id] for i in range(0, len(flat) - seq_len + 1, seq_len)])


_BLOCK_SHAPE = "[CLS] + seq_len - 2 ids + [SEP]"

q4 = TensorExercise(
    name="corpus packing",
    hints=[
        "General distillation does not care where one article ends: concatenate all documents' ids into one "
        "stream, then cut the stream into equal blocks.",
        "Each block is [CLS], then seq_len - 2 ids of the stream, then [SEP], so exactly seq_len ids; the "
        "incomplete piece at the end is dropped (no padding, so every position is a real token).",
        "`flat = [t for d in documents for t in d]; body = seq_len - 2; torch.tensor([[cls_id, *flat[i:i + body], "
        "sep_id] for i in range(0, len(flat) - body + 1, body)])`",
    ],
    reference=reference_pack,
    shown_solution=corpus._pack,
    make_inputs=_pack_probe,
    extra_inputs=[_pack_probe_long],
    describe="(N, seq_len) blocks",
    locate=("block", "position"),
    atol=0.0,
    rtol=0.0,
    mistakes_change_shape=True,
    mistakes=[
        Mistake("remainder_kept", _remainder_kept,
                "the incomplete last block was padded and kept; drop it: a packed corpus has no padding, so every "
                "position of every block is a real token."),
        Mistake("per_document", _per_document,
                "you packed each document on its own (dropping each one's remainder); concatenate all documents "
                "into one stream first, so nothing but the very end is lost."),
        Mistake("no_special_tokens", _raw_chunks,
                f"the blocks have no [CLS]/[SEP]: each block is {_BLOCK_SHAPE}, as BERT saw text in pretraining."),
        Mistake("one_special_token", lambda d, s, c, p: _one_special(d, s, c, p, "cls"),
                f"the blocks lack [SEP]: each block is {_BLOCK_SHAPE}."),
        Mistake("one_special_token", lambda d, s, c, p: _one_special(d, s, c, p, "sep"),
                f"the blocks lack [CLS]: each block is {_BLOCK_SHAPE}."),
        Mistake("block_too_long", _body_of_seq_len,
                f"each block must be exactly seq_len ids including the two special tokens: {_BLOCK_SHAPE}."),
    ],
    success="you cut a corpus into fixed-length blocks the way pack_corpus does. Try next: count how many "
            "tokens the dropped remainders cost on the real corpus.",
)
