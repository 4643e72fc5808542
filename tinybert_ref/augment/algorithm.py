"""Data augmentation, batched (TinyBERT, section 3.1 and Algorithm 1). Taught in notebook 06.

For every word w of a sentence (BERT's basic tokenizer: lower-cased, punctuation split) that is
letters only and no stop word (the official code's rule; other words are never replaced):
  * a single-piece word is replaced by [MASK] and the masked LM's top-K predictions there are its
    candidates (the official code feeds "[CLS] masked [SEP] original [SEP]", `pair_with_original`);
  * a word of several WordPieces gets its K nearest GloVe words (cosine) instead;
  * with no candidates the word stays as it is.
Then N_a times, each word is replaced with probability p_t by a uniformly chosen candidate; the
original sentence is kept first, as the official code writes it, and the copies are the words
joined by spaces (so "Oil's" comes back as "oil ' s": the same WordPieces for an uncased model).
Paper defaults: p_t = 0.4, K = 15, N_a = 20.

Sentence pairs (`augment_pairs`, `augment_dataset(..., text_pair_column=...)`) follow the official code
(TinyBERT/data_augmentation.py, `AugmentProcessor`: `augment_ids` lists both sentence columns of MRPC,
MNLI, STS-B, QQP, QNLI and RTE, e.g. 'MRPC': [3, 4]): it augments each sentence of a pair in turn and
writes one row per augmented sentence with the other sentence of the pair beside it, so a pair gives up
to 2 N_a copies (N_a of each sentence) and its label is copied to all of them. Here the original pair
comes first, once; then the copies of the first sentence (the second kept as it is); then the copies
of the second (the first kept as it is). The official loop writes into the row it reads, so while the
second sentence varies the first stays at its *last* augmented version; we keep the original first
sentence there. Candidates are computed once per distinct sentence (a headline or a paragraph that
appears in several pairs goes through the masked LM once).

Batching is the point of this module: the masked variants of MANY sentences go through the masked
LM together (sorted by length, padded per batch, one forward per batch, the MLM head applied to the
masked rows only) and all multi-piece words are looked up in one `neighbours_many` call.
`reference.py` does the same word by word, as the official code does; both share the rules below.

Deviations from the official code (TinyBERT/data_augmentation.py), each on purpose:
  * candidates must themselves be words Algorithm 1 would replace (letters only, no stop word), and
    not the original word: this drops `##` pieces (as the official code does), punctuation, numbers,
    special/[unused] tokens and function words. The official code keeps whatever BERT returns, so a
    "replacement" was often the word itself, a comma or "the"; a weakly trained offline masked LM
    proposes frequent function words first, and a content word should give way to a content word;
  * sampling uses a numpy Generator seeded by (seed, sentence index), not Python's global `random`,
    so results do not depend on batching, order of calls or other code;
  * a copy equal to the (normalised) original counts as a duplicate (`deduplicate`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from .mlm import is_replaceable, masked_topk, split_words, word_piece_ids

__all__ = [
    "AugmentationError",
    "WordCandidates",
    "Replacement",
    "AugmentedExample",
    "AugmentedPair",
    "candidate_sets",
    "augment",
    "augment_pairs",
    "augment_dataset",
    "split_sentences",
    "word_route",
    "masked_input",
    "keep_candidates",
    "sample_copies",
    "expand",
    "check_inputs",
    "replacement_counts",
]

log = logging.getLogger(__name__)
_CHUNK = 16384  # masked variants held in memory at once (sorted and batched within a chunk)


class AugmentationError(ValueError):
    """Bad input to Algorithm 1, or nothing to augment; the message says how to fix it."""


class WordCandidates(NamedTuple):
    """One word of a sentence and where its candidates come from: "mlm", "glove", "none" (eligible but
    no candidate: kept) or "skip" (stop word, number or punctuation: never replaced, as officially)."""

    word: str
    source: str
    candidates: tuple[str, ...]


class Replacement(NamedTuple):
    position: int  # index of the word in the sentence's word list
    original: str
    replacement: str
    source: str  # "mlm" or "glove"


@dataclass(frozen=True)
class AugmentedExample:
    """One output sentence: the original (is_original, no replacements) or an augmented copy."""

    text: str
    label: object
    original_index: int
    is_original: bool
    replacements: tuple[Replacement, ...]


@dataclass(frozen=True)
class AugmentedPair:
    """One output pair: the original (is_original, augmented ""), or a copy in which the sentence named
    by `augmented` ("text" or "text_pair") was augmented and the other one is the original."""

    text: str
    text_pair: str
    label: object
    original_index: int
    is_original: bool
    augmented: str
    replacements: tuple[Replacement, ...]


# ------------------------------------------------------------------ rules shared with reference.py
def split_sentences(sentences: Sequence[str], tokenizer) -> tuple[list[list[str]], list[list[list[int]]]]:
    """(words per sentence, WordPiece ids per word per sentence)."""
    words = [split_words(sentence, tokenizer) for sentence in sentences]
    return words, word_piece_ids(words, tokenizer)


def word_route(word: str, pieces: Sequence[int]) -> str:
    """Where Algorithm 1 looks for the candidates of `word`: "skip", "mlm" (one piece) or "glove"."""
    if not is_replaceable(word):
        return "skip"
    return "mlm" if len(pieces) == 1 else "glove"


def masked_input(pieces: Sequence[Sequence[int]], position: int, tokenizer, pair_with_original: bool,
                 max_len: int) -> tuple[list[int], list[int], int] | None:
    """(input_ids, token_type_ids, mask position) with word `position` (a single piece) masked.

    pair_with_original: "[CLS] masked [SEP] original [SEP]" with segments 0/1, as the official code;
    else "[CLS] masked [SEP]". Cut to max_len; None when the mask falls beyond it (no candidates).
    """
    flat = [t for word_pieces in pieces for t in word_pieces]
    mask_at = 1 + sum(len(word_pieces) for word_pieces in pieces[:position])
    if mask_at >= max_len - 1:
        return None
    masked = list(flat)
    masked[mask_at - 1] = tokenizer.mask_token_id
    ids = [tokenizer.cls_token_id, *masked, tokenizer.sep_token_id]
    types = [0] * len(ids)
    if pair_with_original:
        ids += [*flat, tokenizer.sep_token_id]
        types += [1] * (len(flat) + 1)
    return ids[:max_len], types[:max_len], mask_at


def keep_candidates(tokens: Sequence[str], word: str) -> tuple[str, ...]:
    """Candidates in rank order that are themselves replaceable words (letters only, no stop word:
    this drops `##` pieces, punctuation, numbers, special and [unused] tokens), without the word
    itself and without repeats. (The official code only drops `##` pieces.)"""
    kept: list[str] = []
    for token in tokens:
        if is_replaceable(token) and token.lower() != word.lower() and token not in kept:
            kept.append(token)
    return tuple(kept)


def sample_copies(index: int, sentence: str, words: Sequence[WordCandidates], label=None, *, p: float,
                  n_copies: int, seed: int, deduplicate: bool = True, stream: int = 0) -> list[AugmentedExample]:
    """The original sentence, then n_copies copies in which each word with candidates is replaced with
    probability p by a uniformly drawn candidate (Algorithm 1's inner loop). RNG: (seed, index), or
    (seed, index, stream) for stream > 0 (the two sentences of a pair draw from streams 1 and 2)."""
    rng = np.random.default_rng([seed, index] if stream == 0 else [seed, index, stream])
    replace = rng.random((n_copies, len(words))) < p
    pick = rng.random((n_copies, len(words)))
    examples = [AugmentedExample(sentence, label, index, True, ())]
    seen = {sentence, " ".join(w.word for w in words)}
    for copy in range(n_copies):
        changes = tuple(
            Replacement(j, w.word, w.candidates[int(pick[copy, j] * len(w.candidates))], w.source)
            for j, w in enumerate(words) if w.candidates and replace[copy, j]
        )
        new_words = [w.word for w in words]
        for change in changes:
            new_words[change.position] = change.replacement
        text = " ".join(new_words)
        if deduplicate and text in seen:
            continue  # the official code writes each distinct sentence once
        seen.add(text)
        examples.append(AugmentedExample(text, label, index, False, changes))
    return examples


def expand(sentences, candidates, labels, *, p: float, n_copies: int, seed: int,
           deduplicate: bool) -> list[AugmentedExample]:
    """sample_copies over every non-empty sentence; raises when nothing comes out."""
    examples = []
    for index, (sentence, words) in enumerate(zip(sentences, candidates, strict=True)):
        if words:
            label = None if labels is None else labels[index]
            examples += sample_copies(index, sentence, words, label, p=p, n_copies=n_copies, seed=seed,
                                      deduplicate=deduplicate)
    empty = sum(1 for words in candidates if not words)
    if empty:
        log.warning("augmentation: %d of %d sentences have no words and were left out", empty, len(sentences))
    if not examples:
        raise AugmentationError(f"augmentation produced no examples: all {len(sentences)} sentences are empty "
                                "after tokenisation; pass sentences with words in them")
    return examples


def check_inputs(sentences, labels=None, p: float = 0.4, k: int = 15, n_copies: int = 20) -> list[str]:
    """Validate Algorithm 1's inputs; returns the sentences as a list of str."""
    if isinstance(sentences, str):
        raise AugmentationError("got one string: pass a list of sentences, e.g. [sentence]")
    sentences = list(sentences)
    if not sentences:
        raise AugmentationError("no sentences to augment: pass a non-empty list of strings")
    bad = next((s for s in sentences if not isinstance(s, str)), None)
    if bad is not None:
        raise AugmentationError(f"sentences must be strings, got {type(bad).__name__} ({bad!r}); convert them")
    if labels is not None and len(labels) != len(sentences):
        raise AugmentationError(f"{len(labels)} labels for {len(sentences)} sentences: pass one label each")
    if not 0 <= p <= 1 or k < 1 or n_copies < 0:
        raise AugmentationError(f"p={p}, k={k}, n_copies={n_copies}: need 0 <= p <= 1, k >= 1, n_copies >= 0 "
                                "(the paper: p_t=0.4, K=15, N_a=20)")
    return sentences


# ------------------------------------------------------------------------------- batched path
def candidate_sets(sentences, *, mlm, tokenizer, word_vectors, k: int = 15, batch_size: int = 64,
                   pair_with_original: bool = True, progress: bool = True,
                   use_mlm: bool = True) -> list[list[WordCandidates]]:
    """The candidates of every word of every sentence (Algorithm 1, lines before the sampling loop).

    Returns [sentence][word] -> WordCandidates(word, source, candidates), candidates best first.
    use_mlm=False sends single-piece words to GloVe too (GloVe-only augmentation; `mlm` may be None).
    """
    sentences = check_inputs(sentences, k=k)
    words, pieces = split_sentences(sentences, tokenizer)
    routes = [[word_route(w, wp) for w, wp in zip(ws, ps, strict=True)]
              for ws, ps in zip(words, pieces, strict=True)]
    if not use_mlm:
        routes = [["glove" if route == "mlm" else route for route in rs] for rs in routes]
    glove = _glove_candidates(words, routes, word_vectors, k)
    spots = [(i, j) for i, rs in enumerate(routes) for j, route in enumerate(rs) if route == "mlm"]
    found = {}
    with tqdm(total=0, desc="masked LM", unit="batch", disable=not progress) as bar:
        for start in range(0, len(spots), _CHUNK):
            found.update(_mlm_candidates(spots[start:start + _CHUNK], words, pieces, mlm, tokenizer, k,
                                         batch_size, pair_with_original, bar))
    return [[_word_candidates(w, route, found.get((i, j), ()), glove.get(w, ()))
             for j, (w, route) in enumerate(zip(ws, rs, strict=True))]
            for i, (ws, rs) in enumerate(zip(words, routes, strict=True))]


def _word_candidates(word: str, route: str, from_mlm: tuple, from_glove: tuple) -> WordCandidates:
    if route == "skip":
        return WordCandidates(word, "skip", ())
    candidates = from_mlm if route == "mlm" else from_glove
    return WordCandidates(word, route if candidates else "none", candidates)


def _glove_candidates(words, routes, word_vectors, k: int) -> dict[str, tuple[str, ...]]:
    """All multi-piece words of all sentences in one neighbours_many call: word -> candidates."""
    unique = sorted({w for ws, rs in zip(words, routes, strict=True)
                     for w, route in zip(ws, rs, strict=True) if route == "glove"})
    if not unique:
        return {}
    neighbours = word_vectors.neighbours_many(unique, k)
    return {word: keep_candidates(found, word) for word, found in zip(unique, neighbours, strict=True)}


def _mlm_candidates(spots, words, pieces, mlm, tokenizer, k, batch_size, pair_with_original, bar) -> dict:
    """(sentence, word) -> candidates for a chunk of single-piece words, one forward per batch."""
    max_len = mlm.config.max_position_embeddings
    variants = [(spot, masked_input(pieces[spot[0]], spot[1], tokenizer, pair_with_original, max_len))
                for spot in spots]
    variants = [(spot, variant) for spot, variant in variants if variant is not None]
    bar.total += -(-len(variants) // batch_size)
    bar.refresh()
    top = masked_topk(mlm, [variant for _, variant in variants], k, batch_size=batch_size, bar=bar)
    return {spot: keep_candidates(tokenizer.convert_ids_to_tokens(row), words[spot[0]][spot[1]])
            for (spot, _), row in zip(variants, top.tolist(), strict=True)}


def augment(sentences, labels=None, *, mlm, tokenizer, word_vectors, p: float = 0.4, k: int = 15,
            n_copies: int = 20, seed: int = 0, batch_size: int = 64, pair_with_original: bool = True,
            deduplicate: bool = True, progress: bool = True, use_mlm: bool = True) -> list[AugmentedExample]:
    """Algorithm 1 over many sentences, batched: per sentence the original, then its augmented copies.

    labels: one per sentence (copied to every output) or None. Deterministic for a given seed.
    """
    sentences = check_inputs(sentences, labels, p, k, n_copies)
    candidates = candidate_sets(sentences, mlm=mlm, tokenizer=tokenizer, word_vectors=word_vectors, k=k,
                                batch_size=batch_size, pair_with_original=pair_with_original, progress=progress,
                                use_mlm=use_mlm)
    return expand(sentences, candidates, labels, p=p, n_copies=n_copies, seed=seed, deduplicate=deduplicate)


def augment_pairs(texts, text_pairs, labels=None, *, mlm, tokenizer, word_vectors, p: float = 0.4, k: int = 15,
                  n_copies: int = 20, seed: int = 0, batch_size: int = 64, pair_with_original: bool = True,
                  deduplicate: bool = True, progress: bool = True, use_mlm: bool = True) -> list[AugmentedPair]:
    """Algorithm 1 over sentence pairs, as the official code augments pair tasks (module docstring): per
    pair the original, then up to n_copies copies of `texts[i]` beside the original `text_pairs[i]`,
    then up to n_copies copies of `text_pairs[i]` beside the original `texts[i]`.

    The copies of a sentence are those `augment` draws (seeded by (seed, pair index, 1 or 2)), so the
    result is deterministic for a given seed. A pair is kept (its original) even when a sentence has
    no words to replace."""
    texts = check_inputs(texts, labels, p, k, n_copies)
    text_pairs = check_inputs(text_pairs, labels, p, k, n_copies)
    if len(texts) != len(text_pairs):
        raise AugmentationError(f"{len(texts)} texts but {len(text_pairs)} text pairs: pass one second sentence "
                                "per first sentence")
    unique = list(dict.fromkeys(texts + text_pairs))
    candidates = dict(zip(unique, candidate_sets(unique, mlm=mlm, tokenizer=tokenizer, word_vectors=word_vectors,
                                                 k=k, batch_size=batch_size, pair_with_original=pair_with_original,
                                                 progress=progress, use_mlm=use_mlm), strict=True))
    examples = []
    for index, (text, text_pair) in enumerate(zip(texts, text_pairs, strict=True)):
        label = None if labels is None else labels[index]
        examples.append(AugmentedPair(text, text_pair, label, index, True, "", ()))
        for stream, column, sentence in ((1, "text", text), (2, "text_pair", text_pair)):
            if not candidates[sentence]:
                continue
            copies = sample_copies(index, sentence, candidates[sentence], label, p=p, n_copies=n_copies, seed=seed,
                                   deduplicate=deduplicate, stream=stream)[1:]
            for copy in copies:
                pair = (copy.text, text_pair) if column == "text" else (text, copy.text)
                examples.append(AugmentedPair(*pair, label, index, False, column, copy.replacements))
    return examples


def augment_dataset(dataset, text_column: str = "text", label_column: str | None = "label",
                    text_pair_column: str | None = None, **kwargs):
    """augment() over a `datasets.Dataset`: returns a Dataset with columns text, label, original_index,
    is_original and replacements (a JSON list of [position, original, replacement, source]).
    The label column keeps its feature type (e.g. ClassLabel). kwargs go to `augment`.

    text_pair_column: a sentence-pair dataset, augmented with `augment_pairs`; the result has columns
    text, text_pair, label, original_index, is_original, augmented ("text", "text_pair" or "" for the
    original) and replacements (positions in the augmented sentence)."""
    from datasets import Dataset, Features, Value

    wanted = (text_column, text_pair_column, label_column)
    missing = [c for c in wanted if c is not None and c not in dataset.column_names]
    if missing:
        raise AugmentationError(f"no column {missing[0]!r} in the dataset (columns: {dataset.column_names}); "
                                "pass text_column=, text_pair_column= and label_column=")
    labels = dataset[label_column] if label_column else None
    label_feature = dataset.features[label_column] if label_column else Value("null")
    if text_pair_column is None:
        examples = augment(dataset[text_column], labels, **kwargs)
        texts = {"text": [e.text for e in examples]}
        extra = {}
    else:
        examples = augment_pairs(dataset[text_column], dataset[text_pair_column], labels, **kwargs)
        texts = {"text": [e.text for e in examples], "text_pair": [e.text_pair for e in examples]}
        extra = {"augmented": [e.augmented for e in examples]}
    features = Features({**{name: Value("string") for name in texts}, "label": label_feature,
                         "original_index": Value("int64"), "is_original": Value("bool"),
                         **{name: Value("string") for name in extra}, "replacements": Value("string")})
    return Dataset.from_dict({
        **texts,
        "label": [e.label for e in examples],
        "original_index": [e.original_index for e in examples],
        "is_original": [e.is_original for e in examples],
        **extra,
        "replacements": [json.dumps([list(r) for r in e.replacements]) for e in examples],
    }, features=features)


def replacement_counts(dataset) -> dict:
    """Over the augmented copies of an `augment_dataset` result: how many words the masked LM replaced,
    how many GloVe replaced, and how many were kept (every other word of every copy's augmented
    sentence: of a pair, the sentence named by its `augmented` column)."""
    counts = {"mlm": 0, "glove": 0, "kept": 0}
    columns = dataset["augmented"] if "augmented" in dataset.column_names else ["text"] * len(dataset)
    sentences = {name: dataset[name] for name in ("text", "text_pair") if name in dataset.column_names}
    for i, (column, is_original, changes) in enumerate(zip(columns, dataset["is_original"], dataset["replacements"],
                                                           strict=True)):
        if is_original:
            continue
        changes = json.loads(changes)
        for *_, source in changes:
            counts[source] += 1
        counts["kept"] += len(sentences[column][i].split()) - len(changes)
    return counts
