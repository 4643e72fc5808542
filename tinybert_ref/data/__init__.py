"""Data for TinyBERT: tasks (train / dev / test DatasetDicts), the general-distillation corpus and
tokenisation.

    base.py      TaskInfo, Task, DataError, label encoding, seeded splits, build_task, task_report
    tasks.py     load_task ("bbc", "bbc_pairs", GLUE names or folders, CSV/TSV/JSONL files), load_table
    bbc.py       the BBC headline task, its de-duplication and committed split manifest
    bbc_pairs.py the BBC headline / lead-paragraph pair task (split as bbc.py) and its committed pairing
    glue.py      GLUE by name (online) or from a folder of GLUE TSV files
    corpus.py    BBC bodies without test articles, text corpora, packing into fixed-length blocks
    tokenize.py  cached task tokenisation, dynamic-padding collator

Names below are imported lazily, so `import tinybert_ref.data` stays cheap (no `datasets` import).
"""

from __future__ import annotations

import importlib

__all__ = [
    "DataError",
    "TaskInfo",
    "Task",
    "load_task",
    "load_bbc_headlines",
    "load_bbc_pairs",
    "load_glue",
    "load_table",
    "task_report",
    "bbc_report",
    "bbc_bodies",
    "load_text_corpus",
    "pack_corpus",
    "held_out_split",
    "tokenize_task",
    "collator",
]

_HOME = {
    "DataError": "tasks", "TaskInfo": "tasks", "Task": "tasks", "load_task": "tasks",
    "load_bbc_headlines": "tasks", "load_bbc_pairs": "tasks", "load_glue": "tasks", "load_table": "tasks",
    "task_report": "tasks",
    "bbc_report": "bbc", "bbc_bodies": "corpus", "load_text_corpus": "corpus", "pack_corpus": "corpus",
    "held_out_split": "corpus", "tokenize_task": "tokenize", "collator": "tokenize",
}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)


def __dir__():
    return sorted(__all__)
