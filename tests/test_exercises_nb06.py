"""Checkers of notebook 06: reference passes, starter is `not_attempted`, every catalogued mistake is named by
its code, the probes and references agree with the package (tokenizer, masked_input, sample_copies), and the
workshop solutions pass."""

import importlib.util
from pathlib import Path

import pytest
import torch

from tinybert_ref.augment.algorithm import sample_copies, split_sentences
from tinybert_ref.augment.mlm import STOP_WORDS
from tinybert_ref.exercises import nb06

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions" / "nb06.py"


def _solutions():
    spec = importlib.util.spec_from_file_location("nb06_solutions", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _starter(*args):
    raise NotImplementedError


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


ROUTES = {
    "no_skip": _routes(lambda w: True),
    "stop_words_kept": _routes(lambda w: w.isalpha() and w.isascii()),
    "non_letters_kept": _routes(lambda w: w not in STOP_WORDS),
    "numbers_kept": _routes(lambda w: w.isascii() and w.isalnum() and w not in STOP_WORDS),
    "routes_swapped": _routes(_proper, swap=True),
    "pieces_ignored": _routes(_proper, pieces_ignored=True),
    "wrong_type": lambda words, pieces: "skip mlm",
    "wrong_length": lambda words, pieces: [r for r in nb06.reference_routes(words, pieces) if r != "skip"],
    "unknown_route": lambda words, pieces: ["MLM" if r == "mlm" else r for r in nb06.reference_routes(words, pieces)],
    "values": lambda words, pieces: ["skip" if w == "gulf" else r
                                     for w, r in zip(words, nb06.reference_routes(words, pieces), strict=True)],
    "raises": lambda words, pieces: words[100],
    "not_attempted": _starter,
}


@pytest.mark.parametrize("code", sorted(ROUTES))
def test_q1_codes(code):
    assert nb06.q1.check(ROUTES[code]).code == code


def test_q1_passes_and_names_the_wrong_word():
    assert nb06.q1.check(nb06.reference_routes).passed
    assert nb06.q1.check(_routes(_proper)).passed
    message = nb06.q1.check(ROUTES["values"]).message
    assert "'gulf'" in message and "expected 'mlm'" in message


def test_q1_probes_are_the_tokenizers_words_and_pieces(teacher_tokenizer):
    for sentence, pairs in nb06._ROUTE_PROBES:
        (words,), (pieces,) = split_sentences([sentence], teacher_tokenizer)
        assert words == [w for w, _ in pairs]
        assert [teacher_tokenizer.convert_ids_to_tokens(p) for p in pieces] == [p for _, p in pairs]
    routes = {r for args, _ in nb06.route_probes() for r in nb06.reference_routes(*args)}
    assert routes == set(nb06.ROUTES)


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


MASKED_INPUTS = {
    "not_paired": lambda pieces, position, c, s, m: (
        [c, *_masked(pieces, position, m), s], [0] * (len(_flat(pieces)) + 2), _at(pieces, position)),
    "word_index_position": lambda pieces, position, c, s, m: (
        [c, *_masked(pieces, position, m, at=position + 1), s, *_flat(pieces), s],
        [0] * (len(_flat(pieces)) + 2) + [1] * (len(_flat(pieces)) + 1), position + 1),
    "mask_position_off_by_one": _reference_then(lambda ids, types, at, pieces, m: (ids, types, at - 1)),
    "original_masked_too": lambda pieces, position, c, s, m: (
        [c, *_masked(pieces, position, m), s, *_masked(pieces, position, m), s],
        [0] * (len(_flat(pieces)) + 2) + [1] * (len(_flat(pieces)) + 1), _at(pieces, position)),
    "segments_all_zero": _reference_then(lambda ids, types, at, pieces, m: (ids, [0] * len(ids), at)),
    "segment_boundary": _reference_then(
        lambda ids, types, at, pieces, m: (ids, [0] * (len(_flat(pieces)) + 1) + [1] * (len(_flat(pieces)) + 2), at)),
    "mask_inserted": lambda pieces, position, c, s, m: (
        [c, *_flat(pieces)[:_at(pieces, position) - 1], m, *_flat(pieces)[_at(pieces, position) - 1:], s,
         *_flat(pieces), s],
        [0] * (len(_flat(pieces)) + 3) + [1] * (len(_flat(pieces)) + 1), _at(pieces, position)),
    "wrong_type": lambda pieces, position, c, s, m: [c, s],
    "wrong_length": _reference_then(lambda ids, types, at, pieces, m: (ids, types[:-1], at)),
    "values": _reference_then(lambda ids, types, at, pieces, m: (ids[:-1] + [0], types, at)),
    "raises": lambda pieces, position, c, s, m: pieces[position][5],
    "not_attempted": _starter,
}


@pytest.mark.parametrize("code", sorted(MASKED_INPUTS))
def test_q2_codes(code):
    assert nb06.q2.check(MASKED_INPUTS[code]).code == code


def test_q2_accepts_tensors_and_says_where_values_differ():
    def as_tensors(*args):
        ids, types, at = nb06.reference_masked_input(*args)
        return torch.tensor(ids), torch.tensor(types), torch.tensor(at)

    assert nb06.q2.check(nb06.reference_masked_input).passed
    assert nb06.q2.check(as_tensors).passed
    message = nb06.q2.check(MASKED_INPUTS["values"]).message
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


# ---- q3: one copy ------------------------------------------------------------------------------------------

def _copy(rule):
    def answer(words, candidates, coins, picks, p):
        return [rule(w, c, coin, pick, p) for w, c, coin, pick in zip(words, candidates, coins, picks, strict=True)]
    return answer


COPIES = {
    "coin_inverted": _copy(lambda w, c, coin, pick, p: c[int(pick * len(c))] if c and coin > p else w),
    "ignores_coin": _copy(lambda w, c, coin, pick, p: c[int(pick * len(c))] if c else w),
    "always_first": _copy(lambda w, c, coin, pick, p: c[0] if c and coin < p else w),
    "coin_used_for_pick": _copy(lambda w, c, coin, pick, p: c[int(coin * len(c))] if c and coin < p else w),
    "empty_candidates": _copy(lambda w, c, coin, pick, p: c[int(pick * len(c))] if coin < p else w),
    "wrong_type": lambda words, candidates, coins, picks, p: " ".join(words),
    "wrong_length": lambda words, candidates, coins, picks, p: [
        w for w, c in zip(words, candidates, strict=True) if c],
    "values": _copy(lambda w, c, coin, pick, p: c[-1] if c and coin < p else w),
    "raises": lambda words, candidates, coins, picks, p: words[99],
    "not_attempted": _starter,
}


@pytest.mark.parametrize("code", sorted(COPIES))
def test_q3_codes(code):
    assert nb06.q3.check(COPIES[code]).code == code


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
    assert nb06.q3.check(nb06.reference_copy).passed


# ---- hints, solutions, workshop ----------------------------------------------------------------------------

@pytest.mark.parametrize("exercise", [nb06.q1, nb06.q2, nb06.q3], ids=lambda e: e.name)
def test_hints_and_solution(exercise):
    assert 1 <= len(exercise.hints) <= 3
    assert exercise.hint(99).startswith(f"Hint {len(exercise.hints)}/")
    assert "def " in exercise.solution()


def test_workshop_solutions_pass():
    solutions = _solutions()
    assert nb06.q1.check(solutions.my_routes).passed
    assert nb06.q2.check(solutions.my_masked_input).passed
    assert nb06.q3.check(solutions.my_copy).passed
