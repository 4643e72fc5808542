"""Workshop solutions for notebook 09 (results). Each function passes `tinybert_ref.exercises.nb09`."""


def headline_ratios(metrics):
    """q1: retention (student / teacher, test), compression and speed-up (teacher / student)."""
    teacher, student = metrics["teacher"], metrics["student"]
    return {"retention": student["test_metric"] / teacher["test_metric"],
            "compression": teacher["params"] / student["params"],
            "speedup": teacher["latency_ms"] / student["latency_ms"]}


def most_important(rows):
    """q2: the variant with the largest drop below the full recipe (test)."""
    others = [row for row in rows if row["variant"] != "full"]
    return min(others, key=lambda row: row["vs_full"])["variant"]
