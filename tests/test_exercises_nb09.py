"""Checkers of notebook 09 (results): reference and workshop solutions pass, the starter is
`not_attempted`, and each catalogued mistake, written as a learner would, is named by its code."""

import importlib.util
from pathlib import Path

import pytest

from tinybert_ref.exercises import nb09

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop" / "solutions" / "nb09.py"


def _solutions():
    spec = importlib.util.spec_from_file_location("nb09_solutions", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _starter(*args):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", [nb09.q1, nb09.q2], ids=["q1", "q2"])
def test_starter_reference_hints(exercise):
    assert exercise.check(_starter).code == "not_attempted"
    assert exercise.check(exercise.reference).code == "correct"
    assert 1 <= len(exercise.hints) <= 3
    assert exercise.solution().startswith("def ")


def test_solutions_pass():
    solutions = _solutions()
    assert nb09.q1.check(solutions.headline_ratios).code == "correct"
    assert nb09.q2.check(solutions.most_important).code == "correct"


def _ratios(m, retention=None, compression=None, speedup=None):
    t, s = m["teacher"], m["student"]
    return {"retention": s["test_metric"] / t["test_metric"] if retention is None else retention,
            "compression": t["params"] / s["params"] if compression is None else compression,
            "speedup": t["latency_ms"] / s["latency_ms"] if speedup is None else speedup}


@pytest.mark.parametrize("answer, code", [
    (lambda m: _ratios(m), "correct"),
    (lambda m: _ratios(m, retention=m["retention"]), "correct"),  # metrics.json's rounded retention is fine
    (lambda m: _ratios(m, speedup=m["student"]["latency_ms"] / m["teacher"]["latency_ms"]), "speedup_inverted"),
    (lambda m: _ratios(m, compression=m["student"]["params"] / m["teacher"]["params"]), "compression_inverted"),
    (lambda m: _ratios(m, retention=m["teacher"]["test_metric"] / m["student"]["test_metric"]), "retention_inverted"),
    (lambda m: _ratios(m, retention=m["dev_retention"]), "dev_used"),
    (lambda m: _ratios(m, retention=100 * m["retention"]), "percent"),
    (lambda m: _ratios(m, retention=m["student"]["test_metric"] - m["teacher"]["test_metric"]), "difference_not_ratio"),
    (lambda m: tuple(_ratios(m).values()), "wrong_type"),
    (lambda m: {k: v for k, v in _ratios(m).items() if k != "speedup"}, "missing_keys"),
    (lambda m: {**_ratios(m), "flops": 1.0}, "extra_keys"),
    (lambda m: _ratios(m, speedup=2.0), "values"),
    (lambda m: m["teacher"]["flops"], "raises"),
])
def test_q1_mistakes(answer, code):
    assert nb09.q1.check(answer).code == code


def _others(rows):
    return [r for r in rows if r["variant"] != "full"]


@pytest.mark.parametrize("answer, code", [
    (lambda rows: min(_others(rows), key=lambda r: r["test"])["variant"], "correct"),
    (lambda rows: max(_others(rows), key=lambda r: r["test"])["variant"], "picked_least_harmful"),
    (lambda rows: min(_others(rows), key=lambda r: r["dev"])["variant"], "used_dev"),
    (lambda rows: max(_others(rows), key=lambda r: abs(r["vs_full"]))["variant"], "largest_change"),
    (lambda rows: min(_others(rows), key=lambda r: r["vs_full"]), "returned_row"),
    (lambda rows: min(rows, key=lambda r: r["retention"] - 1)["variant"] if len(rows) > 9 else "full", "picked_full"),
    (lambda rows: len(rows), "wrong_type"),
    (lambda rows: "no_embedding_loss", "values"),
    (lambda rows: rows["full"], "raises"),
])
def test_q2_mistakes(answer, code):
    assert nb09.q2.check(answer).code == code


def test_q2_reads_ablation_rows():
    """The probes are built by the package's own ablation_rows, so the learner reads the real format."""
    rows = nb09._q2_probes()[0][0]
    assert {"variant", "test", "dev", "retention", "vs_full"} <= set(rows[0])
    assert nb09.most_important(rows) == "no_da"
