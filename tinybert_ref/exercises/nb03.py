"""Checkers for notebook 03 (layer mapping n = g(m), TinyBERT Eq. 6): the uniform and the top mapping.

Answers are lists [g(0), g(1), ..., g(M)] with g(0) = 0 (the embedding layer), as
`tinybert_ref.mapping.layer_mapping` returns them. The probes include depths that do not divide: the
course's own MiniLM teacher maps 6 layers onto 4, where a step N // M computed first gives the bottom
mapping, and 12 -> 5, where rounding up and rounding to the nearest layer differ.
"""

from __future__ import annotations

import math
from functools import partial

from ..mapping import layer_mapping, uniform_mapping
from .checker import CheckResult, Mistake, ValueExercise, convention

__all__ = ["q1", "q2", "uniform_reference", "top_reference", "DEPTHS"]

# (M student layers, N teacher layers): the paper's 12 -> 4 first, then the course's 6 -> 4, then others
DEPTHS = [(4, 12), (4, 6), (5, 12), (3, 6), (2, 8), (6, 12)]


def uniform_reference(student_layers: int, teacher_layers: int) -> list[int]:
    """g(m) = m * N / M rounded to the nearest layer, halves up (12 -> 4: [0, 3, 6, 9, 12]; 6 -> 4: [0, 2, 3, 5, 6])."""
    return layer_mapping(student_layers, teacher_layers, "uniform")


def top_reference(student_layers: int, teacher_layers: int) -> list[int]:
    """g(0) = 0, g(m) = N - M + m for m = 1..M (12 -> 4: [0, 9, 10, 11, 12])."""
    return layer_mapping(student_layers, teacher_layers, "top")


def _describe(args) -> str:
    return f"M = {args[0]} student layers, N = {args[1]} teacher layers"


def _inspect_list(got, expected, args):
    if not isinstance(got, (list, tuple)):
        return CheckResult(False, "wrong_type", f"expected a list [g(0), ..., g(M)], got {type(got).__name__}")
    if any(isinstance(n, bool) or not isinstance(n, int) for n in got):
        return CheckResult(False, "not_ints", f"layer indices must be ints, got {list(got)}; a layer is a whole "
                           "number (layer 3, not layer 3.0): round, then int(...)")
    if len(got) == len(expected) + 1 and list(got[:-1]) == expected:
        return CheckResult(False, "includes_prediction_layer",
                           f"you appended g(M+1) = {got[-1]}; the prediction layer is distilled by Eq. 10, not by "
                           "the layer mapping: return g(0), ..., g(M) only")
    return None


# both exercises: a list [g(0), ..., g(M)] on every depth pair of DEPTHS
_mapping_exercise = partial(ValueExercise, probes=lambda: list(DEPTHS), describe=_describe, inspect=_inspect_list)


def _shifted(M, N, shift, embedding=0):
    return [embedding] + [n + shift for n in uniform_reference(M, N)[1:]]


_HALF_UP = ("the package rounds m * N / M to the nearest layer with halves rounded up, to the deeper layer "
            "(6 -> 4: [0, 2, 3, 5, 6]; notebook 03, section 2). The paper only uses depths that divide, where "
            "every rounding agrees")

q1 = _mapping_exercise(
    name="the uniform mapping",
    hints=[
        "Uniform puts every student layer at the same relative depth in the teacher: m / M of the way through "
        "the student is m * N / M of the way through the teacher. g(0) = 0 is the embedding layer and g(M) = N.",
        "m * N / M is not always a whole layer (6 -> 4 gives 1.5 and 4.5). Multiply before you divide, then round "
        "to the nearest layer with halves up (the package's rule, section 2); Python's round() sends halves to "
        "the even neighbour, and N // M computed first floors the step itself.",
        "return [int(m * teacher_layers / student_layers + 0.5) for m in range(student_layers + 1)]",
    ],
    reference=uniform_reference,
    shown_solution=uniform_mapping,
    mistakes=[
        Mistake("integer_step", lambda M, N: [m * (N // M) for m in range(M + 1)],
                "you computed the step N // M first: for 6 -> 4 it is 6 // 4 = 1, so g(m) = m, the BOTTOM "
                "mapping [0, 1, 2, 3, 4], not a uniform spread (the official TinyBERT code computes its step this "
                "way, which is why it only accepts depths that divide). Multiply first, m * N / M, then round"),
        convention("rounding", lambda M, N: [round(m * N / M) for m in range(M + 1)],
                   "Python's round() sends halves to the even neighbour (round(4.5) = 4, so 6 -> 4 gives "
                   f"[0, 2, 3, 4, 6]); {_HALF_UP}"),
        convention("rounding", lambda M, N: [m * N // M for m in range(M + 1)],
                   f"you rounded m * N / M down (6 -> 4 gives [0, 1, 3, 4, 6]); {_HALF_UP}"),
        convention("rounding", lambda M, N: [math.ceil(m * N / M) for m in range(M + 1)],
                   f"you rounded m * N / M up (12 -> 5 gives [0, 3, 5, 8, 10, 12]); {_HALF_UP}"),
        Mistake("mapping_off_by_one", lambda M, N: _shifted(M, N, -1),
                "your mapping is one layer too shallow (g(M) = N - 1): teacher layers count from 1 "
                "(hidden_states[0] is the embedding output), so g(M) must be N"),
        Mistake("mapping_off_by_one", lambda M, N: _shifted(M, N, -1, embedding=-1),
                "your mapping is one layer too shallow (and g(0) = -1): teacher layers count from 1 and g(0) = 0 "
                "is the embedding layer"),
        Mistake("forgot_embedding", lambda M, N: uniform_reference(M, N)[1:],
                "g(0) = 0 is missing: the mapping starts with the embedding layer (m = 0 -> n = 0, Eq. 9), "
                "so it has M + 1 entries"),
        Mistake("ratio_inverted", lambda M, N: [m * M // N for m in range(M + 1)],
                "the ratio is upside down: each student layer jumps N / M teacher layers, not M / N"),
        Mistake("bottom_instead", lambda M, N: list(range(M + 1)),
                "that is the bottom mapping g(m) = m; uniform spreads the layers: g(m) = m * N / M"),
    ],
    success="you wrote the uniform mapping: g(m) = m * N / M, the paper's 3m for 12 -> 4, rounded to the nearest "
            "layer with halves up where N / M is not whole ([0, 2, 3, 5, 6] for our 6 -> 4).",
)


q2 = _mapping_exercise(
    name="the top mapping",
    hints=[
        "Top takes the LAST M teacher layers, in order; the embeddings still map to the embeddings.",
        "For M = 4, N = 12 it is [0, 9, 10, 11, 12]: g(m) = N - M + m for m >= 1, g(0) = 0.",
        "return [0] + [teacher_layers - student_layers + m for m in range(1, student_layers + 1)]",
    ],
    reference=top_reference,
    shown_solution=layer_mapping,
    mistakes=[
        Mistake("forgot_embedding", lambda M, N: [N - M + m for m in range(1, M + 1)],
                "g(0) = 0 is missing: the embeddings map to the embeddings whatever the strategy"),
        Mistake("top_off_by_one", lambda M, N: [0] + [N - M + m - 1 for m in range(1, M + 1)],
                "one layer too shallow: the last student layer must map to the last teacher layer N"),
        Mistake("embedding_shifted", lambda M, N: [N - M + m for m in range(M + 1)],
                "g(0) must stay 0 (embeddings to embeddings); only the Transformer layers move to the top"),
        Mistake("bottom_instead", lambda M, N: list(range(M + 1)),
                "that is the bottom mapping g(m) = m; top uses the last M teacher layers"),
        Mistake("uniform_instead", uniform_reference,
                "that is the uniform mapping; top uses the last M teacher layers, one after another"),
    ],
    success="you wrote the top mapping; the paper's mapping study (Table 5) finds uniform better on "
            "average: it takes knowledge from every depth of the teacher, top and bottom from one end only.",
)
