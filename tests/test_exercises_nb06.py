"""Checkers of notebook 06 (data augmentation): the harness's table for each exercise, and the probes and
references against the package (tokenizer, masked_input, sample_copies)."""

import torch
from exercise_harness import Table, exercise_tests

from tinybert_ref.augment.algorithm import sample_copies, split_sentences
from tinybert_ref.augment.mlm import STOP_WORDS
from tinybert_ref.exercises import nb06


# ---- q1: routes --------------------------------------------------------------------------------------------
def _routes(replaceable, swap=False, pieces_ignored=False):
    def answer(words, pieces):
        routes = []
        for word, word_pieces in zip(words, pieces, strict=True):
            if not replaceable(word):
                routes.append("skip")
            elif pieces_ignored:
                routes.append("mlm")
            else:
                single = len(word_pieces) == 1
                routes.append(("glove" if single else "mlm") if swap else ("mlm" if single else "glove"))
        return routes
    return answer


def _proper(word):
    return word.isalpha() and word.isascii() and word not in STOP_WORDS


def _wrong_gulf(words, pieces):
    return ["skip" if w == "gulf" else r for w, r in zip(words, nb06.reference_routes(words, pieces), strict=True)]


# ---- q2: the masked input ----------------------------------------------------------------------------------
def _reference_then(change):
    def answer(pieces, position, cls_id, sep_id, mask_id):
        ids, types, at = nb06.reference_masked_input(pieces, position, cls_id, sep_id, mask_id)
        return change(list(ids), list(types), at, pieces, mask_id)
    return answer


def _flat(pieces):
    return [t for w in pieces for t in w]


def _at(pieces, position):
    return 1 + sum(len(w) for w in pieces[:position])


def _masked(pieces, position, mask_id, at=None):
    flat = _flat(pieces)
    at = _at(pieces, position) if at is None else at
    return flat[:at - 1] + [mask_id] + flat[at:]


def _types(pieces, extra_first=0):
    return [0] * (len(_flat(pieces)) + 2 + extra_first) + [1] * (len(_flat(pieces)) + 1)


def _last_id_wrong(ids, types, at, pieces, m):
    return ids[:-1] + [0], types, at


def _as_tensors(*args):
    ids, types, at = nb06.reference_masked_input(*args)
    return torch.tensor(ids), torch.tensor(types), torch.tensor(at)


# ---- q3: one copy ------------------------------------------------------------------------------------------
def _copy(rule):
    def answer(words, candidates, coins, picks, p):
        return [rule(w, c, coin, pick, p) for w, c, coin, pick in zip(words, candidates, coins, picks, strict=True)]
    return answer


TABLES = {
    "q1": Table("my_routes", wrong=[
        ("no_skip", _routes(lambda w: True)),
        ("stop_words_kept", _routes(lambda w: w.isalpha() and w.isascii())),
        ("non_letters_kept", _routes(lambda w: w not in STOP_WORDS)),
        ("numbers_kept", _routes(lambda w: w.isascii() and w.isalnum() and w not in STOP_WORDS)),
        ("routes_swapped", _routes(_proper, swap=True)),
        ("pieces_ignored", _routes(_proper, pieces_ignored=True)),
        ("wrong_type", lambda words, pieces: "skip mlm"),
        ("wrong_length", lambda words, pieces: [r for r in nb06.reference_routes(words, pieces) if r != "skip"]),
        ("unknown_route", lambda words, pieces: ["MLM" if r == "mlm" else r
                                                 for r in nb06.reference_routes(words, pieces)]),
        ("values", _wrong_gulf),
        ("raises", lambda words, pieces: words[100]),
    ], passes=[_routes(_proper)]),
    "q2": Table("my_masked_input", wrong=[
        ("not_paired", lambda pieces, position, c, s, m: (
            [c, *_masked(pieces, position, m), s], [0] * (len(_flat(pieces)) + 2), _at(pieces, position))),
        ("word_index_position", lambda pieces, position, c, s, m: (
            [c, *_masked(pieces, position, m, at=position + 1), s, *_flat(pieces), s], _types(pieces), position + 1)),
        ("mask_position_off_by_one", _reference_then(lambda ids, types, at, pieces, m: (ids, types, at - 1))),
        ("original_masked_too", lambda pieces, position, c, s, m: (
            [c, *_masked(pieces, position, m), s, *_masked(pieces, position, m), s], _types(pieces),
            _at(pieces, position))),
        ("segments_all_zero", _reference_then(lambda ids, types, at, pieces, m: (ids, [0] * len(ids), at))),
        ("segment_boundary", _reference_then(lambda ids, types, at, pieces, m: (
            ids, [0] * (len(_flat(pieces)) + 1) + [1] * (len(_flat(pieces)) + 2), at))),
        ("mask_inserted", lambda pieces, position, c, s, m: (
            [c, *_flat(pieces)[:_at(pieces, position) - 1], m, *_flat(pieces)[_at(pieces, position) - 1:], s,
             *_flat(pieces), s], _types(pieces, extra_first=1), _at(pieces, position))),
        ("wrong_type", lambda pieces, position, c, s, m: [c, s]),
        ("wrong_length", _reference_then(lambda ids, types, at, pieces, m: (ids, types[:-1], at))),
        ("values", _reference_then(_last_id_wrong)),
        ("raises", lambda pieces, position, c, s, m: pieces[position][5]),
    ], passes=[_as_tensors]),
    "q3": Table("my_copy", wrong=[
        ("coin_inverted", _copy(lambda w, c, coin, pick, p: c[int(pick * len(c))] if c and coin > p else w)),
        ("ignores_coin", _copy(lambda w, c, coin, pick, p: c[int(pick * len(c))] if c else w)),
        ("always_first", _copy(lambda w, c, coin, pick, p: c[0] if c and coin < p else w)),
        ("coin_used_for_pick", _copy(lambda w, c, coin, pick, p: c[int(coin * len(c))] if c and coin < p else w)),
        ("empty_candidates", _copy(lambda w, c, coin, pick, p: c[int(pick * len(c))] if coin < p else w)),
        ("wrong_type", lambda words, candidates, coins, picks, p: " ".join(words)),
        ("wrong_length", lambda words, candidates, coins, picks, p: [
            w for w, c in zip(words, candidates, strict=True) if c]),
        ("values", _copy(lambda w, c, coin, pick, p: c[-1] if c and coin < p else w)),
        ("raises", lambda words, candidates, coins, picks, p: words[99]),
    ]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb06, TABLES)


def test_q1_names_the_wrong_word():
    message = nb06.q1.check(_wrong_gulf).message
    assert "'gulf'" in message and "expected 'mlm'" in message


def test_q1_probes_are_the_tokenizers_words_and_pieces(teacher_tokenizer):
    for sentence, pairs in nb06._ROUTE_PROBES:
        (words,), (pieces,) = split_sentences([sentence], teacher_tokenizer)
        assert words == [w for w, _ in pairs]
        assert [teacher_tokenizer.convert_ids_to_tokens(p) for p in pieces] == [p for _, p in pairs]
    routes = {r for probe in nb06.route_probes() for r in nb06.reference_routes(*probe.args)}
    assert routes == set(nb06.ROUTES)


def test_q2_says_where_values_differ():
    message = nb06.q2.check(_reference_then(_last_id_wrong)).message
    assert "input_ids first differ at index 14" in message and "[SEP]" in message


def test_q2_reference_is_what_the_masked_lm_gets(teacher_tokenizer):
    from tinybert_ref.augment.algorithm import masked_input

    (words,), (pieces,) = split_sentences(["Oil prices soar as hurricane hits Gulf refineries"], teacher_tokenizer)
    position = words.index("hurricane")
    tok = teacher_tokenizer
    expected = masked_input(pieces, position, tok, pair_with_original=True, max_len=512)
    assert nb06.reference_masked_input(pieces, position, tok.cls_token_id, tok.sep_token_id,
                                       tok.mask_token_id) == expected
    ids, types, at = expected
    assert tok.convert_ids_to_tokens(ids[at]) == "[MASK]" and types.count(1) == len(_flat(pieces)) + 1


def test_q3_in_place_answer_is_told_to_return_a_list():
    def in_place(words, candidates, coins, picks, p):
        words[0] = "gas"

    result = nb06.q3.check(in_place)
    assert result.code == "wrong_type" and "in place" in result.message


def test_q3_reference_reproduces_the_packages_copy():
    args, words = nb06._package_probe()
    example = sample_copies(3, " ".join(args[0]), words, p=0.4, n_copies=1, seed=7, deduplicate=False)[1]
    assert example.text.split(" ") == nb06.reference_copy(*args)
    assert example.replacements  # the probe replaces something
