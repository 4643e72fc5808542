"""Checkers for notebook 03 (layer mapping n = g(m), TinyBERT Eq. 6): the uniform and the top mapping.

Answers are lists [g(0), g(1), ..., g(M)] with g(0) = 0 (the embedding layer), as
`tinybert_ref.mapping.layer_mapping` returns them. Probes use depths where N is a multiple of M.
"""

from __future__ import annotations

from ..mapping import layer_mapping
from .checker import CheckResult, Mistake
from .nb00 import ValueExercise

__all__ = ["q1", "q2", "uniform_reference", "top_reference"]

DEPTHS = [(4, 12), (3, 6), (2, 8), (6, 12)]  # (M student layers, N teacher layers), N divisible by M


def uniform_reference(student_layers: int, teacher_layers: int) -> list[int]:
    """g(m) = m * N / M for m = 0..M (12 -> 4: [0, 3, 6, 9, 12])."""
    return layer_mapping(student_layers, teacher_layers, "uniform")


def top_reference(student_layers: int, teacher_layers: int) -> list[int]:
    """g(0) = 0, g(m) = N - M + m for m = 1..M (12 -> 4: [0, 9, 10, 11, 12])."""
    return layer_mapping(student_layers, teacher_layers, "top")


def _describe(args) -> str:
    return f"M = {args[0]} student layers, N = {args[1]} teacher layers"


def _inspect_list(got, expected, args):
    if not isinstance(got, (list, tuple)):
        return CheckResult(False, "wrong_type", f"for {_describe(args)}: expected a list [g(0), ..., g(M)], "
                           f"got {type(got).__name__}")
    if any(isinstance(n, bool) or not isinstance(n, int) for n in got):
        return CheckResult(False, "not_ints", f"for {_describe(args)}: layer indices must be ints, got {list(got)}; "
                           "use integer division // (layer 3, not layer 3.0)")
    if list(got) == expected:
        return None
    if len(got) == len(expected) + 1 and list(got[:-1]) == expected:
        return CheckResult(False, "includes_prediction_layer",
                           f"for {_describe(args)}: you appended g(M+1) = {got[-1]}; the prediction layer is "
                           "distilled by Eq. 10, not by the layer mapping: return g(0), ..., g(M) only")
    return None


def _as_list(fn):
    """Compare tuples like lists."""
    def wrapped(*args):
        got = fn(*args)
        return list(got) if isinstance(got, tuple) else got
    return wrapped


class _ListExercise(ValueExercise):
    def _check(self, fn):
        return super()._check(_as_list(fn))


def _step(m_layers: int, n_layers: int) -> int:
    return n_layers // m_layers


q1 = _ListExercise(
    name="the uniform mapping",
    hints=[
        "Uniform spreads the M student layers evenly over the N teacher layers: every student layer takes "
        "one teacher layer every N / M layers, and the last student layer maps to the last teacher layer.",
        "g(m) = m * N / M for m = 0, 1, ..., M. Include m = 0: g(0) = 0 is the embedding layer (Eq. 9).",
        "return [m * (teacher_layers // student_layers) for m in range(student_layers + 1)]",
    ],
    reference=uniform_reference,
    shown_solution=layer_mapping,
    probes=lambda: list(DEPTHS),
    describe=_describe,
    inspect=_inspect_list,
    mistakes=[
        Mistake("mapping_off_by_one", lambda M, N: [0] + [m * _step(M, N) - 1 for m in range(1, M + 1)],
                "your mapping is g(m) = (N/M)*m - 1, one layer too shallow: teacher layers count from 1 "
                "(hidden_states[0] is the embedding output), so g(M) must be N"),
        Mistake("mapping_off_by_one", lambda M, N: [m * _step(M, N) - 1 for m in range(M + 1)],
                "your mapping is g(m) = (N/M)*m - 1 (and g(0) = -1): teacher layers count from 1 and g(0) = 0 "
                "is the embedding layer"),
        Mistake("forgot_embedding", lambda M, N: [m * _step(M, N) for m in range(1, M + 1)],
                "g(0) = 0 is missing: the mapping starts with the embedding layer (m = 0 -> n = 0, Eq. 9), "
                "so it has M + 1 entries"),
        Mistake("ratio_inverted", lambda M, N: [m * M // N for m in range(M + 1)],
                "the ratio is upside down: each student layer jumps N / M teacher layers, not M / N"),
        Mistake("bottom_instead", lambda M, N: list(range(M + 1)),
                "that is the bottom mapping g(m) = m; uniform spreads the layers: g(m) = m * N / M"),
    ],
    success="you wrote the paper's uniform mapping g(m) = m * N / M (12 -> 4: g(m) = 3m), embeddings included. "
            "Try next: what should 6 -> 4 give? (layer_mapping(4, 6) answers with its documented rule)",
)


q2 = _ListExercise(
    name="the top mapping",
    hints=[
        "Top takes the LAST M teacher layers, in order; the embeddings still map to the embeddings.",
        "For M = 4, N = 12 it is [0, 9, 10, 11, 12]: g(m) = N - M + m for m >= 1, g(0) = 0.",
        "return [0] + [teacher_layers - student_layers + m for m in range(1, student_layers + 1)]",
    ],
    reference=top_reference,
    shown_solution=layer_mapping,
    probes=lambda: list(DEPTHS),
    describe=_describe,
    inspect=_inspect_list,
    mistakes=[
        Mistake("forgot_embedding", lambda M, N: [N - M + m for m in range(1, M + 1)],
                "g(0) = 0 is missing: the embeddings map to the embeddings whatever the strategy"),
        Mistake("top_off_by_one", lambda M, N: [0] + [N - M + m - 1 for m in range(1, M + 1)],
                "one layer too shallow: the last student layer must map to the last teacher layer N"),
        Mistake("embedding_shifted", lambda M, N: [N - M + m for m in range(M + 1)],
                "g(0) must stay 0 (embeddings to embeddings); only the Transformer layers move to the top"),
        Mistake("bottom_instead", lambda M, N: list(range(M + 1)),
                "that is the bottom mapping g(m) = m; top uses the last M teacher layers"),
        Mistake("uniform_instead", lambda M, N: [m * _step(M, N) for m in range(M + 1)],
                "that is the uniform mapping; top uses the last M teacher layers, one after another"),
    ],
    success="you wrote the top mapping; the paper's mapping ablation (Section 4.5) finds uniform better on "
            "average: it takes knowledge from every depth of the teacher, top and bottom from one end only.",
)
