"""Workshop solutions for notebook 06 (data augmentation, Algorithm 1). Each passes `tinybert_ref.exercises.nb06`."""

import re

from tinybert_ref.augment.mlm import STOP_WORDS


def my_routes(words, pieces):
    """'skip' unless the word is letters a-z only and no stop word; then 'mlm' for one piece, 'glove' for several."""
    routes = []
    for word, word_pieces in zip(words, pieces, strict=True):
        if not re.fullmatch(r"[a-z]+", word.lower()) or word.lower() in STOP_WORDS:
            routes.append("skip")
        elif len(word_pieces) == 1:
            routes.append("mlm")
        else:
            routes.append("glove")
    return routes


def my_masked_input(pieces, position, cls_id, sep_id, mask_id):
    """'[CLS] masked pieces [SEP] original pieces [SEP]', segments 0 then 1, and the index of [MASK]."""
    flat = [token for word_pieces in pieces for token in word_pieces]
    mask_at = 1 + sum(len(word_pieces) for word_pieces in pieces[:position])  # count pieces, not words
    masked = flat[:mask_at - 1] + [mask_id] + flat[mask_at:]
    input_ids = [cls_id, *masked, sep_id, *flat, sep_id]
    token_type_ids = [0] * (len(flat) + 2) + [1] * (len(flat) + 1)
    return input_ids, token_type_ids, mask_at


def my_copy(words, candidates, coins, picks, p):
    """Word j becomes a uniformly picked candidate when it has candidates and its coin is below p_t."""
    new_words = list(words)
    for j, (options, coin, pick) in enumerate(zip(candidates, coins, picks, strict=True)):
        if options and coin < p:
            new_words[j] = options[int(pick * len(options))]
    return new_words
