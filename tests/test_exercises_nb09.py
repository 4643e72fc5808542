"""Checkers of notebook 09 (results): the harness's table for each exercise."""

from exercise_harness import Table, exercise_tests

from tinybert_ref.exercises import nb09


def _ratios(m, retention=None, compression=None, speedup=None):
    t, s = m["teacher"], m["student"]
    return {"retention": s["test_metric"] / t["test_metric"] if retention is None else retention,
            "compression": t["params"] / s["params"] if compression is None else compression,
            "speedup": t["latency_ms"] / s["latency_ms"] if speedup is None else speedup}


def _others(rows):
    return [r for r in rows if r["variant"] != "full"]


TABLES = {
    "q1": Table("headline_ratios", wrong=[
        ("speedup_inverted", lambda m: _ratios(m, speedup=m["student"]["latency_ms"] / m["teacher"]["latency_ms"])),
        ("compression_inverted", lambda m: _ratios(m, compression=m["student"]["params"] / m["teacher"]["params"])),
        ("retention_inverted", lambda m: _ratios(m, retention=m["teacher"]["test_metric"] / m["student"]["test_metric"])),
        ("dev_used", lambda m: _ratios(m, retention=m["dev_retention"])),
        ("percent", lambda m: _ratios(m, retention=100 * m["retention"])),
        ("difference_not_ratio", lambda m: _ratios(m, retention=m["student"]["test_metric"] - m["teacher"]["test_metric"])),
        ("wrong_type", lambda m: tuple(_ratios(m).values())),
        ("missing_keys", lambda m: {k: v for k, v in _ratios(m).items() if k != "speedup"}),
        ("extra_keys", lambda m: {**_ratios(m), "flops": 1.0}),
        ("values", lambda m: _ratios(m, speedup=2.0)),
        ("raises", lambda m: m["teacher"]["flops"]),
    ], passes=[_ratios, lambda m: _ratios(m, retention=m["retention"])]),  # metrics.json's rounded retention is fine
    "q2": Table("most_important", wrong=[
        ("picked_least_harmful", lambda rows: max(_others(rows), key=lambda r: r["test"])["variant"]),
        ("used_dev", lambda rows: min(_others(rows), key=lambda r: r["dev"])["variant"]),
        ("largest_change", lambda rows: max(_others(rows), key=lambda r: abs(r["vs_full"]))["variant"]),
        ("returned_row", lambda rows: min(_others(rows), key=lambda r: r["vs_full"])),
        ("picked_full", lambda rows: min(rows, key=lambda r: r["retention"] - 1)["variant"] if len(rows) > 9 else "full"),
        ("wrong_type", lambda rows: len(rows)),
        ("values", lambda rows: "no_embedding_loss"),
        ("raises", lambda rows: rows["full"]),
    ], passes=[lambda rows: min(_others(rows), key=lambda r: r["test"])["variant"]]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb09, TABLES)


def test_q2_reads_ablation_rows():
    """The probes are built by the package's own ablation_rows, so the learner reads the real format."""
    rows = nb09._q2_probes()[0][0]
    assert {"variant", "test", "dev", "retention", "vs_full"} <= set(rows[0])
    assert nb09.most_important(rows) == "no_da"
