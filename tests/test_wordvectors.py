"""WordVectors: GloVe loading (package, text file, arrays) and batched cosine neighbours (Algorithm 1)."""

from __future__ import annotations

import numpy as np
import pytest

from tinybert_ref.augment import wordvectors
from tinybert_ref.augment.wordvectors import WordVectors, WordVectorsError


@pytest.fixture(scope="module")
def glove():
    return WordVectors.from_glove_package()


@pytest.fixture
def toy():
    words = ["cat", "dog", "kitten", "car", "truck", "zero"]
    matrix = [[1.0, 0.0, 0.1], [0.9, 0.3, 0.0], [1.0, 0.05, 0.2], [0.0, 1.0, 0.0], [0.1, 0.9, 0.1], [0, 0, 0]]
    return WordVectors.from_arrays(words, matrix)


def test_real_glove_king_neighbours(glove):
    assert len(glove) == 400_000 and glove.dim == 50
    assert isinstance(glove.matrix, np.memmap)  # read lazily, not copied at load
    top = glove.neighbours("king", 10)
    assert len(top) == 10 and "king" not in top
    assert {"queen", "prince"} & set(top)


def test_real_glove_batched_equals_single_and_lowercases(glove):
    words = ["france", "Computer", "qqqxnotaword", "unbelievably"]
    many = glove.neighbours_many(words, 5)
    assert many[2] == []
    assert many == [glove.neighbours(w, 5) for w in words]
    assert many[1] == glove.neighbours("computer", 5)


def test_toy_neighbours_ranked_by_cosine(toy):
    assert toy.neighbours("cat", 2) == ["kitten", "dog"]
    assert toy.neighbours("car", 1) == ["truck"]
    assert toy.neighbours("CAT", 1) == ["kitten"]
    assert toy.neighbours("bird", 3) == []
    assert len(toy.neighbours("cat", 100)) == 5  # capped at the vocabulary minus the word itself
    assert np.allclose(np.linalg.norm(toy.unit_vectors()[:5], axis=1), 1.0)
    assert not toy.unit_vectors()[5].any()  # a zero vector stays zero, no NaN
    with pytest.raises(ValueError, match="at least one"):
        toy.neighbours("cat", 0)


def test_chunked_queries_give_the_same_answer(toy, monkeypatch):
    expected = toy.neighbours_many(["cat", "car", "dog", "truck"], 3)
    monkeypatch.setattr(wordvectors, "_SCORE_BUDGET", 1)  # one query word per chunk
    assert toy.neighbours_many(["cat", "car", "dog", "truck"], 3) == expected


def test_from_arrays_checks_shapes():
    with pytest.raises(WordVectorsError, match="one row"):
        WordVectors.from_arrays(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(WordVectorsError, match="no words"):
        WordVectors.from_arrays([], np.zeros((0, 2)))


def test_text_file_loader(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("the 1.0 0.0 0.0\nthe 9 9 9\n. . . 0.0 1.0 0.0\n\ncat 0.9 0.1 0.0\ndog 0.8 0.2 0.0\n",
                    encoding="utf-8")
    vectors = WordVectors.from_text_file(path)
    assert vectors.words == ["the", "the", ". . .", "cat", "dog"] and vectors.matrix.dtype == np.float32
    assert vectors.index["the"] == 0  # the first occurrence wins
    assert vectors.neighbours("dog", 1) == ["cat"]
    assert ". . ." in vectors
    limited = WordVectors.from_text_file(path, limit=2)
    assert limited.words == ["the", "the"] and limited.matrix.shape == (2, 3)


@pytest.mark.parametrize("content, match", [
    ("a 1 2 3\nb 1 2\n", "line 2 has 2 fields"),
    ("a 1 2 3\nb 1 2 3 4\n", "line 2 has 4 fields"),
    ("a 1 2 3\nb 1 x 3\n", "line 2"),
    ("a\n", "no vector"),
    ("\n\n", "is empty"),
])
def test_text_file_errors(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WordVectorsError, match=match):
        WordVectors.from_text_file(path)


def test_missing_text_file(tmp_path):
    with pytest.raises(WordVectorsError, match="from_glove_package"):
        WordVectors.from_text_file(tmp_path / "glove.840B.300d.txt")
