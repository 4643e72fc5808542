"""Classify text with an exported model: numpy, tokenizers and onnxruntime only (no torch, no transformers).

    from tinybert_ref.onnx_predict import OnnxClassifier

    classify = OnnxClassifier("runs/laptop/export")               # student.int8.onnx by default
    classify.predict(["Shares rise as the bank raises its forecast"])   # -> ["business"]
    classify.logits([("A man plays guitar", "Someone plays music")])    # sentence pairs: (text, text_pair)

A model of a sentence-pair task (`bbc_pairs`, MRPC, ...; export.json's "text_columns" lists two columns)
takes (text, text_pair) tuples: the second text gets segment 1, as in training.

The folder is what `tinybert_ref.export.export_run` writes (tokenizer.json, labels.json, export.json and
the .onnx files). Tokenisation is the `tokenizers` library on tokenizer.json, which is the same tokenizer
the fast `transformers` tokenizer runs, truncated at the run's max_seq_len (export.json). Taught in
notebook 11. This module must not import torch: a service that ships the student needs none.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

__all__ = ["OnnxClassifier", "DEFAULT_MODEL"]

DEFAULT_MODEL = "student.int8.onnx"


class OnnxClassifier:
    """A text classifier from an export folder: `predict(texts)` -> label names, `logits(texts)` -> (N, C).

    folder: the export folder; model: the graph's file name in it (student.onnx, teacher.int8.onnx, ...);
    threads: onnxruntime's intra-op threads (None: its default, all cores); batch_size: texts per run.
    """

    def __init__(self, folder, model: str = DEFAULT_MODEL, threads: int | None = None, batch_size: int = 64):
        self.folder = Path(folder)
        path = self.folder / model
        if not path.is_file():
            found = sorted(p.name for p in self.folder.glob("*.onnx")) if self.folder.is_dir() else []
            raise FileNotFoundError(f"no {model} in {self.folder} (found: {', '.join(found) or 'no .onnx file'}); "
                                    "write it with `tinybert-ref export RUN_DIR --onnx --int8`")
        self.labels = json.loads((self.folder / "labels.json").read_text())
        manifest_path = self.folder / "export.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        self.max_length = int(manifest.get("max_length", 512))
        self.tokenizer = _tokenizer(self.folder, self.max_length)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.batch_size = batch_size

    def encode(self, texts) -> dict[str, np.ndarray]:
        """Token ids of a batch: {input_ids, attention_mask, token_type_ids}, each (B, L) int64, padded to
        the longest. texts: a str, a list of str, or a list of (text, text_pair) tuples."""
        texts = [texts] if isinstance(texts, (str, tuple)) else list(texts)
        encodings = self.tokenizer.encode_batch(texts)
        return {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}

    def logits(self, texts) -> np.ndarray:
        """Logits (N, C), float32, one row per text (see `encode` for what texts may be)."""
        texts = [texts] if isinstance(texts, (str, tuple)) else list(texts)
        if not texts:
            raise ValueError("no texts to classify: pass a string or a non-empty list of strings")
        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.encode(texts[start:start + self.batch_size])
            rows.append(self.session.run(None, {name: batch[name] for name in self.input_names})[0])
        return np.concatenate(rows)

    def predict(self, texts) -> list[str]:
        """The label name of each text (argmax of its logits)."""
        return [self.labels[i] for i in self.logits(texts).argmax(-1)]


def _tokenizer(folder: Path, max_length: int) -> Tokenizer:
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer.json in {folder}; the export folder is incomplete: export again "
                                "with `tinybert-ref export RUN_DIR --onnx`")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length)
    pad_token = _pad_token(folder)
    pad_id = tokenizer.token_to_id(pad_token)
    tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)
    return tokenizer


def _pad_token(folder: Path) -> str:
    config = folder / "tokenizer_config.json"
    token = json.loads(config.read_text()).get("pad_token") if config.is_file() else None
    if isinstance(token, dict):  # older files store an AddedToken as a dict
        token = token.get("content")
    return token or "[PAD]"
