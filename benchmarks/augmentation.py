"""Data augmentation throughput: Algorithm 1 batched (`augment.algorithm`) vs word by word (`augment.reference`).

Measured, on the same BBC headlines, masked LM, GloVe vectors and seed: sentences/s of the whole
Algorithm 1 (candidates + sampling of N_a copies) for both implementations, interleaved, median of
the repeats; whether both give the same candidate sets and the same augmented sentences; and the
bound DESIGN.md section 6 asks for, the time of the masked-LM forwards alone over the same masked
variants (batched, as `masked_topk` runs them), beside the GloVe neighbour search alone.

The word-by-word path runs the whole masked LM once per single-piece word (full logits, as the
official code); the batched path one forward per batch of masked variants, the MLM head on the masked
rows only. Target: >= 10x. The masked LM is the MiniLM encoder with a new, untrained tied MLM head
(`build_mlm_from_encoder`): its candidates are noise, its cost is the trained model's.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

from tinybert_ref.augment.algorithm import augment, candidate_sets, masked_input, split_sentences, word_route
from tinybert_ref.augment.mlm import masked_topk
from tinybert_ref.augment.reference import augment_word_by_word, candidate_sets_word_by_word

from . import RESULTS_DIR, write_result
from .machine import describe, load_average

__all__ = ["SETTINGS", "TINY_SETTINGS", "run", "masked_variants", "compare_candidates"]

log = logging.getLogger(__name__)

SETTINGS = {"sentences": 64, "k": 15, "n_copies": 20, "p": 0.4, "seed": 0, "batch_size": 64, "repeats": 3,
            "glove_limit": None, "mlm": "minilm encoder + new tied MLM head (untrained)"}
TINY_SETTINGS = {"sentences": 6, "k": 5, "n_copies": 2, "p": 0.4, "seed": 0, "batch_size": 4, "repeats": 1,
                 "glove_limit": 20_000, "mlm": "random 1-layer BertForMaskedLM, hidden 32"}
TARGET_SPEEDUP = 10.0


def _headlines(n: int) -> list[str]:
    from tinybert_ref.data import load_task

    _, data = load_task("bbc")
    return list(data["train"]["text"][:n])


def _masked_lm(tiny: bool):
    """(masked LM, tokenizer): MiniLM + new tied head, or a tiny random one with the MiniLM tokenizer."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from tinybert_ref.augment.mlm import build_mlm_from_encoder
    from tinybert_ref.models import load_teacher

    if not tiny:
        model, tokenizer = build_mlm_from_encoder("minilm")
        return model.eval(), tokenizer
    _, tokenizer = load_teacher("minilm", tokenizer_only=True)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=64, initializer_range=0.2)  # wide logits: no near-ties in the top K
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return BertForMaskedLM(config).eval(), tokenizer


def masked_variants(sentences, mlm, tokenizer) -> tuple[list, list[str]]:
    """The masked inputs the batched path sends to the masked LM (one per single-piece word), and the
    multi-piece words it sends to GloVe, built with the rules `algorithm.candidate_sets` uses."""
    words, pieces = split_sentences(sentences, tokenizer)
    variants, glove_words = [], set()
    for sentence_words, sentence_pieces in zip(words, pieces, strict=True):
        for position, (word, word_pieces) in enumerate(zip(sentence_words, sentence_pieces, strict=True)):
            route = word_route(word, word_pieces)
            if route == "mlm":
                variant = masked_input(sentence_pieces, position, tokenizer, True, mlm.config.max_position_embeddings)
                if variant is not None:
                    variants.append(variant)
            elif route == "glove":
                glove_words.add(word)
    return variants, sorted(glove_words)


def compare_candidates(batched, word_by_word) -> dict:
    """Exact equality of two candidate-set lists, and the share of words whose candidates agree
    exactly (same order) and as sets (a near-tie in the masked LM's logits can swap two neighbours)."""
    pairs = [(a, b) for sa, sb in zip(batched, word_by_word, strict=True) for a, b in zip(sa, sb, strict=True)]
    same = sum(a == b for a, b in pairs)
    same_set = sum(a.word == b.word and set(a.candidates) == set(b.candidates) for a, b in pairs)
    return {"candidates_equal": batched == word_by_word, "words": len(pairs),
            "words_equal": same, "words_equal_as_sets": same_set}


def _timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def run(out_dir: str | Path = RESULTS_DIR, tiny: bool = False) -> dict:
    """Time both implementations and the bound; write out_dir/augmentation.json and return it."""
    from tinybert_ref.augment.wordvectors import WordVectors

    settings = TINY_SETTINGS if tiny else SETTINGS
    machine, start = describe(), time.perf_counter()
    sentences = _headlines(settings["sentences"])
    mlm, tokenizer = _masked_lm(tiny)
    vectors = WordVectors.from_glove_package(limit=settings["glove_limit"])
    parts = {"mlm": mlm, "tokenizer": tokenizer, "word_vectors": vectors, "k": settings["k"], "progress": False}
    sampling = {"p": settings["p"], "n_copies": settings["n_copies"], "seed": settings["seed"]}

    # first round: candidates of both paths (also warms the GloVe unit vectors and the allocator)
    first_batched_s, batched_sets = _timed(candidate_sets, sentences, batch_size=settings["batch_size"], **parts)
    first_wbw_s, wbw_sets = _timed(candidate_sets_word_by_word, sentences, **parts)
    equality = compare_candidates(batched_sets, wbw_sets)

    # timed rounds, interleaved: the whole Algorithm 1 (candidates + N_a copies)
    times = {"batched": [], "word_by_word": []}
    for _ in range(settings["repeats"]):
        seconds, batched_out = _timed(augment, sentences, batch_size=settings["batch_size"], **parts, **sampling)
        times["batched"].append(seconds)
        seconds, wbw_out = _timed(augment_word_by_word, sentences, **parts, **sampling)
        times["word_by_word"].append(seconds)

    # the bounds: masked-LM forwards alone over the same masked variants, GloVe search alone
    variants, glove_words = masked_variants(sentences, mlm, tokenizer)
    mlm_alone = [_timed(masked_topk, mlm, variants, settings["k"], batch_size=settings["batch_size"])[0]
                 for _ in range(settings["repeats"])]
    glove_alone = [_timed(vectors.neighbours_many, glove_words, settings["k"])[0] for _ in range(settings["repeats"])]

    n = len(sentences)
    median = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "benchmark": "augmentation",
        "tiny": tiny,
        "settings": {**settings, "glove_words_loaded": len(vectors), "pair_with_original": True,
                     "threads": machine["torch_threads"]},
        "sentences": n,
        "masked_variants": len(variants),
        "glove_words": len(glove_words),
        "augmented_examples": len(batched_out),
        "first_round_s": {"batched_candidates": first_batched_s, "word_by_word_candidates": first_wbw_s},
        "times_s": times,
        "median_s": median,
        "sentences_per_s": {name: n / seconds for name, seconds in median.items()},
        "speedup": median["word_by_word"] / median["batched"],
        "target_speedup": TARGET_SPEEDUP,
        "bound_s": {"mlm_forwards_alone": statistics.median(mlm_alone),
                    "glove_search_alone": statistics.median(glove_alone),
                    "mlm_forwards_all": mlm_alone, "glove_search_all": glove_alone},
        **equality,
        "outputs_equal": batched_out == wbw_out,
        "machine": machine,
        "load_average_end": load_average(),
        "wall_s": time.perf_counter() - start,
    }
    write_result("augmentation", result, out_dir)
    return result
