"""Task tokenisation: truncation without padding, caching, the max_seq_len check, the collator."""

from __future__ import annotations

import pytest
from datasets import Dataset, DatasetDict

from tinybert_ref.data import tokenize as tk
from tinybert_ref.data.tasks import DataError


def _task(pair=False):
    rows = {"text": ["a short headline", "another one about the markets today " * 10, "x"], "label": [0, 1, 0],
            "id": ["a", "b", "c"]}
    if pair:
        rows["text_pair"] = ["first", "second sentence", "third"]
    return DatasetDict({s: Dataset.from_dict(rows) for s in ("train", "dev", "test")})


def test_truncates_without_padding(teacher_tokenizer):
    out = tk.tokenize_task(_task(), teacher_tokenizer, max_seq_len=16)
    train = out["train"]
    assert set(train.column_names) == {"input_ids", "attention_mask", "token_type_ids", "label"}
    lengths = [len(x) for x in train["input_ids"]]
    assert lengths[1] == 16 and lengths[2] < lengths[0] < 16  # truncated; the short ones keep their length
    assert teacher_tokenizer.pad_token_id not in train[0]["input_ids"]


def test_pairs_use_token_types(teacher_tokenizer):
    row = tk.tokenize_task(_task(pair=True), teacher_tokenizer, max_seq_len=32)["train"][0]
    assert set(row["token_type_ids"]) == {0, 1} and row["input_ids"].count(teacher_tokenizer.sep_token_id) == 2


def test_cache_is_written_once_and_reused(tmp_path, teacher_tokenizer, monkeypatch):
    first = tk.tokenize_task(_task(), teacher_tokenizer, 16, cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.glob("*.arrow"))
    assert len(files) == 3 and first["train"].cache_files[0]["filename"].startswith(str(tmp_path))

    def fail(*args, **kwargs):
        raise AssertionError("tokenised again instead of reading the cache")

    monkeypatch.setattr(tk, "_encode", fail)
    second = tk.tokenize_task(_task(), teacher_tokenizer, 16, cache_dir=tmp_path)
    assert second["train"].cache_files == first["train"].cache_files
    assert second["dev"]["input_ids"] == first["dev"]["input_ids"]
    monkeypatch.undo()
    tk.tokenize_task(_task(), teacher_tokenizer, 8, cache_dir=tmp_path)  # another length: a new cache
    assert len(list(tmp_path.glob("*.arrow"))) == 6
    # the cache key survives processes: a fresh tokenizer has the key of one already used (truncation on)
    from transformers import AutoTokenizer

    fresh = AutoTokenizer.from_pretrained(teacher_tokenizer.name_or_path)
    assert tk._tokenizer_key(fresh) == tk._tokenizer_key(teacher_tokenizer)


def test_max_seq_len_errors(teacher_tokenizer):
    with pytest.raises(DataError, match="max_seq_len=600 exceeds the tokenizer's model_max_length=512"):
        tk.tokenize_task(_task(), teacher_tokenizer, 600)
    with pytest.raises(DataError, match="max_seq_len=256 exceeds the model's max_position_embeddings=128"):
        tk.tokenize_task(_task(), teacher_tokenizer, 256, max_positions=128)
    with pytest.raises(DataError, match="no 'text' column"):
        tk.tokenize_task(DatasetDict(train=Dataset.from_dict({"sentence": ["a"]})), teacher_tokenizer, 16)


def test_collator_pads_per_batch(teacher_tokenizer):
    out = tk.tokenize_task(_task(), teacher_tokenizer, max_seq_len=16)["train"]
    batch = tk.collator(teacher_tokenizer)([out[0], out[2]])
    assert batch["input_ids"].shape == (2, len(out[0]["input_ids"]))
    assert batch["labels"].tolist() == [0, 0] and batch["attention_mask"][1].sum() == len(out[2]["input_ids"])
