"""Checkers of notebook 03 (layer mapping, Eq. 6): the harness's table for each exercise. The probes include
the course's 6 -> 4, where a step N // M computed first gives the bottom mapping."""

import math

import pytest
from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb03


def _uniform(M, N):
    return [(2 * m * N + M) // (2 * M) for m in range(M + 1)]


TABLES = {
    "q1": Table("uniform_mapping", wrong=[
        ("integer_step", lambda M, N: [m * (N // M) for m in range(M + 1)]),  # the old hint: bottom for 6 -> 4
        ("integer_step", lambda M, N: list(range(0, N + 1, N // M))[:M + 1]),
        ("convention_rounding", lambda M, N: [round(m * N / M) for m in range(M + 1)]),
        ("convention_rounding", lambda M, N: [int(m * N / M) for m in range(M + 1)]),
        ("convention_rounding", lambda M, N: [math.ceil(m * N / M) for m in range(M + 1)]),
        ("mapping_off_by_one", lambda M, N: [0] + [n - 1 for n in _uniform(M, N)[1:]]),
        ("mapping_off_by_one", lambda M, N: [n - 1 for n in _uniform(M, N)]),
        ("forgot_embedding", lambda M, N: _uniform(M, N)[1:]),
        ("ratio_inverted", lambda M, N: [m * M // N for m in range(M + 1)]),
        ("bottom_instead", lambda M, N: list(range(M + 1))),
        ("not_ints", lambda M, N: [m * N / M for m in range(M + 1)]),
        ("includes_prediction_layer", lambda M, N: _uniform(M, N) + [N + 1]),
        ("wrong_type", lambda M, N: {m: n for m, n in enumerate(_uniform(M, N))}),
        ("values", lambda M, N: [0, 3, 6, 9, 12]),
        ("raises", lambda M, N: [m * (N // (M - 4)) for m in range(M + 1)]),
    ], passes=[
        lambda M, N: tuple(_uniform(M, N)),
        lambda M, N: [int(m * N / M + 0.5) for m in range(M + 1)],
        lambda M, N: [math.floor(m * N / M + 0.5) for m in range(M + 1)],
    ]),
    "q2": Table("top_mapping", wrong=[
        ("forgot_embedding", lambda M, N: list(range(N - M + 1, N + 1))),
        ("top_off_by_one", lambda M, N: [0, *range(N - M, N)]),
        ("embedding_shifted", lambda M, N: list(range(N - M, N + 1))),
        ("bottom_instead", lambda M, N: list(range(M + 1))),
        ("uniform_instead", _uniform),
        ("includes_prediction_layer", lambda M, N: [0, *range(N - M + 1, N + 1), N + 1]),
    ], passes=[lambda M, N: [0, *range(N - M + 1, N + 1)]]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb03, TABLES)


def test_the_papers_rule_and_ours():
    assert nb03.uniform_reference(4, 12) == [0, 3, 6, 9, 12]  # g(m) = 3m
    assert nb03.uniform_reference(4, 6) == [0, 2, 3, 5, 6]  # the course's MiniLM teacher
    assert nb03.top_reference(4, 12) == [0, 9, 10, 11, 12]
    assert (4, 6) in nb03.DEPTHS and any(n % m for m, n in nb03.DEPTHS)


@pytest.mark.parametrize("name", ["q1", "q2"])
def test_the_last_hint_is_a_correct_answer(name):
    """Issue 14: q1's old last hint, `m * (teacher_layers // student_layers)`, gave the bottom mapping for 6 -> 4."""
    exercise = getattr(nb03, name)
    namespace = {}
    exec(f"def answer(student_layers, teacher_layers):\n    {exercise.hints[-1]}", namespace)  # noqa: S102
    assert exercise.check(namespace["answer"]).passed
