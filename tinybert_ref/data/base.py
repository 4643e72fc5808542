"""What every task loader builds on: `TaskInfo`, `Task`, `DataError`, label encoding, seeded stratified
splits, `build_task` (column lists -> a validated train / dev / test DatasetDict) and `task_report`.

The loaders (`bbc.py`, `glue.py`, `tasks.load_table`) import this module and `tasks.load_task`
dispatches to them, so the imports point one way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["DataError", "TaskInfo", "Task", "SPLITS", "build_task", "encode_labels", "parse_text_columns",
           "split_indices", "task_report", "validate_task"]

SPLITS = ("train", "dev", "test")


class DataError(ValueError):
    """A task, corpus or file that cannot be used as it is; the message says what to change."""


@dataclass(frozen=True)
class TaskInfo:
    """What a task is: its labels, its metric and which text columns its DatasetDict holds.

    metric: the primary metric ("accuracy", "f1", "matthews", "spearman", "pearson"); metrics: every
    metric worth reporting, the primary first. num_labels is 1 for regression (one output unit).
    """

    name: str
    label_names: tuple[str, ...]
    is_regression: bool
    metric: str
    text_columns: tuple[str, ...] = ("text",)
    metrics: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self):
        object.__setattr__(self, "label_names", tuple(self.label_names))
        object.__setattr__(self, "text_columns", tuple(self.text_columns))
        object.__setattr__(self, "metrics", tuple(self.metrics) or (self.metric,))

    @property
    def num_labels(self) -> int:
        return 1 if self.is_regression else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        return "text_pair" in self.text_columns


class Task(NamedTuple):
    """A loaded task: `info, data = load_task("bbc")`."""

    info: TaskInfo
    data: object  # datasets.DatasetDict with splits train, dev, test


def parse_text_columns(value) -> tuple[str, ...]:
    """"a,b" or ("a", "b") -> ("a", "b"): one or two non-empty, distinct column names, else DataError."""
    columns = tuple(c.strip() for c in (value.split(",") if isinstance(value, str) else value))
    if not 1 <= len(columns) <= 2 or not all(columns) or len(set(columns)) != len(columns):
        raise DataError(f"text columns {value!r}: give the text column and the text-pair column of the file, "
                        "two different names separated by a comma, e.g. --text-columns question,answer "
                        "(or one name for a single-sentence task)")
    return columns


# --------------------------------------------------------------------------------------- labels
def encode_labels(values: Sequence, label_names=None, num_labels=None, is_regression: bool = False,
                  source: str = "task") -> tuple[list, tuple[str, ...]]:
    """Label values -> (ids or floats, label names).

    Strings map to `label_names` (default: the sorted distinct strings); ints must lie in
    [0, num_labels) where num_labels defaults to len(label_names) or max + 1. Regression: floats, names ().
    """
    values = list(values)
    if is_regression:
        try:
            return [float(v) for v in values], ()
        except (TypeError, ValueError):
            raise DataError(f"{source}: regression labels must be numbers, found {values[:3]!r}; "
                            "pass is_regression=False for class labels") from None
    if all(isinstance(v, str) for v in values):
        names = tuple(label_names) if label_names is not None else tuple(sorted(set(values)))
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise DataError(f"{source}: labels {unknown[:5]} are not in the label set {list(names)}; "
                            "fix the labels or pass the full label_names")
        index = {name: i for i, name in enumerate(names)}
        return [index[v] for v in values], names
    return _integer_labels(values, label_names, num_labels, source)


def _integer_labels(values, label_names, num_labels, source):
    try:
        ids = [int(v) for v in values]
    except (TypeError, ValueError):
        raise DataError(f"{source}: labels must be all strings or all integers, found {values[:3]!r}; "
                        "clean the label column") from None
    if any(i != v for i, v in zip(ids, values, strict=True)):
        raise DataError(f"{source}: labels look continuous ({values[:3]!r}); pass is_regression=True "
                        "for a regression task")
    size = len(label_names) if label_names is not None else num_labels
    size = size if size is not None else max(ids) + 1
    bad = sorted({i for i in ids if not 0 <= i < size})
    if bad:
        raise DataError(f"{source}: label ids {bad[:5]} are outside the label set 0..{size - 1}; labels "
                        "must be 0..num_labels-1: fix the labels or pass the right label_names/num_labels")
    names = tuple(label_names) if label_names is not None else tuple(str(i) for i in range(size))
    return ids, names


# --------------------------------------------------------------------------------------- splits
def split_indices(labels: Sequence, held_out: dict, seed: int, stratify: bool = True) -> dict:
    """Seeded split of row indices: `held_out` maps split name -> size (int) or fraction (float);
    the rest is "train". Stratified by label (largest-remainder quotas) unless stratify=False.
    Returns {split: sorted list of indices}; deterministic for a given seed."""
    total = len(labels)
    sizes = {s: (v if isinstance(v, int) else round(v * total)) for s, v in held_out.items()}
    if sum(sizes.values()) >= total:
        raise DataError(f"cannot hold out {sizes} from {total} rows: lower the held-out sizes or add data")
    rng = np.random.default_rng(seed)
    groups = {"": list(range(total))}
    if stratify:
        groups = {}
        for i, label in enumerate(labels):
            groups.setdefault(label, []).append(i)
    pools = {key: list(rng.permutation(groups[key])) for key in sorted(groups)}
    out = {}
    for split, size in sizes.items():
        quotas = _quotas({k: len(v) for k, v in pools.items()}, size)
        out[split] = sorted(int(i) for k in pools for i in pools[k][: quotas[k]])
        pools = {k: v[quotas[k]:] for k, v in pools.items()}
    out["train"] = sorted(int(i) for pool in pools.values() for i in pool)
    return out


def _quotas(counts: dict, size: int) -> dict:
    total = sum(counts.values())
    exact = {k: size * n / total for k, n in counts.items()}
    quotas = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (quotas[k] - exact[k], str(k)))[: size - sum(quotas.values())]:
        quotas[k] += 1
    return quotas


def build_task(info: TaskInfo, columns: dict, labels: list, splits=None, seed: int = 0,
               held_out=None) -> Task:
    """Assemble a validated Task from column lists (`text`, optional `text_pair`, extra columns such as
    `id`) and labels. `splits` (one split name per row) is used when given; a missing dev/test split is
    carved from train with `held_out` (split -> size or fraction), seeded and stratified."""
    from datasets import Dataset, DatasetDict

    n = len(labels)
    splits = list(splits) if splits is not None else ["train"] * n
    missing = {s: v for s, v in (held_out or {}).items() if s not in splits}
    if missing:
        train_rows = [i for i, s in enumerate(splits) if s == "train"]
        parts = split_indices([labels[i] for i in train_rows], missing, seed, not info.is_regression)
        for split, rows in parts.items():
            for r in rows:
                splits[train_rows[r]] = split
    data = {}
    for split in SPLITS:
        rows = [i for i, s in enumerate(splits) if s == split]
        table = {key: [values[i] for i in rows] for key, values in columns.items()}
        table["label"] = [labels[i] for i in rows]
        data[split] = Dataset.from_dict(table, features=_features(table, info))
    task = Task(info, DatasetDict(data))
    validate_task(task)
    return task


def _features(table: dict, info: TaskInfo):
    from datasets import Features, Value

    kinds = {key: Value("string") for key in table if key != "label"}
    kinds["label"] = Value("float32" if info.is_regression else "int64")
    return Features(kinds)


def validate_task(task: Task) -> None:
    """Every split non-empty; a classifier's train split holds at least two classes."""
    info, data = task
    for split in SPLITS:
        if split not in data or len(data[split]) == 0:
            raise DataError(f"task {info.name!r}: split {split!r} is empty; add examples (or lower the "
                            "held-out fractions) so that train, dev and test all hold some")
    if not info.is_regression:
        seen = set(data["train"]["label"])
        if len(seen) < 2:
            only = info.label_names[next(iter(seen))] if seen else "none"
            raise DataError(f"task {info.name!r}: only one class ({only!r}) in train; a classifier needs "
                            "at least two: check the label column")


def task_report(task: Task) -> dict:
    """Sizes and label counts per split (notebook 07's data table). Regression: label mean/min/max."""
    info, data = task
    report = {"name": info.name, "metric": info.metric, "sizes": {s: len(data[s]) for s in data}}
    labels = {s: list(data[s]["label"]) for s in data}
    if info.is_regression:
        report["labels"] = {s: {"mean": float(np.mean(v)), "min": float(min(v)), "max": float(max(v))}
                            for s, v in labels.items()}
    else:
        report["labels"] = {s: {info.label_names[k]: n for k, n in sorted(Counter(v).items())}
                            for s, v in labels.items()}
    return report
