"""Checkers for notebook 06 (data augmentation, TinyBERT Section 3.1 and Algorithm 1).

    q1  my_routes(words, pieces)                                  where each word's candidates come from
    q2  my_masked_input(pieces, position, cls_id, sep_id, mask_id)   the masked LM's input for one word
    q3  my_copy(words, candidates, coins, picks, p)               one augmented copy from given random draws

The references are the package's rules (`augment.algorithm.word_route`, `masked_input`, `sample_copies`), so an
answer that passes computes what the pipeline's augmentation stage computes. Answers are plain Python values
(lists, tuples, ints) checked by `checker.ValueExercise`: compared exactly, the first probe that differs is
reported, with a known mistake named when one matches.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from types import SimpleNamespace

from ..augment.algorithm import masked_input, sample_copies, word_route
from .checker import CheckResult, Mistake, Probe, ValueExercise

__all__ = ["q1", "q2", "q3", "ROUTES", "reference_routes", "reference_masked_input", "reference_copy"]

ROUTES = ("skip", "mlm", "glove")


# ------------------------------------------------------------------------------- q1: the routes
def reference_routes(words: Sequence[str], pieces: Sequence[Sequence[str]]) -> list[str]:
    """Per word: "skip" (not letters a-z only, or a stop word: never replaced, as the official code),
    "mlm" (one WordPiece: masked, the masked LM proposes) or "glove" (several pieces: GloVe neighbours)."""
    return [word_route(word, word_pieces) for word, word_pieces in zip(words, pieces, strict=True)]


# Real BERT-uncased WordPieces of three headlines (tests/test_exercises_nb06.py checks them against the tokenizer).
_ROUTE_PROBES = [
    ("Oil's price soars 5% as hurricane hits Gulf refineries",
     [("oil", ["oil"]), ("'", ["'"]), ("s", ["s"]), ("price", ["price"]), ("soars", ["so", "##ars"]),
      ("5", ["5"]), ("%", ["%"]), ("as", ["as"]), ("hurricane", ["hurricane"]), ("hits", ["hits"]),
      ("gulf", ["gulf"]), ("refineries", ["ref", "##iner", "##ies"])]),
    ("Chancellor unveils the £5bn budget, boosting pensioners and savers",
     [("chancellor", ["chancellor"]), ("unveils", ["un", "##ve", "##ils"]), ("the", ["the"]),
      ("£5bn", ["£5", "##bn"]), ("budget", ["budget"]), (",", [","]), ("boosting", ["boost", "##ing"]),
      ("pensioners", ["pension", "##ers"]), ("and", ["and"]), ("savers", ["save", "##rs"])]),
    ("Xbox 360 sales beat forecasts in Japan",
     [("xbox", ["xbox"]), ("360", ["360"]), ("sales", ["sales"]), ("beat", ["beat"]),
      ("forecasts", ["forecast", "##s"]), ("in", ["in"]), ("japan", ["japan"])]),
]


def route_probes() -> list[Probe]:
    return [Probe(([w for w, _ in pairs], [p for _, p in pairs]), f"the headline {sentence!r}")
            for sentence, pairs in _ROUTE_PROBES]


def _by_pieces(words, pieces, replaceable: Callable[[str], bool]) -> list[str]:
    return ["skip" if not replaceable(w) else "mlm" if len(p) == 1 else "glove"
            for w, p in zip(words, pieces, strict=True)]


def _stop(word: str) -> bool:
    from ..augment.mlm import STOP_WORDS

    return word.lower() in STOP_WORDS


def _letters(word: str) -> bool:
    return word.isascii() and word.isalpha()


def _normalise_routes(got, args):
    words = args[0]
    if isinstance(got, str) or not isinstance(got, (list, tuple)):
        return CheckResult(False, "wrong_type", f"return a list with one route per word, got {type(got).__name__}")
    if len(got) != len(words):
        return CheckResult(False, "wrong_length", f"{len(words)} words but {len(got)} routes: return exactly one "
                           "route per word, in order (a skipped word gets 'skip', it is not left out)")
    unknown = sorted({str(r) for r in got} - set(ROUTES))
    if unknown:
        return CheckResult(False, "unknown_route", f"unknown route(s) {unknown}; each word gets one of {ROUTES}")
    return list(got)


def _differ_routes(got, expected, args):
    words, pieces = args
    wrong = [f"{words[j]!r} {pieces[j]} -> {got[j]!r}, expected {expected[j]!r}"
             for j in range(len(words)) if got[j] != expected[j]]
    return f"{len(wrong)} word(s) routed wrongly: " + "; ".join(wrong[:4])


q1 = ValueExercise(
    name="where each word's candidates come from",
    hints=[
        "Algorithm 1 line 5 asks one question per word: one WordPiece or several? The official code asks another "
        "first: may this word be replaced at all?",
        "A word is replaced only if it is letters a-z only AND not in STOP_WORDS (numbers, punctuation, the "
        "apostrophe's pieces and 'the', 'as', 'and' are always 'skip'). Then one piece -> 'mlm', several -> 'glove'.",
        "`['skip' if not (w.isascii() and w.isalpha()) or w in STOP_WORDS else 'mlm' if len(p) == 1 else 'glove' "
        "for w, p in zip(words, pieces)]`",
    ],
    reference=reference_routes,
    shown_solution=word_route,
    probes=route_probes,
    normalise=_normalise_routes,
    differ=_differ_routes,
    mistakes=[
        Mistake("no_skip", lambda words, pieces: _by_pieces(words, pieces, lambda w: True),
                "every word got 'mlm' or 'glove', but Algorithm 1 as the official code runs it never replaces "
                "stop words, numbers or punctuation: those words are 'skip'."),
        Mistake("stop_words_kept", lambda words, pieces: _by_pieces(words, pieces, _letters),
                "stop words ('as', 'the', 'and', ...) went to the masked LM; the official code skips every word "
                "of its stop-word list (STOP_WORDS): they carry no topic and a swapped 'the' teaches nothing."),
        Mistake("non_letters_kept", lambda words, pieces: _by_pieces(words, pieces, lambda w: not _stop(w)),
                "numbers and punctuation ('5', '%', ',', the apostrophe) were routed; only words of letters a-z "
                "are ever replaced (the official `_is_valid`)."),
        Mistake("numbers_kept", lambda words, pieces: _by_pieces(
                    words, pieces, lambda w: w.isascii() and w.isalnum() and not _stop(w)),
                "numbers ('5', '360') were routed: 'letters only' excludes digits too (isalnum lets them "
                "through; use isalpha, or the regex [a-z]+)."),
        Mistake("routes_swapped", lambda words, pieces: [
                    {"mlm": "glove", "glove": "mlm"}.get(r, r) for r in reference_routes(words, pieces)],
                "'mlm' and 'glove' are the wrong way round: a single-piece word can be masked as one [MASK] token "
                "and predicted by the masked LM; a word of several pieces cannot, so it gets GloVe neighbours."),
        Mistake("pieces_ignored", lambda words, pieces: [
                    "mlm" if r == "glove" else r for r in reference_routes(words, pieces)],
                "every replaceable word went to the masked LM, multi-piece ones too: one [MASK] cannot stand for "
                "'ref ##iner ##ies', so Algorithm 1 sends words of several pieces to GloVe."),
    ],
    success="you route words exactly as the package does: skip (stop words, numbers, punctuation), masked LM "
            "(one piece), GloVe (several pieces). Try next: count the routes over all training headlines.",
)


# --------------------------------------------------------------------------- q2: the masked input
_NAMES = {101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}


def reference_masked_input(pieces, position: int, cls_id: int, sep_id: int, mask_id: int):
    """(input_ids, token_type_ids, mask_position) for word `position` (a single piece) masked, as the official
    code feeds it: "[CLS] sentence-with-[MASK] [SEP] original sentence [SEP]", segments 0 then 1."""
    tokenizer = SimpleNamespace(cls_token_id=cls_id, sep_token_id=sep_id, mask_token_id=mask_id)
    return masked_input(pieces, position, tokenizer, pair_with_original=True, max_len=512)


def _pieces(lengths, start):
    pieces, next_id = [], start
    for length in lengths:
        pieces.append(list(range(next_id, next_id + length)))
        next_id += length
    return pieces


def masked_input_probes() -> list[Probe]:
    ids = (101, 102, 103)  # [CLS], [SEP], [MASK] as in BERT's uncased vocabulary
    return [Probe((_pieces([1, 3, 1, 1], 2000), 2, *ids), "4 words of 1, 3, 1, 1 pieces, word 2 masked"),
            Probe((_pieces([1, 1, 2], 3000), 0, *ids), "3 words of 1, 1, 2 pieces, word 0 masked"),
            Probe((_pieces([2, 1, 1, 2, 1], 4000), 4, *ids), "5 words of 2, 1, 1, 2, 1 pieces, the last word masked")]


def _variant(word_index=False, paired=True, original_masked=False, segments="pair", insert=False, shift=0):
    """A way of building the input, wrong in the ways named; all defaults build the right one."""
    def build(pieces, position, cls_id, sep_id, mask_id):
        flat = [t for word in pieces for t in word]
        at = 1 + (position if word_index else sum(len(word) for word in pieces[:position]))
        masked = flat[:at - 1] + [mask_id] + flat[at - (1 if insert else 0):]
        first = [cls_id, *masked, sep_id]
        ids = first + ([*(masked if original_masked else flat), sep_id] if paired else [])
        boundary = len(first) - (segments == "sep_in_second")
        types = [0] * len(ids) if segments == "zero" else [0] * boundary + [1] * (len(ids) - boundary)
        return ids, types, at + shift
    return build


def _as_ints(values):
    if hasattr(values, "tolist"):
        values = values.tolist()
    return values


def _normalise_masked_input(got, args):
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return CheckResult(False, "wrong_type", "return a tuple (input_ids, token_type_ids, mask_position), got "
                           f"{type(got).__name__}{f' of {len(got)} items' if isinstance(got, (tuple, list)) else ''}")
    ids, types, at = (_as_ints(x) for x in got)
    if not isinstance(ids, list) or not isinstance(types, list):
        return CheckResult(False, "wrong_type", "input_ids and token_type_ids must be lists of ints (or 1-d tensors)")
    if isinstance(at, bool) or not isinstance(at, int):
        return CheckResult(False, "wrong_type", f"mask_position must be an int (the index of [MASK] in input_ids), "
                           f"got {type(at).__name__}")
    if len(ids) != len(types):
        return CheckResult(False, "wrong_length", f"{len(ids)} input_ids but {len(types)} token_type_ids: one "
                           "segment id per token")
    return list(ids), list(types), at


def _tokens(ids) -> str:
    return " ".join(_NAMES.get(i, str(i)) for i in ids)


def _differ_masked_input(got, expected, args):
    for name, g, e in zip(("input_ids", "token_type_ids"), got[:2], expected[:2], strict=True):
        if g != e:
            index = next((i for i, (a, b) in enumerate(zip(g, e, strict=False)) if a != b), min(len(g), len(e)))
            return (f"{name} first differ at index {index}: expected {_tokens(e) if name == 'input_ids' else e}, "
                    f"got {_tokens(g) if name == 'input_ids' else g}")
    return (f"mask_position should be {expected[2]}, the index of [MASK] in input_ids (the masked LM's top-K is "
            f"read there), got {got[2]}")


q2 = ValueExercise(
    name="the masked LM's input for one word",
    hints=[
        "Flatten the pieces of all words into one list; the masked word's single piece sits after [CLS] and after "
        "all the pieces of the words before it (count pieces, not words).",
        "The official code feeds a sentence pair: [CLS] + the pieces with that one piece replaced by [MASK] + [SEP], "
        "then the ORIGINAL pieces + [SEP]. Segment ids are 0 up to and including the first [SEP], 1 after it.",
        "`flat = [t for w in pieces for t in w]; at = 1 + sum(len(w) for w in pieces[:position]); masked = "
        "flat[:at - 1] + [mask_id] + flat[at:]; ids = [cls_id, *masked, sep_id, *flat, sep_id]; types = "
        "[0] * (len(flat) + 2) + [1] * (len(flat) + 1); return ids, types, at`",
    ],
    reference=reference_masked_input,
    shown_solution=masked_input,
    probes=masked_input_probes,
    normalise=_normalise_masked_input,
    differ=_differ_masked_input,
    mistakes=[
        Mistake("not_paired", _variant(paired=False),
                "you built '[CLS] masked [SEP]' only; the official code appends the original sentence as a second "
                "segment, '[CLS] masked [SEP] original [SEP]' with segment ids 0 then 1, so the masked LM sees the "
                "word it replaces (the package's pair_with_original=True)."),
        Mistake("word_index_position", _variant(word_index=True),
                "[MASK] sits at 1 + the word's index, but positions count WordPieces: every multi-piece word before "
                "the masked one shifts it (mask position = 1 + the number of pieces before the word)."),
        Mistake("mask_position_off_by_one", _variant(shift=-1),
                "input_ids are right, but mask_position is one too small: [CLS] is at index 0, so the word's piece "
                "is at 1 + the number of pieces before it."),
        Mistake("original_masked_too", _variant(original_masked=True),
                "the second segment must be the ORIGINAL sentence; you masked the word there too, so nothing in the "
                "input says which word is being replaced."),
        Mistake("segments_all_zero", _variant(segments="zero"),
                "all token_type_ids are 0; the original sentence after the first [SEP] is segment 1 (as in BERT's "
                "sentence pairs)."),
        Mistake("segment_boundary", _variant(segments="sep_in_second"),
                "the first [SEP] belongs to segment 0: ids 0 up to and including it, 1 for the original sentence "
                "and the final [SEP]."),
        Mistake("mask_inserted", _variant(insert=True),
                "you inserted [MASK] before the word instead of replacing the word's piece with it: the masked "
                "segment must keep the sentence's length."),
    ],
    success="you build the masked LM's input exactly as the official code (and `masked_input`) does. The batched "
            "path pads many of these to one length and runs them together.",
)


# ----------------------------------------------------------------------------- q3: one copy
def reference_copy(words, candidates, coins, picks, p: float) -> list[str]:
    """One copy: word j becomes candidates[j][int(picks[j] * len(candidates[j]))] when it has candidates and
    coins[j] < p, else it stays (the rule of `sample_copies`, one row of its draws)."""
    return [c[int(pick * len(c))] if c and coin < p else word
            for word, c, coin, pick in zip(words, candidates, coins, picks, strict=True)]


_WORDS = ["oil", "prices", "soar", "as", "hurricane", "hits", "gulf", "refineries"]
_CANDIDATES = [("gas", "crude"), (), ("plummet", "soars", "plunge"), (), ("storm", "typhoon", "cyclone", "tornado"),
               ("strikes",), (), ("refinery", "pipelines")]
_COINS = [0.1, 0.2, 0.7, 0.05, 0.39, 0.9, 0.3, 0.25]
_PICKS = [0.8, 0.5, 0.95, 0.1, 0.6, 0.3, 0.2, 0.45]


def _package_probe():
    """A row of the draws `sample_copies` makes, with the copy it wrote (a test checks they agree)."""
    import numpy as np

    from ..augment.algorithm import WordCandidates

    words = [WordCandidates(w, "mlm" if c else "skip", c) for w, c in zip(_WORDS, _CANDIDATES, strict=True)]
    rng = np.random.default_rng([7, 3])  # sample_copies(3, ..., seed=7) draws exactly these
    coins, picks = rng.random((1, len(words))), rng.random((1, len(words)))
    return (list(_WORDS), [list(c) for c in _CANDIDATES], coins[0].tolist(), picks[0].tolist(), 0.4), words


def copy_probes() -> list[Probe]:
    package_args, _ = _package_probe()
    base = (list(_WORDS), [list(c) for c in _CANDIDATES], list(_COINS), list(_PICKS))
    return [Probe((*base, 0.4), f"words {_WORDS}, coins {_COINS}, picks {_PICKS}, p = 0.4"),
            Probe((*base, 1.0), "the same words and draws with p = 1.0"),
            Probe(package_args, "the first row of the draws `sample_copies(3, ..., p=0.4, seed=7)` makes")]


def _rule(choose):
    """A wrong copy rule: choose(word, candidates, coin, pick, p) -> the word written, for every word."""
    def answer(words, candidates, coins, picks, p):
        return [choose(*row, p) for row in zip(words, candidates, coins, picks, strict=True)]
    return answer


_coin_inverted = _rule(lambda w, c, coin, pick, p: c[int(pick * len(c))] if c and coin >= p else w)
_first = _rule(lambda w, c, coin, pick, p: c[0] if c and coin < p else w)
_coin_for_pick = _rule(lambda w, c, coin, pick, p: c[int(coin * len(c))] if c and coin < p else w)
_always = _rule(lambda w, c, coin, pick, p: c[int(pick * len(c))] if c else w)


def _normalise_copy(got, args):
    if isinstance(got, str):
        return CheckResult(False, "wrong_type", "you returned a string; return the list of words (the notebook "
                           "joins them with spaces)")
    if not isinstance(got, (list, tuple)):
        return CheckResult(False, "wrong_type", f"return a new list of words, got {type(got).__name__}"
                           f"{' (did you edit words in place and return nothing?)' if got is None else ''}")
    if len(got) != len(args[0]):
        return CheckResult(False, "wrong_length", f"{len(args[0])} words in, {len(got)} out: Algorithm 1 replaces "
                           "words one for one, it never drops or adds one")
    return list(got)


def _differ_copy(got, expected, args):
    words, candidates, coins, picks, p = args
    wrong = [f"word {j} {words[j]!r} (coin {coins[j]:.3g}, pick {picks[j]:.3g}, candidates {list(candidates[j])}) "
             f"-> {got[j]!r}, expected {expected[j]!r}" for j in range(len(words)) if got[j] != expected[j]]
    return f"{len(wrong)} word(s) differ: " + "; ".join(wrong[:3])


def _explain_raise(fn, args, error):
    """A function that fails only on words without candidates did not keep them as they are."""
    words, candidates, coins, picks, p = args
    keep = [j for j, c in enumerate(candidates) if c]
    if len(keep) == len(words):
        return None
    try:
        fn(*copy.deepcopy(([words[j] for j in keep], [candidates[j] for j in keep], [coins[j] for j in keep],
                           [picks[j] for j in keep], p)))
    except Exception:
        return None
    return CheckResult(False, "empty_candidates", f"it raised {type(error).__name__} ({error}) on a word with no "
                       "candidates (a stop word, a number, or a word whose candidates were all filtered out); such a "
                       "word is kept as it is, whatever its coin says.")


q3 = ValueExercise(
    name="one augmented copy (the p_t coin flip)",
    hints=[
        "Each word gets two uniform draws in [0, 1): `coins[j]` decides WHETHER it is replaced (Algorithm 1 line "
        "11-12), `picks[j]` decides BY WHICH candidate (line 13, 'a word in C randomly').",
        "Replace word j only if it has candidates and coins[j] < p; the candidate is candidates[j][int(picks[j] * "
        "len(candidates[j]))], a uniform choice among all K, not the best one.",
        "`[c[int(pick * len(c))] if c and coin < p else w for w, c, coin, pick in zip(words, candidates, coins, "
        "picks)]`",
    ],
    reference=reference_copy,
    shown_solution=sample_copies,
    probes=copy_probes,
    normalise=_normalise_copy,
    differ=_differ_copy,
    on_raise=_explain_raise,
    mistakes=[
        Mistake("coin_inverted", _coin_inverted,
                "you replaced a word when its coin was >= p_t: that replaces with probability 1 - p_t = 0.6, not "
                "p_t = 0.4. Algorithm 1 line 12: replace if p <= p_t."),
        Mistake("ignores_coin", _always,
                "every word with candidates was replaced: the coin flip is missing; each word is replaced only with "
                "probability p_t (coins[j] < p)."),
        Mistake("always_first", _first,
                "you always took the first (best) candidate; Algorithm 1 picks 'a word in C randomly', uniformly "
                "among the K: candidates[j][int(picks[j] * len(candidates[j]))]."),
        Mistake("coin_used_for_pick", _coin_for_pick,
                "you chose the candidate with the coin draw; since a replaced word's coin is < p_t, only the first "
                "p_t * K candidates could ever be chosen. Use the second draw, picks[j]."),
    ],
    success="you wrote Algorithm 1's inner loop: each word, with probability p_t, becomes a uniformly chosen "
            "candidate. Fed the package's draws, it reproduces the package's copies exactly.",
)
