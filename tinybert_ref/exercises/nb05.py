"""Checkers for notebook 05 (general distillation, TinyBERT Section 3.3 and Eq. 6 / Eq. 11).

    q1  general_distillation_recipe()                        which teacher, which data, which losses
    q2  my_layer_objective(embedding, attention, hidden, lambdas)   Eq. 6 for m = 0..M from its parts
    q3  my_pack(documents, seq_len, cls_id, sep_id)          the corpus packing of `data.corpus.pack_corpus`

q1 checks a dict of answers (a `ValueExercise`); q2 and q3 are `TensorExercise`s. q3 names a known
mistake even when it changes the number of blocks (`mistakes_change_shape`): "remainder_kept" is more
useful than "shape".
"""

from __future__ import annotations

import torch

from ..data import corpus
from .checker import CheckResult, Mistake, TensorExercise, ValueExercise

__all__ = ["q1", "q2", "q3", "RECIPE_CHOICES", "reference_recipe", "reference_layer_objective", "reference_pack"]


# ------------------------------------------------------------------------------ q1: the recipe
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
                           "general distillation runs on a large general-domain corpus (BooksCorpus and "
                           "Wikipedia-like text in the paper, BBC article bodies here).")
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


q1 = ValueExercise(
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


# --------------------------------------------------------------------------- q2: Eq. 6 from parts
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


q2 = TensorExercise(
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


# ----------------------------------------------------------------------------- q3: corpus packing
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

q3 = TensorExercise(
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
