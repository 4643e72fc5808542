"""Algorithm 1, batched vs word by word: same candidates, same outputs, right provenance, clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import BertForMaskedLM

from tinybert_ref.augment.algorithm import (
    AugmentationError,
    augment,
    augment_dataset,
    augment_pairs,
    candidate_sets,
    keep_candidates,
    masked_input,
    replacement_counts,
    split_sentences,
)
from tinybert_ref.augment.mlm import STOP_WORDS
from tinybert_ref.augment.reference import augment_word_by_word, candidate_sets_word_by_word
from tinybert_ref.augment.wordvectors import WordVectors

SENTENCES = [
    "Oil prices rise as the dollar weakens",
    "Hyperparameterisation is unbelievably hard, said researchers at Cambridge University.",
    "Go",
    "Microsoft unveils its new Xbox console in Tokyo during 2005, and analysts expect strong sales "
    "across Europe and America before Christmas.",
    "the of and",
    "Qwzxhyperfoo zyxtrobble!",  # multi-piece words that GloVe does not know
]


@pytest.fixture(scope="module")
def glove():
    return WordVectors.from_glove_package(limit=100_000)


@pytest.fixture(scope="module")
def mlm():
    from transformers import BertConfig

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=48, num_hidden_layers=2, num_attention_heads=12,
                        intermediate_size=96, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        initializer_range=0.2)  # wide logits: no near-ties in the top K
    return BertForMaskedLM(config).eval()


@pytest.fixture
def parts(mlm, teacher_tokenizer, glove):
    return {"mlm": mlm, "tokenizer": teacher_tokenizer, "word_vectors": glove, "progress": False}


@pytest.mark.parametrize("pair", [True, False])
def test_batched_candidates_equal_word_by_word(parts, pair):
    batched = candidate_sets(SENTENCES, batch_size=3, pair_with_original=pair, **parts)  # mixed lengths
    one_by_one = candidate_sets_word_by_word(SENTENCES, pair_with_original=pair, **parts)
    assert batched == one_by_one
    sources = {w.source for sentence in batched for w in sentence}
    assert sources == {"mlm", "glove", "none", "skip"}


def test_candidate_sources_follow_algorithm_1(parts):
    sets = candidate_sets(SENTENCES, **parts)
    by_word = {w.word: w for sentence in sets for w in sentence}
    assert by_word["prices"].source == "mlm" and 0 < len(by_word["prices"].candidates) <= 15
    assert by_word["unbelievably"].source == "glove"
    assert "incredibly" in by_word["unbelievably"].candidates
    assert by_word["qwzxhyperfoo"].source == "none" and by_word["qwzxhyperfoo"].candidates == ()
    for word in ("the", ",", "2005", "!"):
        assert by_word[word].source == "skip" and by_word[word].candidates == ()
    for w in by_word.values():
        assert w.word not in w.candidates
        assert all(c.isalpha() and c not in STOP_WORDS for c in w.candidates)


def test_batched_augment_equals_word_by_word_and_is_seeded(parts):
    sentences = SENTENCES[:3]
    labels = list(range(len(sentences)))
    kwargs = {"p": 0.4, "k": 15, "n_copies": 6, "seed": 7}
    batched = augment(sentences, labels, batch_size=4, **kwargs, **parts)
    assert batched == augment_word_by_word(sentences, labels, **kwargs, **parts)
    assert batched == augment(sentences, labels, batch_size=64, **kwargs, **parts)  # batching changes nothing
    assert batched != augment(sentences, labels, batch_size=4, **{**kwargs, "seed": 8}, **parts)
    originals = [e for e in batched if e.is_original]
    assert [e.text for e in originals] == sentences  # the original first, as the official code writes it
    assert all(e.label == e.original_index for e in batched)


def test_p_zero_gives_copies_of_the_original(parts, teacher_tokenizer):
    examples = augment(SENTENCES[:2], p=0.0, n_copies=4, deduplicate=False, **parts)
    assert len(examples) == 2 * 5
    for example in examples:
        original = SENTENCES[example.original_index]
        assert example.replacements == ()
        assert teacher_tokenizer(example.text)["input_ids"] == teacher_tokenizer(original)["input_ids"]
    assert len(augment(SENTENCES[:2], p=0.0, n_copies=4, **parts)) == 2  # duplicates dropped


def test_p_one_replaces_every_word_with_candidates(parts):
    sets = candidate_sets(SENTENCES, **parts)
    examples = augment(SENTENCES, p=1.0, n_copies=3, deduplicate=False, **parts)
    for example in (e for e in examples if not e.is_original):
        words = sets[example.original_index]
        replaced = {r.position for r in example.replacements}
        assert replaced == {j for j, w in enumerate(words) if w.candidates}


def test_provenance_names_position_word_and_source(parts, teacher_tokenizer):
    sets = candidate_sets(SENTENCES, **parts)
    examples = augment(SENTENCES, n_copies=10, seed=1, **parts)
    seen_sources = set()
    for example in (e for e in examples if not e.is_original):
        words = sets[example.original_index]
        out_words = example.text.split(" ")
        assert len(out_words) == len(words) and example.replacements
        for position, original, replacement, source in example.replacements:
            assert words[position].word == original and words[position].source == source
            assert replacement in words[position].candidates and out_words[position] == replacement
            seen_sources.add(source)
        untouched = set(range(len(words))) - {r.position for r in example.replacements}
        assert all(out_words[j] == words[j].word for j in untouched)
    assert seen_sources == {"mlm", "glove"}
    assert len({e.text for e in examples}) == len(examples)  # deduplicated


def test_keep_candidates_filters():
    tokens = ["##ing", ",", "[CLS]", "[unused3]", "Word", "house", "the", "house", "...", "2005", "home"]
    assert keep_candidates(tokens, "word") == ("house", "home")


def test_masked_input_layout_and_truncation(teacher_tokenizer):
    (words,), (pieces,) = split_sentences(["oil prices rise"], teacher_tokenizer)
    ids, types, position = masked_input(pieces, 1, teacher_tokenizer, True, 512)
    tokens = teacher_tokenizer.convert_ids_to_tokens(ids)
    assert tokens == ["[CLS]", "oil", "[MASK]", "rise", "[SEP]", "oil", "prices", "rise", "[SEP]"]
    assert types == [0] * 5 + [1] * 4 and position == 2
    ids, types, position = masked_input(pieces, 2, teacher_tokenizer, False, 512)
    assert teacher_tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "oil", "prices", "[MASK]", "[SEP]"]
    assert len(masked_input(pieces, 1, teacher_tokenizer, True, 4)[0]) == 4  # cut to the model's length
    assert masked_input(pieces, 2, teacher_tokenizer, True, 4) is None  # the mask would fall off the end


def test_augment_dataset_columns(parts):
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["a", "b"])})
    data = Dataset.from_dict({"text": SENTENCES[:2], "label": [0, 1]}, features=features)
    out = augment_dataset(data, "text", "label", n_copies=3, seed=0, **parts)
    assert out.column_names == ["text", "label", "original_index", "is_original", "replacements"]
    assert out.features["label"] == features["label"]
    assert sum(out["is_original"]) == 2
    for row in out:
        assert row["label"] == row["original_index"]
        for position, original, replacement, source in json.loads(row["replacements"]):
            assert row["text"].split(" ")[position] == replacement != original and source in ("mlm", "glove")
    with pytest.raises(AugmentationError, match="no column 'sentence'"):
        augment_dataset(data, "sentence", "label", **parts)


@pytest.mark.parametrize("sentences, kwargs, match", [
    ([], {}, "no sentences"),
    ("one sentence", {}, "list of sentences"),
    (["a", 3], {}, "must be strings"),
    (["a b"], {"labels": [0, 1]}, "2 labels for 1"),
    (["a b"], {"p": 1.5}, "0 <= p <= 1"),
    (["a b"], {"k": 0}, "k >= 1"),
    (["", "   ", "\n"], {}, "augmentation produced no examples"),
])
def test_errors(parts, sentences, kwargs, match):
    with pytest.raises(AugmentationError, match=match):
        augment(sentences, **kwargs, **parts)


def test_empty_sentences_are_left_out(parts):
    examples = augment(["", "Oil prices rise"], labels=["x", "y"], n_copies=2, **parts)
    assert {e.original_index for e in examples} == {1} and examples[0].label == "y"


# ------------------------------------------------------------------------------------ sentence pairs
def test_pairs_vary_one_sentence_at_a_time(parts):
    """As the official code augments MRPC, RTE, ... (augment_ids lists both columns): per pair the original,
    then copies of the first sentence beside the original second, then copies of the second beside the
    original first; each sentence's copies are the ones `augment` draws for it, the label is kept."""
    texts, pairs = SENTENCES[:2], [SENTENCES[3], SENTENCES[0]]  # a sentence may appear in several pairs
    kwargs = {"p": 0.4, "n_copies": 4, "seed": 3}
    out = augment_pairs(texts, pairs, ["x", "y"], **kwargs, **parts)
    assert out == augment_pairs(texts, pairs, ["x", "y"], batch_size=2, **kwargs, **parts)  # seeded, batch-free
    assert out != augment_pairs(texts, pairs, ["x", "y"], **{**kwargs, "seed": 4}, **parts)
    for index, (text, pair) in enumerate(zip(texts, pairs, strict=True)):
        rows = [e for e in out if e.original_index == index]
        assert (rows[0].text, rows[0].text_pair, rows[0].is_original, rows[0].augmented) == (text, pair, True, "")
        assert [e.augmented for e in rows[1:]] == sorted((e.augmented for e in rows[1:]), key=["text", "text_pair"].index)
        assert {e.augmented for e in rows[1:]} == {"text", "text_pair"} and all(e.label == "xy"[index] for e in rows)
        for e in rows[1:]:
            same, changed = (e.text_pair, e.text) if e.augmented == "text" else (e.text, e.text_pair)
            assert same == (pair if e.augmented == "text" else text) and changed != same and e.replacements
            words = changed.split(" ")
            assert all(words[r.position] == r.replacement for r in e.replacements)
        assert 1 < len(rows) <= 1 + 2 * kwargs["n_copies"] and len({(e.text, e.text_pair) for e in rows}) == len(rows)
    alone = augment([texts[0]], **kwargs, **parts)  # the first sentence's copies: stream 1, not augment's
    assert [e.text for e in alone[1:]] != [e.text for e in out if e.original_index == 0 and e.augmented == "text"]


def test_augment_dataset_with_pairs(parts):
    from datasets import Dataset

    data = Dataset.from_dict({"premise": SENTENCES[:2], "hypothesis": SENTENCES[2:4], "label": [0, 1]})
    out = augment_dataset(data, "premise", "label", text_pair_column="hypothesis", n_copies=3, seed=0, **parts)
    assert out.column_names == ["text", "text_pair", "label", "original_index", "is_original", "augmented",
                                "replacements"]
    assert sum(out["is_original"]) == 2 and out[0]["text_pair"] == SENTENCES[2]
    counts = replacement_counts(out)
    changed = sum(len(json.loads(r)) for r in out["replacements"])
    assert counts["mlm"] + counts["glove"] == changed and counts["kept"] > 0
    with pytest.raises(AugmentationError, match="no column 'sentence2'"):
        augment_dataset(data, "premise", "label", text_pair_column="sentence2", **parts)
    with pytest.raises(AugmentationError, match="2 texts but 1 text pairs"):
        augment_pairs(SENTENCES[:2], SENTENCES[:1], **parts)
