"""The checker machinery: never raises, reports codes in the documented order, for tensors and plain values."""

import torch

from tinybert_ref.exercises.checker import Mistake, Probe, TensorExercise, ValueExercise, convention, same


def _starter(*args):
    raise NotImplementedError


def _reference(x, y):
    return ((x - y) ** 2).mean()


def _make():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g)


EXERCISE = TensorExercise(
    name="mse", hints=["a", "b"], reference=_reference, make_inputs=_make,
    mistakes=[Mistake("sum_not_mean", lambda x, y: ((x - y) ** 2).sum(), "summed instead of averaged"),
              Mistake("float64", lambda x, y: ((x.double() - y.double()) ** 2).mean(), "float64, not float32")],
)


def test_tensor_codes_in_order():
    assert EXERCISE.check(_starter).code == "not_attempted"
    assert EXERCISE.check(lambda x, y: 1 / 0).code == "raises"
    assert EXERCISE.check(lambda x, y: 3.0).code == "wrong_type"
    assert EXERCISE.check(lambda x, y: (x - y) ** 2).code == "shape"
    assert EXERCISE.check(lambda x, y: ((x.double() - y.double()) ** 2).mean()).code == "float64"  # a named dtype
    assert EXERCISE.check(lambda x, y: ((x - y) ** 2).mean().half()).code == "dtype"
    assert EXERCISE.check(lambda x, y: torch.tensor(float("nan"))).code == "not_finite"
    assert EXERCISE.check(lambda x, y: ((x - y) ** 2).sum()).code == "sum_not_mean"
    assert EXERCISE.check(lambda x, y: ((x - y) ** 2).mean() + 1).code == "values"
    result = EXERCISE.check(_reference)
    assert result.passed and result.code == "correct"
    assert "Correct" in result._repr_markdown_()


def test_a_mistake_that_changes_the_shape_is_named_when_asked():
    def rows(x, y):
        return (x - y) ** 2

    named = TensorExercise(name="rows", hints=["a"], reference=lambda x, y: ((x - y) ** 2).mean(1), make_inputs=_make,
                           mistakes=[Mistake("no_mean", rows, "the mean over columns is missing")],
                           mistakes_change_shape=True)
    assert named.check(rows).code == "no_mean"
    assert TensorExercise(**{**named.__dict__, "mistakes_change_shape": False}).check(rows).code == "shape"


def test_an_answer_that_edits_its_inputs_changes_nothing_else():
    def edits(x, y):
        x.zero_()
        return ((x - y) ** 2).sum()

    assert EXERCISE.check(edits).code == "values"  # not sum_not_mean computed on zeroed inputs


def _nearest_half_up(m, n):
    return int(m / n + 0.5)


VALUES = ValueExercise(
    name="divide and round", hints=["a"], reference=_nearest_half_up,
    probes=lambda: [(6, 4), Probe((9, 2), "nine halves"), (10, 4)],
    describe=lambda args: f"{args[0]} / {args[1]}",
    mistakes=[convention("rounding", lambda m, n: round(m / n), "the package rounds halves up"),
              Mistake("floor", lambda m, n: m // n, "rounded down")],
)


def test_value_codes_and_conventions():
    assert VALUES.check(_starter).code == "not_attempted"
    assert VALUES.check(lambda m, n: m / 0).code == "raises"
    result = VALUES.check(lambda m, n: round(m / n))
    assert result.code == "convention_rounding" and "convention" in result.message
    assert "nine halves" in result.message  # a Probe's label names the probe
    assert VALUES.check(lambda m, n: m // n).code == "floor"
    assert VALUES.check(lambda m, n: 0 if m == 6 else 1).code == "values"
    assert VALUES.check(lambda m, n: torch.tensor((2 * m + n) // (2 * n))).passed  # 0-d tensors become numbers


def test_value_mistake_that_explains_every_probe_wins():
    """On 9 / 2 = 4.5 round() and floor both give 4; only round() also gave 2 for 6 / 4 = 1.5, so it is named
    although floor comes first in the catalogue."""
    floor_first = ValueExercise(**{**VALUES.__dict__, "mistakes": list(reversed(VALUES.mistakes))})
    assert floor_first.check(lambda m, n: round(m / n)).code == "convention_rounding"
    assert floor_first.check(lambda m, n: m // n).code == "floor"


def test_same_compares_plain_values():
    assert same([1, 2], (1, 2)) and same({"a": 1.0}, {"a": 1}) and not same(1, True)
    assert same(0.3333, 1 / 3, rel_tol=1e-3) and not same(0.3333, 1 / 3)
    assert same({"x"}, {"x"}) and not same("1", 1)


def test_hints_and_solution():
    assert EXERCISE.hint(5).startswith("Hint 2/2")
    assert "def _reference" in EXERCISE.solution()
    assert VALUES.hint().startswith("Hint 1/1")
