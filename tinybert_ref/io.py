"""Atomic writes: a file or a folder is replaced whole or not at all.

Every file a run leaves (config.json, DONE.json, metrics.json, report.md, checkpoints, saved models,
figures) is written to a temporary file or folder beside its target and renamed over it, so a kill or a
full disk leaves the old version or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["json_default", "open_atomic", "read_json", "replace_dir", "save_model_atomic", "write_json_atomic",
           "write_text_atomic"]


def json_default(value):
    """JSON for what metrics dicts tend to hold besides plain types: numpy values, paths, dataclasses."""
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON; convert it to a number, string, list or dict")


@contextlib.contextmanager
def open_atomic(path, mode: str = "w"):
    """Yield a temporary file beside `path` (text mode writes UTF-8), renamed over `path` when the block
    ends without an error; on an error the temporary file goes and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json_atomic(path, obj, indent: int = 2, sort_keys: bool = False, default=json_default) -> Path:
    """Write `obj` as JSON to `path` atomically: the old file stays intact if anything fails midway."""
    with open_atomic(path) as file:
        json.dump(obj, file, indent=indent, sort_keys=sort_keys, default=default)
    return Path(path)


def write_text_atomic(path, text: str) -> Path:
    """Write `text` to `path` atomically (temporary file + os.replace)."""
    with open_atomic(path) as file:
        file.write(text)
    return Path(path)


def read_json(path):
    """Read a JSON file; a missing file raises FileNotFoundError naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no JSON file at {path}; has the run that writes it finished?")
    return json.loads(path.read_text(encoding="utf-8"))


@contextlib.contextmanager
def replace_dir(target, processes=None):
    """Yield TARGET.tmp to fill, then swap it in place of `target` (through TARGET.old, which a kill
    between the two renames leaves behind). processes: an accelerator when several processes fill the
    folder together; they wait for each other, and the main process renames."""
    target = Path(target)
    tmp, old = target.with_name(target.name + ".tmp"), target.with_name(target.name + ".old")
    main = processes is None or processes.is_main_process
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    if processes is not None:
        processes.wait_for_everyone()
    yield tmp
    if main:
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    if processes is not None:
        processes.wait_for_everyone()


def save_model_atomic(model, target, tokenizer=None) -> None:
    """`save_pretrained` (model, and tokenizer if given) into a temporary folder swapped in for `target`."""
    with replace_dir(target) as tmp:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
