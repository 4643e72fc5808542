"""GLUE tasks (the paper's benchmark, Table 1) by name: online through `datasets`, or offline from a
folder of the original GLUE TSV files (SST-2/train.tsv, dev.tsv, ...).

GLUE hides its test labels, so here the GLUE dev set is our **test** split and a seeded, stratified
10% of GLUE train (at most 5,000 rows) is our **dev** split (used to pick checkpoints); test.tsv is
ignored. MNLI uses dev_matched. Metrics follow the paper: accuracy; Matthews for CoLA; F1 (and
accuracy) for MRPC and QQP; Spearman (and Pearson) for STS-B. Used by `load_task` and notebook 09.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .base import DataError, Task, TaskInfo, build_task, encode_labels

__all__ = ["GLUE_TASKS", "GLUE_HUB_NAME", "GlueSpec", "glue_task_name", "load_glue", "read_glue_tsv"]

log = logging.getLogger(__name__)
GLUE_HUB_NAME = "nyu-mll/glue"  # the hub id of GLUE; the legacy name "glue" redirects to it
_PAIR = ("text", "text_pair")


@dataclass(frozen=True)
class GlueSpec:
    """One GLUE task: folder name, TSV and hub columns (text, then pair), label column and names."""

    folder: str
    tsv_text: tuple[str, ...]
    hub_text: tuple[str, ...]
    tsv_label: str
    label_names: tuple[str, ...] = ()  # () = regression
    metric: str = "accuracy"
    metrics: tuple[str, ...] = ()
    header: tuple[str, ...] | None = None  # column names of a headerless TSV (CoLA)
    dev_file: str = "dev.tsv"
    hub_dev: str = "validation"


_NLI = ("entailment", "not_entailment")
GLUE_TASKS = {
    "sst2": GlueSpec("SST-2", ("sentence",), ("sentence",), "label", ("negative", "positive")),
    "cola": GlueSpec("CoLA", ("sentence",), ("sentence",), "label", ("unacceptable", "acceptable"),
                     "matthews", ("matthews", "accuracy"),
                     header=("source", "label", "original_label", "sentence")),
    "mrpc": GlueSpec("MRPC", ("#1 String", "#2 String"), ("sentence1", "sentence2"), "Quality",
                     ("not_equivalent", "equivalent"), "f1", ("f1", "accuracy")),
    "qqp": GlueSpec("QQP", ("question1", "question2"), ("question1", "question2"), "is_duplicate",
                    ("not_duplicate", "duplicate"), "f1", ("f1", "accuracy")),
    "stsb": GlueSpec("STS-B", ("sentence1", "sentence2"), ("sentence1", "sentence2"), "score", (),
                     "spearman", ("spearman", "pearson")),
    "mnli": GlueSpec("MNLI", ("sentence1", "sentence2"), ("premise", "hypothesis"), "gold_label",
                     ("entailment", "neutral", "contradiction"), dev_file="dev_matched.tsv",
                     hub_dev="validation_matched"),
    "qnli": GlueSpec("QNLI", ("question", "sentence"), ("question", "sentence"), "label", _NLI),
    "rte": GlueSpec("RTE", ("sentence1", "sentence2"), ("sentence1", "sentence2"), "label", _NLI),
    "wnli": GlueSpec("WNLI", ("sentence1", "sentence2"), ("sentence1", "sentence2"), "label",
                     ("not_entailment", "entailment")),
}


def glue_task_name(name) -> str | None:
    """Canonical GLUE name ("sst2") for "SST-2", "sst_2", "STS-B", ...; None when it is not GLUE."""
    key = str(name).lower().replace("-", "").replace("_", "").replace(" ", "")
    return key if key in GLUE_TASKS else None


def _spec(name) -> tuple[str, GlueSpec]:
    key = glue_task_name(name)
    if key is None:
        raise DataError(f"unknown GLUE task {name!r}; choose one of {sorted(GLUE_TASKS)}")
    return key, GLUE_TASKS[key]


def read_glue_tsv(path: Path, columns, header=None) -> dict:
    """The named columns of a GLUE TSV file as lists of strings (no quoting, as GLUE writes them).

    header: column names for a headerless file. Rows with the wrong number of fields are skipped and
    counted (some GLUE files hold a few malformed rows).
    """
    if not path.is_file():
        raise DataError(f"missing GLUE file {path}; a GLUE folder needs train.tsv and the dev file "
                        "(download GLUE, or load the task online by name)")
    csv.field_size_limit(1 << 24)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        names = list(header) if header is not None else next(reader, [])
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(f"{path} has no column {missing[0]!r}; columns found: {names}; is this the "
                            "right GLUE task folder (pass name=...)?")
        where = [names.index(c) for c in columns]
        out, skipped = {c: [] for c in columns}, 0
        for row in reader:
            if len(row) != len(names):
                skipped += 1
                continue
            for column, i in zip(columns, where, strict=True):
                out[column].append(row[i])
    if skipped:
        log.warning("%s: skipped %d malformed rows (wrong number of fields)", path, skipped)
    return out


def _from_folder(folder: Path, spec: GlueSpec) -> dict:
    if not folder.is_dir():
        raise DataError(f"no GLUE folder at {folder}; pass the folder that holds {spec.folder}'s train.tsv")
    dev = folder / spec.dev_file
    if not dev.is_file() and (folder / "dev.tsv").is_file():
        dev = folder / "dev.tsv"
    columns = (*spec.tsv_text, spec.tsv_label)
    parts = {"train": read_glue_tsv(folder / "train.tsv", columns, spec.header),
             "test": read_glue_tsv(dev, columns, spec.header)}
    return {split: {**dict(zip(_PAIR, (part[c] for c in spec.tsv_text), strict=False)),
                    "label": _tsv_labels(part[spec.tsv_label], spec)} for split, part in parts.items()}


def _tsv_labels(values: list[str], spec: GlueSpec) -> list:
    if not spec.label_names:
        return [float(v) for v in values]
    if all(v.strip().lstrip("-").isdigit() for v in values):
        return [int(v) for v in values]
    return list(values)  # string labels (MNLI, QNLI, RTE): mapped to ids by encode_labels


def _from_hub(name: str, spec: GlueSpec) -> dict:
    import datasets

    log.debug("loading GLUE %s from the hub (%s)", name, GLUE_HUB_NAME)  # the outcome is logged (load_glue) or raised
    try:
        hub = datasets.load_dataset(GLUE_HUB_NAME, name)
    except Exception as error:  # offline (ConnectionError), not cached, hub down: one line with the way out
        offline = " (HF_DATASETS_OFFLINE is set)" if os.environ.get("HF_DATASETS_OFFLINE") else ""
        raise DataError(f"GLUE {name} loads from the hub ({GLUE_HUB_NAME}), which needs the network{offline}: "
                        f"{type(error).__name__}; download GLUE and pass the task's folder of TSV files, e.g. "
                        f"--task glue_data/{spec.folder}") from error
    parts = {"train": hub["train"], "test": hub[spec.hub_dev]}
    return {split: {**dict(zip(_PAIR, (list(part[c]) for c in spec.hub_text), strict=False)),
                    "label": list(part["label"])} for split, part in parts.items()}


def load_glue(name: str, folder=None, seed: int = 0, dev_fraction: float = 0.1, max_dev: int = 5000) -> Task:
    """GLUE task `name` (sst2, cola, mrpc, qqp, stsb, mnli, qnli, rte, wnli) as a Task.

    folder=None loads it online with `datasets.load_dataset("nyu-mll/glue", name)`; a folder reads the
    GLUE TSV layout. Splits: train = GLUE train minus a seeded dev (dev_fraction, at most max_dev rows),
    test = GLUE dev (GLUE's test labels are hidden). Columns: text[, text_pair], label.
    """
    key, spec = _spec(name)
    parts = _from_folder(Path(folder).expanduser(), spec) if folder is not None else _from_hub(key, spec)
    source = str(folder) if folder is not None else f"{GLUE_HUB_NAME}/{key}"
    columns = {c: parts["train"][c] + parts["test"][c] for c in parts["train"] if c != "label"}
    raw = parts["train"]["label"] + parts["test"]["label"]
    labels, names = encode_labels(raw, spec.label_names or None, is_regression=not spec.label_names,
                                  source=f"GLUE {key} ({source})")
    info = TaskInfo(key, names, not spec.label_names, spec.metric, tuple(columns), spec.metrics, source)
    n_train = len(parts["train"]["label"])
    splits = ["train"] * n_train + ["test"] * len(parts["test"]["label"])
    dev_size = min(max(1, round(dev_fraction * n_train)), max_dev)
    task = build_task(info, columns, labels, splits=splits, seed=seed, held_out={"dev": dev_size})
    log.info("GLUE %s: %s", key, {s: len(task.data[s]) for s in task.data})
    return task
