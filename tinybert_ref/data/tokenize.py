"""Task tokenisation, done once and cached, and the dynamic-padding collator.

Headlines are ~5 words, so sequences are truncated to max_seq_len but never padded at tokenisation:
the collator pads each batch to its own longest sequence (DESIGN.md section 8). Used by the pipeline
and notebook 07.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from .base import DataError

__all__ = ["tokenize_task", "collator", "check_max_seq_len"]

log = logging.getLogger(__name__)
_CACHE_VERSION = "tokenize_task-1"  # bump when the encoding below changes, to invalidate old caches
_NO_LIMIT = 1_000_000  # transformers sets model_max_length to a huge number when it is unknown


def check_max_seq_len(max_seq_len: int, tokenizer, max_positions=None) -> None:
    """DataError when max_seq_len exceeds the tokenizer's model_max_length or the model's
    max_position_embeddings (pass `max_positions=model.config.max_position_embeddings`)."""
    if not isinstance(max_seq_len, int) or max_seq_len < 2:
        raise DataError(f"max_seq_len={max_seq_len!r} must be an int >= 2 ([CLS] and [SEP] take two)")
    limits = {"the tokenizer's model_max_length": getattr(tokenizer, "model_max_length", None),
              "the model's max_position_embeddings": max_positions}
    for name, limit in limits.items():
        if limit is not None and limit < _NO_LIMIT and max_seq_len > limit:
            raise DataError(f"max_seq_len={max_seq_len} exceeds {name}={limit}: the model has no "
                            f"position embedding beyond {limit}; set max_seq_len <= {limit}")


def _encode(batch: dict, tokenizer, max_seq_len: int) -> dict:
    pair = batch.get("text_pair")
    return tokenizer(batch["text"], pair, truncation=True, max_length=max_seq_len)


def _tokenizer_key(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # truncation/padding are call-time settings the backend remembers after each call: not identity
        state = json.loads(backend.to_str())
        state = json.dumps({k: v for k, v in state.items() if k not in ("truncation", "padding")})
    else:
        state = json.dumps(sorted(tokenizer.get_vocab().items()))
    extra = f"{type(tokenizer).__name__}|{tokenizer.truncation_side}|{tokenizer.padding_side}"
    return hashlib.sha256((state + extra).encode("utf-8")).hexdigest()


def _cache_file(cache_dir: Path, split: str, dataset, tokenizer_key: str, max_seq_len: int) -> str:
    key = json.dumps([_CACHE_VERSION, dataset._fingerprint, tokenizer_key, max_seq_len])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return str(cache_dir / f"{split}-{digest}.arrow")


def tokenize_task(dataset_dict, tokenizer, max_seq_len: int, cache_dir=None, max_positions=None,
                  num_proc=None):
    """Tokenise every split of a task DatasetDict (columns text[, text_pair], label).

    Returns a DatasetDict with input_ids, attention_mask, token_type_ids (variable length, at most
    max_seq_len; no padding) and label; other columns (text, id) are dropped. With cache_dir, each
    split is written once to cache_dir/<split>-<hash>.arrow, keyed by the data's fingerprint, the
    tokenizer and max_seq_len, and reloaded (memory-mapped) on later calls; without it, `datasets`'
    own fingerprint cache applies to datasets stored on disk.
    """
    from datasets import DatasetDict

    check_max_seq_len(max_seq_len, tokenizer, max_positions)
    if cache_dir is not None:
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tokenizer_key = _tokenizer_key(tokenizer)
    out = {}
    for split, dataset in dataset_dict.items():
        if "text" not in dataset.column_names:
            raise DataError(f"split {split!r} has no 'text' column (found {dataset.column_names}); "
                            "load it with tinybert_ref.data.tasks or rename the column")
        cache_file = None
        if cache_dir is not None:
            cache_file = _cache_file(cache_dir, split, dataset, tokenizer_key, max_seq_len)
        out[split] = dataset.map(
            _encode, batched=True, fn_kwargs={"tokenizer": tokenizer, "max_seq_len": max_seq_len},
            remove_columns=[c for c in dataset.column_names if c != "label"], cache_file_name=cache_file,
            load_from_cache_file=True, num_proc=num_proc, desc=f"tokenising {split}")
    log.info("tokenised %s (max_seq_len %d)", {s: len(d) for s, d in out.items()}, max_seq_len)
    return DatasetDict(out)


def collator(tokenizer, pad_to_multiple_of=None):
    """Pads each batch to its longest sequence; returns torch tensors input_ids, attention_mask,
    token_type_ids (B, L_batch) and labels (B,) (int64, or float32 for regression)."""
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt")
