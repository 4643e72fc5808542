"""The general-distillation corpus (paper Section 3.3, "General distillation"): plain text, packed into
fixed-length blocks for the intermediate-layer losses. Taught in notebook 05; the masked LM of notebook
06 trains on the same text.

Offline, the corpus is the BBC article bodies minus every article of the headline task's test split
(and its duplicates), so no test article's body is seen before evaluation. Online, any text files or a
hub dataset load through `datasets.load_dataset` (memory-mapped Arrow, never held whole in RAM).
Corpora are `datasets.Dataset`s with a `text` column (one document or line per row).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .base import DataError

__all__ = ["bbc_bodies", "check_corpus", "load_text_corpus", "pack_corpus", "held_out_split"]

log = logging.getLogger(__name__)


def bbc_bodies(exclude_split="test", seed: int = 0):
    """BBC article bodies as a Dataset (columns `text`, `id`), one article per row, each body once.

    exclude_split: a split name, a list of them, or None; every article of those splits in
    `load_bbc_headlines(seed)`, and every duplicate of one, is left out.
    """
    from datasets import Dataset

    from .bbc import bbc_splits, read_articles

    excluded = [exclude_split] if isinstance(exclude_split, str) else list(exclude_split or [])
    splits, dedup = bbc_splits(seed)
    unknown = [s for s in excluded if s not in splits]
    if unknown:
        raise DataError(f"unknown split {unknown[0]!r} to exclude; choose from {sorted(splits)} or None")
    banned = {member for s in excluded for i in splits[s] for member in dedup["members"][i]}
    texts, ids, seen = [], [], set()
    for article in read_articles():
        key = " ".join(article.body.split()).lower()
        if article.id in banned or key in seen or not key:
            continue
        seen.add(key)
        texts.append(article.body)
        ids.append(article.id)
    log.info("BBC bodies: %d articles (%d left out: splits %s)", len(texts), len(banned), excluded)
    return Dataset.from_dict({"text": texts, "id": ids})


def load_text_corpus(paths, sample_by: str = "line", config=None, split: str = "train", cache_dir=None):
    """A text corpus as a memory-mapped Dataset with a `text` column; empty rows are dropped.

    paths: a .txt file, a folder (every *.txt under it), a list of files, or (online) a hub dataset
    name such as "wikitext" (with `config`, e.g. "wikitext-103-raw-v1"), also written "NAME:CONFIG"
    (e.g. "wikimedia/wikipedia:20231101.en", the form `--corpus` takes). sample_by: "line",
    "paragraph" or "document" (one row per line / blank-line paragraph / file). cache_dir: where the
    Arrow files go (default: the `datasets` cache). Text files are converted once to Arrow and read
    memory-mapped, so a corpus larger than memory works; `pack_corpus` keeps it on disk.
    """
    import datasets

    files = _text_files(paths)
    if files is None:  # a hub dataset name (online only)
        if config is None and ":" in str(paths):
            paths, config = str(paths).split(":", 1)
        log.info("loading corpus %s (%s) from the hub", paths, config)
        try:
            corpus = datasets.load_dataset(str(paths), config, split=split, cache_dir=cache_dir)
        except Exception as error:  # offline, a typo, a gated dataset: one message with the way out
            raise DataError(f"could not load the corpus {paths!r} from the hub ({error}); offline, pass "
                            "local .txt files or a folder of them") from error
        if "text" not in corpus.column_names:
            raise DataError(f"hub dataset {paths!r} has no 'text' column (found {corpus.column_names}); "
                            "rename its text column to 'text' or save it as text files")
    else:
        corpus = datasets.load_dataset("text", data_files=[str(f) for f in files], split="train",
                                       sample_by=sample_by, cache_dir=cache_dir)
    corpus = corpus.filter(lambda batch: [bool(t.strip()) for t in batch["text"]], batched=True)
    if len(corpus) == 0:
        raise DataError(f"the corpus {paths} holds no text; point it at non-empty .txt files")
    log.info("text corpus: %d rows from %s", len(corpus), paths)
    return corpus


def check_corpus(paths) -> None:
    """What `load_text_corpus(paths)` will fail on, found without reading the corpus: no such path, a
    folder without .txt files, files without text, or a hub name while offline. Raises DataError."""
    files = _text_files(paths)
    if files is None:
        if os.environ.get("HF_DATASETS_OFFLINE") or os.environ.get("HF_HUB_OFFLINE"):
            raise DataError(f"the corpus {paths!r} is a hub dataset name, which needs the network, but "
                            "HF_DATASETS_OFFLINE/HF_HUB_OFFLINE is set; pass a local .txt file or a folder of them")
    elif not any(_has_text(file) for file in files):
        raise DataError(f"the corpus {paths} holds no text (only empty files); pass non-empty .txt files")


def _has_text(file: Path) -> bool:
    with open(file, encoding="utf-8", errors="replace") as handle:
        return any(line.strip() for line in handle)


def _text_files(paths):
    """The .txt files named by `paths`, or None when `paths` is a hub dataset name."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.txt") if p.is_file())
            if not found:
                raise DataError(f"no .txt files under {path}; put the corpus there as .txt files")
            files += found
        elif path.is_file():
            files.append(path)
        elif len(items) == 1 and _looks_like_hub_name(str(item)):
            return None
        else:
            raise DataError(f"no corpus file or folder at {path.resolve()}; fix the path")
    return files


def _looks_like_hub_name(text: str) -> bool:
    """"wikitext" or "owner/name" whose first part is not a local folder (then it is a missing path)."""
    first = text.split("/")[0]
    return (text.count("/") <= 1 and not text.endswith((".txt", ".text")) and " " not in text
            and not text.startswith((".", "~")) and not Path(first).exists())


def pack_corpus(dataset, tokenizer, seq_len: int, num_proc: int = 1, limit=None):
    """Tokenise a corpus and cut it into blocks of exactly `seq_len` tokens: [CLS] w_1..w_{L-2} [SEP].

    dataset: a Dataset with a `text` column, or a list of strings. Documents are concatenated (the
    remainder of each batch of 1,000 rows is dropped); limit keeps only the first `limit` blocks and
    tokenises only as many rows as it needs. num_proc: tokenising worker processes (the blocks are the
    same for any num_proc). Returns a Dataset with `input_ids`, `attention_mask`, `token_type_ids`,
    each a list of seq_len ints; from a corpus on disk it is memory-mapped Arrow, never all in RAM.
    """
    from datasets import Dataset

    if seq_len < 3:
        raise DataError(f"seq_len={seq_len} leaves no room for text between [CLS] and [SEP]; use >= 3")
    if isinstance(dataset, (list, tuple)):
        dataset = Dataset.from_dict({"text": list(dataset)})
    if "text" not in dataset.column_names:
        raise DataError(f"the corpus has no 'text' column (found {dataset.column_names}); rename it")
    rows = len(dataset) if limit is None else min(len(dataset), max(8, limit))
    while True:
        blocks = _pack(dataset.select(range(rows)), tokenizer, seq_len, num_proc)
        if limit is None or len(blocks) >= limit or rows == len(dataset):
            break
        rows = min(len(dataset), rows * 2)
    if limit is not None:
        blocks = blocks.select(range(min(limit, len(blocks))))
    if len(blocks) == 0:
        raise DataError(f"the corpus is too short for one block of {seq_len} tokens; add text or lower seq_len")
    log.info("packed corpus: %d blocks of %d tokens from %d rows", len(blocks), seq_len, rows)
    return blocks


def _pack(dataset, tokenizer, seq_len: int, num_proc: int):
    """Tokenise (in `num_proc` worker processes) then pack (in this process, 1,000 rows at a time).

    The packing is sequential so the blocks do not depend on num_proc (parallel shards would move the
    1,000-row boundaries where remainders are dropped). A corpus on disk stays on disk: each `map`
    writes its result to Arrow cache files next to the input and reads them memory-mapped.
    """
    def tokenize(batch):
        return {"ids": tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]}

    def group(batch):
        flat = [t for ids in batch["ids"] for t in ids]
        body = seq_len - 2
        blocks = [[tokenizer.cls_token_id, *flat[i:i + body], tokenizer.sep_token_id]
                  for i in range(0, len(flat) - body + 1, body)]
        return {"input_ids": blocks, "attention_mask": [[1] * seq_len for _ in blocks],
                "token_type_ids": [[0] * seq_len for _ in blocks]}

    procs = num_proc if num_proc and num_proc > 1 and len(dataset) >= 2 * num_proc else None
    ids = dataset.map(tokenize, batched=True, num_proc=procs, remove_columns=dataset.column_names,
                      desc="tokenising corpus")
    return ids.map(group, batched=True, remove_columns=["ids"], desc="packing corpus")


def held_out_split(bodies, fraction: float, seed: int):
    """(kept, held_out): a seeded `fraction` of the documents set aside (the masked LM's recall is
    measured on them). Works on a list of strings or a Dataset and returns the same type."""
    n = len(bodies)
    if not 0 < fraction < 1 or n < 2:
        raise DataError(f"cannot hold out fraction={fraction} of {n} documents; use 0 < fraction < 1 "
                        "and at least two documents")
    order = np.random.default_rng(seed).permutation(n)
    size = min(n - 1, max(1, round(fraction * n)))
    held, kept = sorted(order[:size].tolist()), sorted(order[size:].tolist())
    if isinstance(bodies, (list, tuple)):
        return [bodies[i] for i in kept], [bodies[i] for i in held]
    return bodies.select(kept), bodies.select(held)
