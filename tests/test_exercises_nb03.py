"""Checkers of notebook 03 (layer mapping, Eq. 6): reference and workshop solutions pass, the starter is
`not_attempted`, and each catalogued mistake, written as a learner would, is named by its code."""

import importlib.util
from pathlib import Path

import pytest

from tinybert_ref.exercises import nb03

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions" / "nb03.py"


def _solutions():
    spec = importlib.util.spec_from_file_location("nb03_solutions", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _starter(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", [nb03.q1, nb03.q2], ids=["q1", "q2"])
def test_starter_reference_hints(exercise):
    assert exercise.check(_starter).code == "not_attempted"
    assert exercise.check(exercise.reference).code == "correct"
    assert 1 <= len(exercise.hints) <= 3
    assert "def layer_mapping" in exercise.solution()


def test_solutions_pass():
    solutions = _solutions()
    assert nb03.q1.check(solutions.uniform_mapping).code == "correct"
    assert nb03.q2.check(solutions.top_mapping).code == "correct"


def test_the_papers_rule():
    assert nb03.uniform_reference(4, 12) == [0, 3, 6, 9, 12]  # g(m) = 3m
    assert nb03.top_reference(4, 12) == [0, 9, 10, 11, 12]


@pytest.mark.parametrize("answer, code", [
    (lambda M, N: tuple(m * N // M for m in range(M + 1)), "correct"),
    (lambda M, N: [0] + [3 * m - 1 if N == 12 and M == 4 else m * N // M - 1 for m in range(1, M + 1)],
     "mapping_off_by_one"),
    (lambda M, N: [m * (N // M) - 1 for m in range(M + 1)], "mapping_off_by_one"),
    (lambda M, N: [m * N // M for m in range(1, M + 1)], "forgot_embedding"),
    (lambda M, N: [m * M // N for m in range(M + 1)], "ratio_inverted"),
    (lambda M, N: list(range(M + 1)), "bottom_instead"),
    (lambda M, N: [m * N / M for m in range(M + 1)], "not_ints"),
    (lambda M, N: [m * N // M for m in range(M + 1)] + [N + 1], "includes_prediction_layer"),
    (lambda M, N: {m: m * N // M for m in range(M + 1)}, "wrong_type"),
    (lambda M, N: [0, 3, 6, 9, 12], "values"),
    (lambda M, N: [m * (N // (M - 4)) for m in range(M + 1)], "raises"),
])
def test_q1_mistakes(answer, code):
    assert nb03.q1.check(answer).code == code


@pytest.mark.parametrize("answer, code", [
    (lambda M, N: [0, *range(N - M + 1, N + 1)], "correct"),
    (lambda M, N: list(range(N - M + 1, N + 1)), "forgot_embedding"),
    (lambda M, N: [0, *range(N - M, N)], "top_off_by_one"),
    (lambda M, N: list(range(N - M, N + 1)), "embedding_shifted"),
    (lambda M, N: list(range(M + 1)), "bottom_instead"),
    (lambda M, N: [m * N // M for m in range(M + 1)], "uniform_instead"),
    (lambda M, N: [0, *range(N - M + 1, N + 1), N + 1], "includes_prediction_layer"),
])
def test_q2_mistakes(answer, code):
    assert nb03.q2.check(answer).code == code
