"""The checker machinery: never raises, reports codes in the documented order."""

import torch

from tinybert_ref.exercises.checker import Mistake, TensorExercise


def _reference(x, y):
    return ((x - y) ** 2).mean()


def _make():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g)


EXERCISE = TensorExercise(
    name="mse", hints=["a", "b"], reference=_reference, make_inputs=_make,
    mistakes=[Mistake("sum_not_mean", lambda x, y: ((x - y) ** 2).sum(), "summed instead of averaged")],
)


def test_codes():
    def starter(x, y):
        raise NotImplementedError

    assert EXERCISE.check(starter).code == "not_attempted"
    assert EXERCISE.check(lambda x, y: 1 / 0).code == "raises"
    assert EXERCISE.check(lambda x, y: (x - y) ** 2).code == "shape"
    assert EXERCISE.check(lambda x, y: torch.tensor(float("nan"))).code == "not_finite"
    assert EXERCISE.check(lambda x, y: ((x - y) ** 2).sum()).code == "sum_not_mean"
    assert EXERCISE.check(lambda x, y: ((x - y) ** 2).mean() + 1).code == "values"
    assert EXERCISE.check(lambda x, y: 3.0).code == "wrong_type"
    result = EXERCISE.check(_reference)
    assert result.passed and result.code == "correct"
    assert "Correct" in result._repr_markdown_()


def test_hints_and_solution():
    assert EXERCISE.hint(5).startswith("Hint 2/2")
    assert "def _reference" in EXERCISE.solution()
