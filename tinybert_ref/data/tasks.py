"""Classification and regression tasks as `datasets.DatasetDict`s with splits train / dev / test.

Every loader returns a `Task` = (info, data): `info` is a frozen `TaskInfo`, `data` a DatasetDict whose
splits have the columns `text` (plus `text_pair` for sentence-pair tasks) and `label` (int class id, or
float for regression). Used by the pipeline (`load_task`) and notebooks 07 and 09.

Sources: the BBC headlines (embedded default; see `bbc.py`), the BBC headline / lead-paragraph pairs
(`bbc_pairs.py`, an offline sentence-pair task), GLUE by name (online, through `datasets`) or from a
folder of GLUE TSV files (`glue.py`), and any CSV / TSV / JSONL file (`load_table`; `text_columns="a,b"`
names its two text columns for a sentence-pair task).
Bad input raises `DataError` (a ValueError) naming the problem and the fix.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .base import (
    SPLITS,
    DataError,
    Task,
    TaskInfo,
    build_task,
    encode_labels,
    parse_text_columns,
    split_indices,
    task_report,
    validate_task,
)
from .bbc import load_bbc_headlines
from .bbc_pairs import load_bbc_pairs
from .glue import glue_task_name, load_glue

__all__ = [
    "DataError",
    "TaskInfo",
    "Task",
    "SPLITS",
    "load_task",
    "load_bbc_headlines",
    "load_bbc_pairs",
    "load_glue",
    "load_table",
    "build_task",
    "encode_labels",
    "split_indices",
    "task_report",
    "validate_task",
    "parse_text_columns",
]

log = logging.getLogger(__name__)
_SPLIT_ALIASES = {"train": "train", "dev": "dev", "validation": "dev", "valid": "dev", "val": "dev",
                  "test": "test"}
_READERS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


def load_task(spec, text_columns=None, **kw) -> Task:
    """Dispatch on `spec`: "bbc" -> BBC headlines; "bbc_pairs" -> BBC headline / lead pairs; a GLUE name
    (sst2, mrpc, ...) -> GLUE online; a folder -> GLUE TSV folder (task from the folder name, or pass
    name=...); a file -> `load_table`. text_columns: "a,b" (or ("a", "b")), the text and text-pair
    columns of a file (one name: its text column); only for a file. Keyword arguments go to the chosen
    loader (all take `seed`)."""
    text = str(spec)
    path = Path(text).expanduser()
    if text_columns is not None:
        columns = parse_text_columns(text_columns)
        if not path.is_file():
            raise DataError(f"text columns {','.join(columns)!r} (--text-columns) name the columns of a CSV/TSV/JSONL "
                            f"task file, but the task {text!r} is not a file (BBC tasks and GLUE know their columns); "
                            "drop --text-columns or pass a file")
        kw = {"text_column": columns[0], "text_pair_column": columns[1] if len(columns) > 1 else None, **kw}
    if text.lower() in ("bbc", "bbc_headlines", "bbc-headlines"):
        return load_bbc_headlines(**kw)
    if text.lower() in ("bbc_pairs", "bbc-pairs"):
        return load_bbc_pairs(**kw)
    if path.is_dir():
        name = kw.pop("name", None) or glue_task_name(path.name)
        if name is None:
            raise DataError(f"cannot tell which GLUE task the folder {path} holds from its name; "
                            "pass name='sst2' (or another GLUE name) or rename the folder (e.g. SST-2)")
        return load_glue(name, folder=path, **kw)
    if path.is_file():
        return load_table(path, **kw)
    if glue_task_name(text) is not None:
        return load_glue(text, **kw)
    raise DataError(f"unknown task {text!r}: not 'bbc' or 'bbc_pairs', not a GLUE name, and no file or folder at "
                    f"{path.resolve()}; fix the path, or use 'bbc', 'bbc_pairs' or a GLUE name such as 'sst2'")


# ----------------------------------------------------------------------------------------- tables
def _read_table(path: Path):
    import pandas as pd

    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"cannot read {path.name}: unknown suffix {path.suffix!r}; "
                        f"use one of {sorted(_READERS)} (CSV, TSV or JSON lines)")
    try:
        if kind == "jsonl":
            return pd.read_json(path, lines=True)
        return pd.read_csv(path, sep="," if kind == "csv" else "\t", keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as error:  # a subclass of ValueError: first
        raise DataError(f"{path.name} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
                        f"{error.start}); re-save it as UTF-8") from None
    except (pd.errors.EmptyDataError, ValueError) as error:
        raise DataError(f"cannot read {path.name} as {kind.upper()}: {error}; check the file's format") from None


def load_table(path, text_column: str = "text", label_column: str = "label", text_pair_column=None, *,
               label_names=None, num_labels=None, is_regression: bool = False, split_column="split",
               seed: int = 0, dev_fraction: float = 0.1, test_fraction: float = 0.1, name=None,
               metric=None) -> Task:
    """A task from a local CSV / TSV / JSONL file (chosen by suffix), one example per row.

    If the file has `split_column` (values train / dev / test; "validation" = dev) it is used; a missing
    dev or test split is carved from train. Otherwise a seeded stratified split (dev_fraction,
    test_fraction) is made. Label strings map to ids in sorted order unless label_names is given.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"no task file at {path.resolve()}: check the path (CSV, TSV or JSONL expected)")
    frame = _read_table(path)
    wanted = [c for c in (text_column, text_pair_column, label_column) if c is not None]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        role = {text_column: "text column", text_pair_column: "second text column (text pair)",
                label_column: "label column"}[missing[0]]
        raise DataError(f"{path.name} has no column {missing[0]!r}; columns found: {list(frame.columns)}; "
                        f"{missing[0]!r} was to be the {role}: name the right columns, on the command line with "
                        "--text-columns TEXT,TEXT_PAIR (the label column must be 'label'), in Python with "
                        "text_column=/text_pair_column=/label_column=")
    if frame.empty:
        raise DataError(f"{path.name} has no rows: a task needs labelled examples")
    for column in wanted:
        empty = np.flatnonzero(frame[column].isna().to_numpy())
        if len(empty):
            raise DataError(f"{path.name}: column {column!r} is empty in {len(empty)} rows (data rows "
                            f"{[int(i) + 1 for i in empty[:5]]}); fill or remove those rows")
    columns = {"text": frame[text_column].astype(str).tolist()}
    if text_pair_column is not None:
        columns["text_pair"] = frame[text_pair_column].astype(str).tolist()
    labels, names = encode_labels(frame[label_column].tolist(), label_names, num_labels, is_regression,
                                  source=path.name)
    splits = None
    if split_column and split_column in frame.columns:
        splits = _split_values(frame[split_column].tolist(), path.name, split_column)
    info = TaskInfo(name or path.stem, names, is_regression,
                    metric or ("spearman" if is_regression else "accuracy"),
                    tuple(columns), ("spearman", "pearson") if is_regression and not metric else (),
                    source=str(path))
    return build_task(info, columns, labels, splits=splits, seed=seed,
                      held_out={"dev": dev_fraction, "test": test_fraction})


def _split_values(values, source: str, column: str) -> list[str]:
    out = [_SPLIT_ALIASES.get(str(v).strip().lower()) for v in values]
    bad = sorted({str(v) for v, s in zip(values, out, strict=True) if s is None})
    if bad:
        raise DataError(f"{source}: column {column!r} holds unknown split names {bad[:5]}; use train, dev "
                        "(or validation) and test, or pass split_column=None to split by seed")
    return out


