"""Data augmentation word by word, as the official code runs it (TinyBERT, Algorithm 1). Notebook 06.

One masked-LM forward per single-piece word (the whole model, full logits, no padding) and one
GloVe search per multi-piece word, exactly the loop of TinyBERT/data_augmentation.py. The candidate
rules and the sampling are imported from `algorithm.py`, so this module differs from the batched one
only in how the work is scheduled. Its two jobs: the baseline of the throughput benchmark, and the
equality check (tests/test_augment.py) that batching changes nothing.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from .algorithm import (
    AugmentedExample,
    WordCandidates,
    check_inputs,
    expand,
    keep_candidates,
    masked_input,
    split_sentences,
    word_route,
)

__all__ = ["candidate_sets_word_by_word", "augment_word_by_word"]


def candidate_sets_word_by_word(sentences, *, mlm, tokenizer, word_vectors, k: int = 15,
                                pair_with_original: bool = True, progress: bool = True
                                ) -> list[list[WordCandidates]]:
    """Same result as `algorithm.candidate_sets`, one sentence and one word at a time."""
    sentences = check_inputs(sentences, k=k)
    was_training = mlm.training
    mlm.eval()
    try:
        return [_sentence_candidates(sentence, mlm, tokenizer, word_vectors, k, pair_with_original)
                for sentence in tqdm(sentences, desc="word by word", disable=not progress)]
    finally:
        mlm.train(was_training)


def _sentence_candidates(sentence, mlm, tokenizer, word_vectors, k, pair_with_original):
    (words,), (pieces,) = split_sentences([sentence], tokenizer)
    result = []
    for position, (word, word_pieces) in enumerate(zip(words, pieces, strict=True)):
        route = word_route(word, word_pieces)
        if route == "skip":
            result.append(WordCandidates(word, "skip", ()))
            continue
        if route == "mlm":
            candidates = _mlm_word(mlm, tokenizer, pieces, position, word, k, pair_with_original)
        else:
            candidates = keep_candidates(word_vectors.neighbours(word, k), word)
        result.append(WordCandidates(word, route if candidates else "none", candidates))
    return result


def _mlm_word(mlm, tokenizer, pieces, position, word, k, pair_with_original) -> tuple[str, ...]:
    """One forward of the whole masked LM for one masked word (the official `_masked_language_model`)."""
    variant = masked_input(pieces, position, tokenizer, pair_with_original, mlm.config.max_position_embeddings)
    if variant is None:
        return ()
    ids, types, mask_at = variant
    device = next(mlm.parameters()).device
    with torch.inference_mode():
        logits = mlm(input_ids=torch.tensor([ids], device=device),
                     token_type_ids=torch.tensor([types], device=device)).logits[0, mask_at]
    top = torch.topk(logits, k).indices.tolist()
    return keep_candidates(tokenizer.convert_ids_to_tokens(top), word)


def augment_word_by_word(sentences, labels=None, *, mlm, tokenizer, word_vectors, p: float = 0.4, k: int = 15,
                         n_copies: int = 20, seed: int = 0, pair_with_original: bool = True,
                         deduplicate: bool = True, progress: bool = True) -> list[AugmentedExample]:
    """Same result as `algorithm.augment` for the same seed, computed word by word."""
    sentences = check_inputs(sentences, labels, p, k, n_copies)
    candidates = candidate_sets_word_by_word(sentences, mlm=mlm, tokenizer=tokenizer, word_vectors=word_vectors,
                                             k=k, pair_with_original=pair_with_original, progress=progress)
    return expand(sentences, candidates, labels, p=p, n_copies=n_copies, seed=seed, deduplicate=deduplicate)
