"""Layer mapping n = g(m): which teacher layer each student layer learns from (TinyBERT, Eq. 6).

Section 3.1 ("Problem Formulation") distils a student with M Transformer layers from a teacher with N
by a mapping n = g(m). Layer 0 is the embedding layer on both sides, so g(0) = 0 always; the
prediction layer m = M + 1 maps to N + 1 and is handled by the prediction loss (Eq. 10), not here.
Taught in notebook 03.

A mapping is a list [g(0), g(1), ..., g(M)] of teacher layer indices, the same indices as
`Internals.hidden_states` (0 = embeddings, n = output of layer n).

Strategies (the paper's Table 5 studies the first three; uniform is best on average):
    uniform  g(m) = m * N / M          12 -> 4: [0, 3, 6, 9, 12] (the paper's g(m) = 3m)
    top      g(m) = N - M + m          12 -> 4: [0, 9, 10, 11, 12]
    bottom   g(m) = m                  12 -> 4: [0, 1, 2, 3, 4]
    explicit a list of M teacher layers (g(1..M)) or M + 1 (with the leading 0)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["STRATEGIES", "layer_mapping", "uniform_mapping", "validate_mapping", "mapping_table"]

STRATEGIES = ("uniform", "top", "bottom")


def layer_mapping(student_layers: int, teacher_layers: int, strategy="uniform") -> list[int]:
    """The mapping [g(0), ..., g(M)] of M = student_layers onto N = teacher_layers (Eq. 6).

    strategy: "uniform", "top", "bottom", or an explicit list of teacher layers: M entries g(1..M),
    or M + 1 entries starting with the embedding layer 0. An explicit list must be strictly
    increasing and lie within 1..N. Raises ValueError naming the problem and the fix.
    """
    _check_depth("student", student_layers)
    _check_depth("teacher", teacher_layers)
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown layer-mapping strategy {strategy!r}; use one of {', '.join(STRATEGIES)}, "
                             "or an explicit list of teacher layers such as [3, 6, 9, 12]")
        if student_layers > teacher_layers:
            raise ValueError(
                f"cannot map {student_layers} student layers onto {teacher_layers} teacher layers: a student "
                f"cannot be deeper than its teacher under the {strategy} strategy; pass an explicit layer list")
        if strategy == "uniform":
            return uniform_mapping(student_layers, teacher_layers)
        offset = teacher_layers - student_layers if strategy == "top" else 0
        return [0] + [offset + m for m in range(1, student_layers + 1)]
    return _explicit_mapping(student_layers, teacher_layers, strategy)


def uniform_mapping(student_layers: int, teacher_layers: int) -> list[int]:
    """Uniform mapping: every student layer learns from the teacher layer at the same relative depth.

    Divisible depths use the paper's rule g(m) = m * N / M (12 -> 4: [0, 3, 6, 9, 12]).
    Non-divisible depths use g(m) = round(m * N / M) with halves rounded up (to the deeper layer):
    6 -> 4 gives m * 1.5 = 1.5, 3, 4.5, 6 -> [0, 2, 3, 5, 6]; 12 -> 5 gives [0, 2, 5, 7, 10, 12].
    This is the divisible rule whenever it applies, always maps the last student layer to the last
    teacher layer (m = M gives exactly N), and is strictly increasing because N / M >= 1.
    """
    _check_depth("student", student_layers)
    _check_depth("teacher", teacher_layers)
    if student_layers > teacher_layers:
        raise ValueError(
            f"cannot map {student_layers} student layers onto {teacher_layers} teacher layers: a student cannot "
            "be deeper than its teacher under the uniform strategy; pass an explicit layer list")
    # Integer arithmetic, floor(m*N/M + 1/2): float rounding could tip an exact half the wrong way.
    return [(2 * m * teacher_layers + student_layers) // (2 * student_layers) for m in range(student_layers + 1)]


def validate_mapping(mapping: Sequence[int], teacher_layers: int | None = None) -> list[int]:
    """Check a full mapping [g(0), ..., g(M)] and return it as a list of ints.

    g(0) must be 0 (embeddings), M >= 1, g strictly increasing, and g(M) <= teacher_layers when given.
    """
    values = _as_int_list(mapping)
    if len(values) < 2 or values[0] != 0:
        raise ValueError(f"a layer mapping is [g(0), g(1), ..., g(M)] with g(0) = 0 (embeddings) and M >= 1, "
                         f"got {values}; build one with layer_mapping(student_layers, teacher_layers, strategy)")
    _check_increasing(values[1:], teacher_layers)
    return values


def mapping_table(mapping: Sequence[int], include_prediction: bool = False) -> list[tuple[str, str]]:
    """Rows (student part, teacher part) of a mapping, for notebooks and reports.

    [0, 3, 6] -> [("student embeddings", "teacher embeddings"), ("student layer 1", "teacher layer 3"),
    ("student layer 2", "teacher layer 6")]; include_prediction adds the prediction layers (m = M + 1).
    """
    values = validate_mapping(mapping)
    rows = [("student embeddings", "teacher embeddings")]
    rows += [(f"student layer {m}", f"teacher layer {n}") for m, n in enumerate(values) if m > 0]
    if include_prediction:
        rows.append(("student prediction layer", "teacher prediction layer"))
    return rows


def _explicit_mapping(student_layers: int, teacher_layers: int, layers) -> list[int]:
    values = _as_int_list(layers)
    if len(values) == student_layers + 1:
        if values[0] != 0:
            raise ValueError(f"a mapping with M + 1 = {student_layers + 1} entries must start with the embedding "
                             f"layer 0, got {values}; drop the first entry or make it 0")
        values = values[1:]
    elif len(values) != student_layers:
        raise ValueError(f"the layer list {values} has {len(values)} entries but the student has {student_layers} "
                         f"layers; give {student_layers} teacher layers (g(1..M)) or {student_layers + 1} with a "
                         "leading 0")
    _check_increasing(values, teacher_layers)
    return [0] + values


def _check_increasing(layers: list[int], teacher_layers: int | None) -> None:
    """Teacher layers for m = 1..M: within 1..N and strictly increasing."""
    upper = "N" if teacher_layers is None else str(teacher_layers)
    for n in layers:
        if n < 1 or (teacher_layers is not None and n > teacher_layers):
            raise ValueError(f"teacher layer {n} in {layers} is out of range: student layers map to teacher layers "
                             f"1..{upper} (layer 0, the embeddings, is mapped to the student embeddings "
                             "automatically); fix that entry")
    for previous, n in zip(layers[:-1], layers[1:], strict=True):
        if n <= previous:
            raise ValueError(f"the layer list {layers} is not strictly increasing ({previous} then {n}): each student "
                             "layer needs a deeper teacher layer than the one before; sort it and drop repeats")


def _check_depth(who: str, layers) -> None:
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"the {who} must have a positive whole number of layers, got {layers!r}; "
                         "pass config.num_hidden_layers")


def _as_int_list(layers) -> list[int]:
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise ValueError(f"a layer list must be a list of ints such as [3, 6, 9, 12], got {layers!r}; "
                         f"for a named strategy use one of {', '.join(STRATEGIES)}")
    values = []
    for n in layers:
        if isinstance(n, bool) or not hasattr(n, "__index__"):
            raise ValueError(f"layer lists hold whole numbers, got {n!r} in {list(layers)}; "
                             "write teacher layers as ints, e.g. [3, 6, 9, 12]")
        values.append(int(n.__index__()))
    return values
