"""The exercise checker API (STYLE.md section 3): `check` / `hint` / `solution` that say *what* is wrong.

A `TensorExercise` runs the learner's function on fixed probe inputs and reports the first failure,
in this order: not attempted, raises, shape, dtype/finiteness, a catalogued known mistake (each wrong
variant is computed and compared), values (largest deviation and its index). `check` never raises.
One checker module per notebook (`nb01`, `nb03`, ...) builds its exercises from this class.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["CheckResult", "Mistake", "TensorExercise", "Exercise"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a check: `.passed`, a stable `.code` (tests assert it) and a message."""

    passed: bool
    code: str
    message: str

    def __str__(self) -> str:
        return ("PASSED: " if self.passed else "NOT YET: ") + self.message

    def _repr_markdown_(self) -> str:
        icon = "✅" if self.passed else "❌"
        return f"{icon} **{'Correct' if self.passed else 'Not yet'}** (`{self.code}`): {self.message}"

    def __bool__(self) -> bool:
        return self.passed


@dataclass(frozen=True)
class Mistake:
    """A usual wrong answer: `compute(*inputs)` gives what that mistake produces."""

    code: str
    compute: Callable
    message: str


def _display(text: str) -> None:
    try:
        from IPython.display import Markdown, display

        display(Markdown(text))
    except ImportError:  # pragma: no cover
        print(text)


def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else ()


@dataclass
class Exercise:
    """Base: hints and the reference solution; subclasses implement `_check(fn)`."""

    name: str
    hints: Sequence[str]
    reference: Callable
    shown_solution: object = None  # what solution() shows; defaults to `reference`

    def hint(self, n: int = 1) -> str:
        """Show hint n (1-based); later hints are more concrete, the last nearly the answer."""
        n = max(1, min(n, len(self.hints)))
        text = f"Hint {n}/{len(self.hints)}: {self.hints[n - 1]}"
        _display(text)
        return text

    def solution(self) -> str:
        """Show the source of the package's reference implementation."""
        source = inspect.getsource(self.shown_solution or self.reference)
        _display(f"```python\n{source}\n```")
        return source

    def check(self, fn: Callable) -> CheckResult:
        """Check the learner's `fn`. Never raises on a wrong answer."""
        try:
            return self._check(fn)
        except Exception as error:  # a checker bug must not look like the learner's
            return CheckResult(False, "checker_error", f"the checker itself failed ({error!r}); please report it")

    def _check(self, fn: Callable) -> CheckResult:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class TensorExercise(Exercise):
    """An exercise whose answer is a function from tensors to one tensor.

    make_inputs: returns a tuple of probe inputs (fixed seed inside).
    describe: names the probe's shapes for messages, e.g. "(B, H, L, L) = (2, 12, 8, 8)".
    locate: turns an index of the output into words, e.g. "batch 0, head 3, query 2, key 5".
    """

    make_inputs: Callable[[], tuple] = None
    mistakes: Sequence[Mistake] = ()
    describe: str = ""
    locate: Callable[[tuple], str] | None = None
    atol: float = 1e-5
    rtol: float = 1e-4
    success: str = "your function matches the reference on the probe inputs."
    extra_inputs: list[Callable[[], tuple]] = field(default_factory=list)

    def _check(self, fn: Callable) -> CheckResult:
        for make in [self.make_inputs, *self.extra_inputs]:
            inputs = make()
            expected = self.reference(*inputs)
            result = self._check_one(fn, inputs, expected)
            if result is not None:
                return result
        return CheckResult(True, "correct", self.success)

    def _check_one(self, fn, inputs, expected) -> CheckResult | None:
        shapes = ", ".join(str(_shape(x)) for x in inputs if hasattr(x, "shape"))
        try:
            got = fn(*[x.clone() if isinstance(x, torch.Tensor) else x for x in inputs])
        except NotImplementedError:
            return CheckResult(False, "not_attempted", "Not attempted yet: replace the `raise NotImplementedError` line")
        except Exception as error:
            return CheckResult(False, "raises", f"called with inputs of shapes {shapes} it raised {type(error).__name__}: {error}")
        if not isinstance(got, torch.Tensor):
            return CheckResult(False, "wrong_type", f"expected a torch.Tensor, got {type(got).__name__}")
        if got.shape != expected.shape:
            return CheckResult(False, "shape", f"expected shape {self.describe or tuple(expected.shape)} = "
                               f"{tuple(expected.shape)}, got {tuple(got.shape)}{_shape_hint(got, expected)}")
        if not torch.isfinite(got.float()).all() and torch.isfinite(expected.float()).all():
            return CheckResult(False, "not_finite", "the result holds NaN or inf; a -inf or huge mask value "
                               "probably went into an arithmetic step (mask after, or clip it)")
        if torch.allclose(got.float(), expected.float(), atol=self.atol, rtol=self.rtol):
            return None
        for mistake in self.mistakes:
            wrong = mistake.compute(*inputs)
            if wrong.shape == got.shape and torch.allclose(got.float(), wrong.float(), atol=self.atol, rtol=self.rtol):
                return CheckResult(False, mistake.code, mistake.message)
        return CheckResult(False, "values", self._deviation(got, expected))

    def _deviation(self, got, expected) -> str:
        diff = (got.float() - expected.float()).abs()
        index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape)) if diff.ndim else ()
        where = self.locate(index) if self.locate and index else f"index {index}"
        return (f"values differ: largest deviation {diff.max().item():.3g} at {where} "
                f"(expected {expected.float()[index].item():.4g}, got {got.float()[index].item():.4g}); "
                f"tolerance atol={self.atol}")


def _shape_hint(got, expected) -> str:
    if sorted(got.shape) == sorted(expected.shape):
        return ": the right sizes in the wrong order (a transpose or permute is off)"
    if got.numel() == 1 and expected.numel() == 1:
        return ": a scalar is expected as a 0-d tensor (use .mean(), not a Python float)"
    if got.ndim == expected.ndim + 1:
        return ": one dimension too many (a mean or sum over it is missing)"
    return ""
