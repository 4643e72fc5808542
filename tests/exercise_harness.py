"""One parametrised harness for the exercise checkers (STYLE.md section 3).

A test module `tests/test_exercises_nbXX.py` declares one `Table` per exercise and binds the harness's tests:

    TABLES = {"q1": Table(solution="uniform_mapping", wrong=[("integer_step", answer), ...], passes=[...])}
    test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb03, TABLES)

and the harness checks, for every exercise: the reference, the other correct answers and the workshop solution
(`notebooks/workshop/solutions/nbXX.py`) pass; the `NotImplementedError` starter reports `not_attempted`; every
plausible wrong answer of the table fails with its `.code` and a message (a `convention_...` code says
"convention"); the table holds at least three wrong answers with a catalogued code and covers every catalogued
mistake; there are 1-3 hints and `solution()` shows source. Tests assert codes, not wording.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions"
# codes every checker can give whatever the exercise: they do not count as a catalogued mistake
GENERIC_CODES = {"values", "raises", "shape", "dtype", "wrong_type", "not_finite", "not_attempted", "checker_error"}


@dataclass(frozen=True)
class Table:
    """One exercise's table: its workshop solution's name, wrong answers (code, answer), other correct answers."""

    solution: str
    wrong: Sequence[tuple[str, Callable]]
    passes: Sequence[Callable] = field(default_factory=tuple)


def starter(*args):
    raise NotImplementedError  # the notebook's starter cell


def load_solutions(module: ModuleType) -> ModuleType:
    name = module.__name__.rsplit(".", 1)[-1]
    spec = importlib.util.spec_from_file_location(f"{name}_solutions", SOLUTIONS / f"{name}.py")
    solutions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solutions)
    return solutions


def exercise_tests(module: ModuleType, tables: dict[str, Table]):
    """The four parametrised tests of `module`'s exercises, to bind to names starting with `test_`."""
    names = list(tables)
    rows = [(name, code, answer) for name in names for code, answer in tables[name].wrong]
    row_ids = [f"{name}-{code}-{i}" for i, (name, code, _) in enumerate(rows)]

    @pytest.mark.parametrize("name", names)
    def test_passes(name):
        exercise, table = getattr(module, name), tables[name]
        solution = getattr(load_solutions(module), table.solution)
        for answer in (exercise.reference, solution, *table.passes):
            result = exercise.check(answer)
            assert result.passed and result.code == "correct", (getattr(answer, "__name__", answer), result)

    @pytest.mark.parametrize("name", names)
    def test_not_attempted(name):
        assert getattr(module, name).check(starter).code == "not_attempted"

    @pytest.mark.parametrize("name, code, answer", rows, ids=row_ids)
    def test_wrong_answer(name, code, answer):
        result = getattr(module, name).check(answer)
        assert (result.passed, result.code) == (False, code), result.message
        assert result.message
        if code.startswith("convention_"):
            assert "convention" in result.message

    @pytest.mark.parametrize("name", names)
    def test_catalogue(name):
        exercise, table = getattr(module, name), tables[name]
        codes = {code for code, _ in table.wrong}
        assert len([code for code, _ in table.wrong if code not in GENERIC_CODES]) >= 3
        assert {mistake.code for mistake in getattr(exercise, "mistakes", ())} <= codes
        assert 1 <= len(exercise.hints) <= 3
        assert exercise.hint(99).startswith(f"Hint {len(exercise.hints)}/")
        assert "def " in exercise.solution()

    return test_passes, test_not_attempted, test_wrong_answer, test_catalogue
