"""The exercise checker API (STYLE.md section 3): `check` / `hint` / `solution` that say *what* is wrong.

Two checkers serve every notebook:

- `TensorExercise` runs the learner's function on fixed probe tensors and reports the first failure, in
  this order: not attempted, raises, type, shape, dtype, finiteness, a catalogued known mistake (each wrong
  variant is computed and compared), values (largest deviation and its index).
- `ValueExercise` does the same for answers that are plain values (numbers, strings, lists, dicts, sets):
  not attempted, raises, form (`normalise` / `inspect`), a known mistake, values.

A `Mistake` is a usual wrong answer; `convention(...)` builds one for an answer that only breaks a rule this
package chose (rounding, tie-breaking): its code starts with `convention_` and its message says so.
`check` never raises. One checker module per notebook (`nb02`, `nb03`, ...) builds its exercises from these.
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["CheckResult", "Mistake", "convention", "Probe", "Exercise", "TensorExercise", "ValueExercise", "expect_type",
           "plain", "same"]

NOT_ATTEMPTED = "Not attempted yet: replace the `raise NotImplementedError` line"


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

    @property
    def is_convention(self) -> bool:
        return self.code.startswith("convention_")


def convention(code: str, compute: Callable, message: str) -> Mistake:
    """A wrong answer that only breaks a convention of this package (how it rounds, how it breaks ties).

    The answer still fails, because later cells and the pipeline rely on the package's rule, but the
    message says that the idea is right and the rule is a choice: code `convention_<code>`.
    """
    code = code if code.startswith("convention_") else f"convention_{code}"
    return Mistake(code, compute, f"right idea, but this is a convention of this package, not of the paper: "
                                  f"{message}")


@dataclass(frozen=True)
class Probe:
    """One call of the learner's function: its arguments and how messages name them."""

    args: tuple
    label: str


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


# ------------------------------------------------------------------------------------------ tensors
@dataclass
class TensorExercise(Exercise):
    """An exercise whose answer is a function from tensors to one tensor.

    make_inputs: returns a tuple of probe inputs (fixed seed inside); extra_inputs: more probes.
    describe: names the probe's shapes for messages, e.g. "(B, H, L, L) = (2, 12, 8, 8)".
    locate: names the output's axes, ("batch", "head", "query", "key") -> "batch 0, head 3, query 2, key 5",
    or a function from an index to words.
    check_dtype: the answer must have the reference's dtype (a catalogued mistake of that dtype is named).
    mistakes_change_shape: a wrong shape is first matched against the mistakes (a packing mistake changes
    the number of blocks; "heads ended up last" says more than "wrong shape").
    """

    make_inputs: Callable[[], tuple] = None
    mistakes: Sequence[Mistake] = ()
    describe: str = ""
    locate: tuple[str, ...] | Callable[[tuple], str] | None = None
    atol: float = 1e-5
    rtol: float = 1e-4
    success: str = "your function matches the reference on the probe inputs."
    extra_inputs: list[Callable[[], tuple]] = field(default_factory=list)
    check_dtype: bool = True
    mistakes_change_shape: bool = False

    def _check(self, fn: Callable) -> CheckResult:
        for make in [self.make_inputs, *self.extra_inputs]:
            inputs = make()
            expected = self.reference(*copy.deepcopy(inputs))
            result = self._check_one(fn, inputs, expected)
            if result is not None:
                return result
        return CheckResult(True, "correct", self.success)

    def _check_one(self, fn, inputs, expected) -> CheckResult | None:
        shapes = ", ".join(str(_shape(x)) for x in inputs if hasattr(x, "shape"))
        try:
            got = fn(*copy.deepcopy(inputs))  # an answer that edits its inputs cannot change the mistakes'
        except NotImplementedError:
            return CheckResult(False, "not_attempted", NOT_ATTEMPTED)
        except Exception as error:
            return CheckResult(False, "raises", f"called with inputs of shapes {shapes} it raised {type(error).__name__}: {error}")
        if not isinstance(got, torch.Tensor):
            return CheckResult(False, "wrong_type", f"expected a torch.Tensor, got {type(got).__name__}")
        if got.shape != expected.shape:
            message = (f"expected shape {self.describe or tuple(expected.shape)} = {tuple(expected.shape)}, got "
                       f"{tuple(got.shape)}{_shape_hint(got, expected)}")
            known = self._known_mistake(got, inputs) if self.mistakes_change_shape else None
            return CheckResult(False, known.code, f"{known.message} ({message})") if known else \
                CheckResult(False, "shape", message)
        if self.check_dtype and got.dtype != expected.dtype:
            known = self._known_mistake(got, inputs, same_dtype=True)
            return CheckResult(False, known.code, known.message) if known else CheckResult(
                False, "dtype", f"expected dtype {expected.dtype}, got {got.dtype}")
        if not torch.isfinite(got.float()).all() and torch.isfinite(expected.float()).all():
            return CheckResult(False, "not_finite", "the result holds NaN or inf; a -inf or huge mask value "
                               "probably went into an arithmetic step (mask after, or clip it)")
        if self._close(got, expected):
            return None
        known = self._known_mistake(got, inputs)
        if known is not None:
            return CheckResult(False, known.code, known.message)
        return CheckResult(False, "values", self._deviation(got, expected))

    def _close(self, got, other, same_dtype: bool = False) -> bool:
        if got.shape != other.shape or (same_dtype and got.dtype != other.dtype):
            return False
        return torch.allclose(got.double(), other.double(), atol=self.atol, rtol=self.rtol)

    def _known_mistake(self, got, inputs, same_dtype: bool = False) -> Mistake | None:
        return next((m for m in self.mistakes
                     if self._close(got, m.compute(*copy.deepcopy(inputs)), same_dtype)), None)

    def _deviation(self, got, expected) -> str:
        if expected.ndim == 0:
            return (f"values differ: expected {expected.double().item():.4g}, got {got.double().item():.4g} "
                    f"(tolerance atol={self.atol}, rtol={self.rtol})")
        diff = (got.double() - expected.double()).abs()
        index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
        if callable(self.locate):
            where = self.locate(index)
        elif self.locate and len(self.locate) == len(index):
            where = ", ".join(f"{axis} {i}" for axis, i in zip(self.locate, index, strict=True))
        else:
            where = f"index {index}"
        return (f"values differ: largest deviation {diff.max().item():.3g} at {where} "
                f"(expected {expected.double()[index].item():.4g}, got {got.double()[index].item():.4g}); "
                f"tolerance atol={self.atol}")


def _shape_hint(got, expected) -> str:
    if sorted(got.shape) == sorted(expected.shape):
        return ": the right sizes in the wrong order (a transpose or permute is off)"
    if got.numel() == 1 and expected.numel() == 1:
        return ": a scalar is expected as a 0-d tensor (use .mean(), not a Python float)"
    if got.ndim == expected.ndim + 1:
        return ": one dimension too many (a mean or sum over it is missing)"
    return ""


# ------------------------------------------------------------------------------------- plain values
def plain(value):
    """0-d tensors and numpy scalars -> Python numbers; other values unchanged."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "size", 1) == 1:
        return value.item()
    return value


def _plain_answer(got, args):
    return plain(got)


def same(a, b, rel_tol: float = 0.0, abs_tol: float = 0.0) -> bool:
    """Plain values equal; numbers within the tolerances; lists and tuples alike; dicts key by key."""
    a, b = plain(a), plain(b)
    real = (isinstance(a, numbers.Real) and isinstance(b, numbers.Real)
            and not isinstance(a, bool) and not isinstance(b, bool))
    if real:
        return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=abs_tol) if (rel_tol or abs_tol) else a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rel_tol, abs_tol) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rel_tol, abs_tol) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@dataclass
class ValueExercise(Exercise):
    """An exercise whose answer is a function returning a plain value, checked on fixed probes in order.

    probes: returns a list of argument tuples, or of `Probe(args, label)`; every call (the learner's, the
    reference's, each mistake's) gets a deep copy, so an answer that edits its inputs changes nothing else.
    Without probes the function takes no argument and is called once.
    describe: argument tuple -> words for messages ("M = 4, N = 12"); a Probe's label is used as it is.
    normalise: (got, args) -> the answer in the reference's form, or a CheckResult saying what is wrong with
    its form. Default: 0-d tensors and numpy scalars become Python numbers.
    inspect: (got, expected, args) -> CheckResult or None, run after normalise (wrong type, missing keys).
    mistakes: `compute(*args)` gives the wrong value; a dict answer is matched key by key, and a mistake that
    also explains the earlier probes wins over one that explains only this one.
    differ: (got, expected, args) -> words saying where a wrong answer differs.
    on_raise: (fn, args, error) -> CheckResult or None, to explain an exception.
    rel_tol, abs_tol: numbers match within these; the default is exact equality.
    """

    probes: Callable[[], list] = None
    mistakes: Sequence[Mistake] = ()
    describe: Callable[[tuple], str] = repr
    normalise: Callable = None  # default: plain numbers (see `plain`)
    inspect: Callable | None = None
    differ: Callable | None = None
    on_raise: Callable | None = None
    rel_tol: float = 0.0
    abs_tol: float = 0.0
    success: str = "your function matches the reference on every probe."

    def _check(self, fn: Callable) -> CheckResult:
        seen = []
        for probe in self.probes() if self.probes else [Probe((), "your answer")]:
            args, label = (probe.args, probe.label) if isinstance(probe, Probe) else (probe, self.describe(probe))
            expected = self.normalise(self.reference(*copy.deepcopy(args)), args)
            try:
                got = fn(*copy.deepcopy(args))
            except NotImplementedError:
                return CheckResult(False, "not_attempted", NOT_ATTEMPTED)
            except Exception as error:
                explained = self.on_raise(fn, args, error) if self.on_raise else None
                if explained is not None:  # a failed CheckResult is falsy: test against None
                    return explained
                return CheckResult(False, "raises", f"for {label} it raised {type(error).__name__}: {error}")
            got = self.normalise(got, args)
            problem = got if isinstance(got, CheckResult) else (
                self.inspect(got, expected, args) if self.inspect else None)
            if problem is not None:
                return CheckResult(problem.passed, problem.code, f"for {label}: {problem.message}")
            seen.append((args, got))
            if not self._same(got, expected):
                return self._diagnose(label, got, expected, seen)
        return CheckResult(True, "correct", self.success)

    def __post_init__(self):
        if self.normalise is None:
            self.normalise = _plain_answer

    def _same(self, a, b) -> bool:
        return same(a, b, self.rel_tol, self.abs_tol)

    def _wrong(self, mistake: Mistake, args):
        return self.normalise(mistake.compute(*copy.deepcopy(args)), args)

    def _matches(self, got, wrong, expected) -> bool:
        if self._same(wrong, expected):  # this mistake makes no difference on this probe
            return False
        if isinstance(got, dict) and isinstance(wrong, dict) and isinstance(expected, dict):
            bad = [k for k in expected if k not in got or not self._same(got[k], expected[k])]
            return all(k in got and k in wrong and self._same(got[k], wrong[k]) for k in bad)
        return self._same(got, wrong)

    def _diagnose(self, label, got, expected, seen) -> CheckResult:
        args = seen[-1][0]
        candidates = [m for m in self.mistakes if self._matches(got, self._wrong(m, args), expected)]
        # prefer a mistake that also explains every earlier probe (two can coincide on one probe)
        consistent = [m for m in candidates if all(self._same(g, self._wrong(m, a)) for a, g in seen[:-1])]
        chosen = (consistent or candidates or [None])[0]
        if chosen is not None:
            return CheckResult(False, chosen.code, f"for {label}: {chosen.message}")
        where = self.differ(got, expected, args) if self.differ else _difference(got, expected, self._same)
        return CheckResult(False, "values", f"for {label}: {where}")


def expect_type(kind, what: str) -> Callable:
    """A `ValueExercise.inspect` that wants an instance of `kind` (a bool never counts as a number)."""
    def inspect_type(got, expected, args):
        if isinstance(got, bool) or not isinstance(got, kind):
            return CheckResult(False, "wrong_type", f"expected {what}, got {type(got).__name__} {got!r}")
        return None
    return inspect_type


def _difference(got, expected, equal) -> str:
    if isinstance(expected, dict) and isinstance(got, dict):
        for key, value in expected.items():
            if key not in got:
                return f"the key {key!r} is missing (expected {value!r})"
            if not equal(got[key], value):
                return f"{key!r} should be {_fmt(value)}, got {_fmt(got[key])}"
    return f"expected {_fmt(expected)}, got {_fmt(got)}"


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(value)
