"""Checkers for notebook 09 (results): q1 retention, compression and speed-up from a metrics.json
dict, q2 reading an ablation table (which part of the recipe matters most).
"""

from __future__ import annotations

from ..ablation import ablation_rows
from .checker import CheckResult, Mistake, ValueExercise

__all__ = ["q1", "q2", "headline_ratios", "most_important"]


# --------------------------------------------------------------------------- q1: the three headline ratios
def headline_ratios(metrics: dict) -> dict[str, float]:
    """{"retention": student test / teacher test, "compression": teacher params / student params,
    "speedup": teacher latency / student latency}, from a metrics.json dict (schema in report.py)."""
    teacher, student = metrics["teacher"], metrics["student"]
    return {"retention": student["test_metric"] / teacher["test_metric"],
            "compression": teacher["params"] / student["params"],
            "speedup": teacher["latency_ms"] / student["latency_ms"]}


def _metrics(teacher_test, teacher_dev, student_test, student_dev, teacher_ms, student_ms):
    return {"teacher": {"test_metric": teacher_test, "dev_metric": teacher_dev, "params": 22_715_141,
                        "latency_ms": teacher_ms},
            "student": {"test_metric": student_test, "dev_metric": student_dev, "params": 14_351_813,
                        "latency_ms": student_ms},
            "retention": round(student_test / teacher_test, 4), "dev_retention": round(student_dev / teacher_dev, 4)}


def _q1_probes():
    return [(_metrics(0.885, 0.925, 0.8625, 0.8925, 12.4, 5.1),), (_metrics(0.91, 0.95, 0.78, 0.90, 30.0, 7.5),)]


def _with(metrics, **changes):
    """The right ratios with some replaced by a mistake's."""
    ratios = headline_ratios(metrics)
    ratios.update(changes)
    return ratios


def _q1_inspect(got, expected, args):
    if not isinstance(got, dict):
        return CheckResult(False, "wrong_type", f"expected a dict with keys {', '.join(expected)}, got {type(got).__name__}")
    missing = [key for key in expected if key not in got]
    if missing:
        return CheckResult(False, "missing_keys", f"the dict lacks {', '.join(missing)}; return all of {', '.join(expected)}")
    extra = [key for key in got if key not in expected]
    if extra:
        return CheckResult(False, "extra_keys", f"unexpected keys {', '.join(map(str, extra))}; return exactly "
                           f"{', '.join(expected)}")
    return None


def _t(m):
    return m["teacher"]


def _s(m):
    return m["student"]


q1 = ValueExercise(
    name="retention, compression and speed-up",
    hints=[
        "Three ratios, each 'how does the student compare': retention = how much of the teacher's score is kept; "
        "compression = how many times fewer parameters; speed-up = how many times faster.",
        "Retention divides student by teacher (test_metric); compression and speed-up divide teacher by student "
        "(params, latency_ms), so that bigger is better for all three.",
        'return {"retention": s["test_metric"] / t["test_metric"], "compression": t["params"] / s["params"], '
        '"speedup": t["latency_ms"] / s["latency_ms"]} with t, s = metrics["teacher"], metrics["student"]',
    ],
    reference=headline_ratios,
    probes=_q1_probes,
    describe=lambda args: "a metrics dict with teacher test {:.3f}, student test {:.3f}".format(
        _t(args[0])["test_metric"], _s(args[0])["test_metric"]),
    inspect=_q1_inspect,
    rel_tol=1e-4,
    mistakes=[
        Mistake("speedup_inverted", lambda m: _with(m, speedup=_s(m)["latency_ms"] / _t(m)["latency_ms"]),
                "speed-up is upside down: the teacher's latency over the student's (a faster student gives > 1)"),
        Mistake("compression_inverted", lambda m: _with(m, compression=_s(m)["params"] / _t(m)["params"]),
                "compression is upside down: the teacher's parameters over the student's ('7.5x smaller')"),
        Mistake("retention_inverted", lambda m: _with(m, retention=_t(m)["test_metric"] / _s(m)["test_metric"]),
                "retention is upside down: the student's score over the teacher's"),
        Mistake("dev_used", lambda m: _with(m, retention=_s(m)["dev_metric"] / _t(m)["dev_metric"]),
                "that is the dev retention; the headline figure is on test (dev chose the checkpoint)"),
        Mistake("percent", lambda m: _with(m, retention=100 * _s(m)["test_metric"] / _t(m)["test_metric"]),
                "retention as a percentage; return the fraction (0.97, not 97)"),
        Mistake("difference_not_ratio", lambda m: _with(m, retention=_s(m)["test_metric"] - _t(m)["test_metric"]),
                "that is the difference of the scores; retention is their ratio"),
    ],
    success="you can read the three headline numbers of a distilled model off its metrics.json. The paper's "
            "are 96.8% retention, 7.5x smaller and 9.4x faster (against BERT-base).",
)


# --------------------------------------------------------------------------- q2: read an ablation table
def most_important(rows: list[dict]) -> str:
    """The variant (not "full") whose test score falls furthest below the full recipe's: the part of
    the recipe that matters most. rows: as `tinybert_ref.ablation.ablation_rows` builds them."""
    full = next(row["test"] for row in rows if row["variant"] == "full")
    others = [row for row in rows if row["variant"] != "full"]
    return min(others, key=lambda row: row["test"] - full)["variant"]


def _table(full, **variants):
    """Rows as ablation_rows builds them; each variant is (test, dev)."""
    results = {"full": (full[0], full[1])} | variants
    teacher = 0.9
    return ablation_rows({name: {"student": {"test_metric": test, "dev_metric": dev}, "retention": test / teacher}
                          for name, (test, dev) in results.items()})


def _q2_probes():
    return [
        (_table((0.88, 0.90), no_gd=(0.87, 0.86), no_da=(0.80, 0.84), no_td=(0.83, 0.78)),),
        (_table((0.80, 0.82), mapping_top=(0.86, 0.85), mapping_bottom=(0.77, 0.79), no_attention_loss=(0.76, 0.80),
                no_hidden_loss=(0.78, 0.75)),),
    ]


def _others(rows):
    return [row for row in rows if row["variant"] != "full"]


def _q2_inspect(got, expected, args):
    if isinstance(got, dict) and "variant" in got:
        return CheckResult(False, "returned_row", "you returned the whole row; return its name, row['variant']")
    if not isinstance(got, str):
        return CheckResult(False, "wrong_type", f"expected the variant's name (a str), got {type(got).__name__} {got!r}")
    if got == "full":
        return CheckResult(False, "picked_full", "'full' is the reference every variant is compared with, not an "
                           "ablation: pick among the others")
    return None


q2 = ValueExercise(
    name="which part of the recipe matters most",
    hints=[
        "Each variant removes one part of the recipe. The part that matters most is the one whose removal costs "
        "the most: compare each variant's TEST score with the full recipe's.",
        "Skip the 'full' row; among the others take the one with the most negative test - full (the 'vs_full' "
        "column). A variant that scores ABOVE full tells you that part did not help here.",
        'return min((r for r in rows if r["variant"] != "full"), key=lambda r: r["vs_full"])["variant"]',
    ],
    reference=most_important,
    probes=_q2_probes,
    describe=lambda args: "the table with variants " + ", ".join(r["variant"] for r in args[0]),
    inspect=_q2_inspect,
    mistakes=[
        Mistake("picked_least_harmful", lambda rows: max(_others(rows), key=lambda r: r["test"])["variant"],
                "you picked the variant with the HIGHEST score, the part whose removal hurts least"),
        Mistake("used_dev", lambda rows: min(_others(rows), key=lambda r: r["dev"])["variant"],
                "you ranked by the dev column; ablations are compared on test (dev only selects checkpoints)"),
        Mistake("largest_change", lambda rows: max(_others(rows), key=lambda r: abs(r["vs_full"]))["variant"],
                "you took the largest change in either direction; a variant that scores ABOVE full shows a part "
                "that did not help. Take the largest DROP"),
    ],
    success="you can read an ablation table: the largest drop below the full recipe names the part that "
            "matters most. One seed's drop is noise-sized, though: repeat over seeds before concluding.",
)
