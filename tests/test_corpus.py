"""General-distillation corpus: BBC bodies without test articles, text files, packing, held-out split."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinybert_ref.data import bbc
from tinybert_ref.data.corpus import bbc_bodies, held_out_split, load_text_corpus, pack_corpus
from tinybert_ref.data.tasks import DataError

CORPUS = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "corpus"


def _norm(text):
    return " ".join(text.split()).lower()


@pytest.fixture(scope="module")
def bodies():
    return bbc_bodies(exclude_split="test")


def test_no_test_article_body_in_corpus(bodies):
    splits, dedup = bbc.bbc_splits(seed=0)
    articles = {a.id: a for a in bbc.read_articles()}
    test_ids = {m for i in splits["test"] for m in dedup["members"][i]}  # test articles and their copies
    test_bodies = {_norm(articles[i].body) for i in test_ids}
    test_heads = {_norm(articles[i].headline) for i in test_ids}
    corpus_ids = set(bodies["id"])
    assert not test_ids & corpus_ids
    assert not test_bodies & {_norm(t) for t in bodies["text"]}
    assert not test_heads & {_norm(articles[i].headline) for i in corpus_ids}
    assert len(bodies) == len({_norm(t) for t in bodies["text"]})  # each body once
    assert set(splits["train"]) <= corpus_ids


def test_exclusion_choices(bodies):
    everything = bbc_bodies(exclude_split=None)
    fewer = bbc_bodies(exclude_split=["dev", "test"])
    assert len(fewer) < len(bodies) < len(everything) <= 2225
    with pytest.raises(DataError, match="unknown split 'tests'"):
        bbc_bodies(exclude_split="tests")


def test_pack_gives_exact_fixed_length_blocks(bodies, teacher_tokenizer):
    tok = teacher_tokenizer
    blocks = pack_corpus(bodies, tok, seq_len=32, limit=40)
    assert len(blocks) == 40 and blocks.column_names == ["input_ids", "attention_mask", "token_type_ids"]
    for row in blocks:
        assert len(row["input_ids"]) == len(row["attention_mask"]) == len(row["token_type_ids"]) == 32
        assert row["input_ids"][0] == tok.cls_token_id and row["input_ids"][-1] == tok.sep_token_id
        assert tok.pad_token_id not in row["input_ids"] and set(row["attention_mask"]) == {1}
    # the blocks are the text's tokens in order, 30 per block
    first = tok(bodies[0]["text"], add_special_tokens=False, verbose=False)["input_ids"]
    assert blocks[0]["input_ids"][1:-1] == first[:30]


def test_pack_list_file_corpus_and_parallel(teacher_tokenizer):
    corpus = load_text_corpus(CORPUS)
    assert len(corpus) == 9 and corpus.column_names == ["text"]
    one = load_text_corpus(CORPUS / "markets.txt", sample_by="document")
    assert len(one) == 1
    serial = pack_corpus(corpus, teacher_tokenizer, seq_len=16)
    parallel = pack_corpus(corpus, teacher_tokenizer, seq_len=16, num_proc=2)
    listed = pack_corpus(list(corpus["text"]), teacher_tokenizer, seq_len=16)
    assert len(serial) > 0 and serial["input_ids"] == listed["input_ids"]
    assert {len(x) for x in parallel["input_ids"]} == {16}


def test_corpus_errors(tmp_path, teacher_tokenizer):
    with pytest.raises(DataError, match="no corpus file or folder"):
        load_text_corpus(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="no .txt files"):
        load_text_corpus(tmp_path)
    (tmp_path / "blank.txt").write_text("\n\n  \n")
    with pytest.raises(DataError, match="holds no text"):
        load_text_corpus(tmp_path / "blank.txt")
    with pytest.raises(DataError, match="too short"):
        pack_corpus(["two words"], teacher_tokenizer, seq_len=64)
    with pytest.raises(DataError, match="seq_len=2"):
        pack_corpus(["two words"], teacher_tokenizer, seq_len=2)
    with pytest.raises(DataError, match="fraction"):
        held_out_split(["a", "b"], 1.5, seed=0)


def test_held_out_split(bodies):
    kept, held = held_out_split(bodies, 0.05, seed=0)
    assert len(held) == round(0.05 * len(bodies)) and len(kept) + len(held) == len(bodies)
    assert not set(kept["id"]) & set(held["id"])
    assert held_out_split(bodies, 0.05, seed=0)[1]["id"] == held["id"]
    kept_list, held_list = held_out_split(["a", "b", "c", "d"], 0.25, seed=1)
    assert len(held_list) == 1 and sorted(kept_list + held_list) == ["a", "b", "c", "d"]
