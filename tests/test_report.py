"""metrics.json, report.md and the console table (tinybert_ref/report.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinybert_ref import report
from tinybert_ref.report import (
    markdown_table,
    read_json,
    render_report,
    results_table,
    write_json_atomic,
    write_metrics,
    write_report,
)

MINIMAL = {"teacher": {"test_metric": 0.9}, "student": {"test_metric": 0.87}}


def _full_metrics() -> dict:
    per_class = {
        "business": {"precision": 0.9, "recall": 0.8, "f1-score": 0.847, "support": 10},
        "sport": {"precision": 1.0, "recall": 0.95, "f1-score": 0.974, "support": 20},
        "accuracy": 0.9,
        "macro avg": {"precision": 0.95, "recall": 0.875, "f1-score": 0.91, "support": 30},
        "weighted avg": {"precision": 0.96, "recall": 0.9, "f1-score": 0.93, "support": 30},
    }
    return {
        "profile": "laptop",
        "config": {"teacher": "minilm", "student": "tinybert4", "mapping": "uniform", "seed": 42},
        "task": {"name": "bbc", "metric": "accuracy", "labels": ["business", "sport"],
                 "sizes": {"train": 100, "dev": 30, "test": 30}},
        "teacher": {"test_metric": 0.885, "dev_metric": 0.925, "params": 22_700_000, "latency_ms": 12.0,
                    "per_class": per_class},
        "student": {"test_metric": 0.878, "dev_metric": 0.89, "params": 14_400_000, "latency_ms": 4.0,
                    "per_class": per_class},
        "retention": 0.992, "dev_retention": 0.962,
        "latency_setting": {"batch": 1, "seq_len": 64, "threads": 2},
        "baselines": {"tfidf": {"metric": 0.79, "accuracy": 0.79, "model": "tfidf+logreg", "features": 5000}},
        "stages": {"teacher": {"wall_s": 120.5, "steps": 300, "dev_metric": 0.925},
                   "mlm": {"wall_s": 60.0, "final_loss": 3.2, "recall": {"top1": 0.2, "top15": 0.45}}},
        "figures": ["figures/mapping.png", "figures/loss_general_distillation.png"],
    }


def test_write_json_atomic_roundtrip_without_temp_files(tmp_path):
    data = {"a": 1, "b": [1.5, None], "c": np.float32(0.5), "d": np.arange(3), "p": tmp_path}
    path = write_json_atomic(tmp_path / "sub" / "x.json", data)
    assert read_json(path) == {"a": 1, "b": [1.5, None], "c": 0.5, "d": [0, 1, 2], "p": str(tmp_path)}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_crash_mid_write_keeps_old_file(tmp_path, monkeypatch):
    path = write_json_atomic(tmp_path / "metrics.json", {"version": 1})

    def crash(obj, file, **kwargs):
        file.write('{"version": 2, "trunc')
        raise RuntimeError("disk full")

    monkeypatch.setattr(report.json, "dump", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        write_json_atomic(path, {"version": 2})
    monkeypatch.undo()
    assert read_json(path) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_unserialisable_value_names_the_fix(tmp_path):
    with pytest.raises(TypeError, match="convert it"):
        write_json_atomic(tmp_path / "x.json", {"f": object()})
    assert list(tmp_path.iterdir()) == []


def test_read_json_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="finished"):
        read_json(tmp_path / "nope.json")


def test_write_metrics(tmp_path):
    path = write_metrics(tmp_path, MINIMAL)
    assert path == tmp_path / "metrics.json"
    assert json.loads(path.read_text()) == MINIMAL


def test_markdown_table():
    rows = [{"variant": "full", "test": 0.87654, "note": "a|b"}, {"variant": "no_gd", "test": None, "steps": 3}]
    table = markdown_table(rows, ["variant", "test", "steps", "note"], floatfmt=".2f")
    lines = table.splitlines()
    assert lines[0] == "| variant | test | steps | note |"
    assert lines[1] == "| --- | ---: | ---: | --- |"
    assert lines[2] == "| full | 0.88 | — | a\\|b |"
    assert lines[3] == "| no_gd | — | 3 | — |"


def test_report_minimal_metrics():
    text = render_report(MINIMAL)
    assert text.startswith("# TinyBERT run report")
    assert "| teacher |" in text and "| student |" in text and "0.9000" in text
    assert "## Stages" not in text and "## Figures" not in text
    assert render_report({}).startswith("# TinyBERT run report")  # nothing at all still renders


def test_report_full_metrics():
    text = render_report(_full_metrics())
    for expected in ("test accuracy", "99.2%", "96.2%", "22.7M", "14.4M", "12.0", "1.6x fewer parameters",
                     "3.0x faster", "## Per class (test)", "| business |", "| macro avg |", "## Stages",
                     "120", "top15: 0.45", "TF-IDF", "tfidf+logreg", "5000 features",
                     "![mapping](figures/mapping.png)", "```json", "tinybert4"):
        assert expected in text, expected


def test_write_report_links_only_present_figures(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "mapping.png").write_bytes(b"png")
    (tmp_path / "figures" / "attention.gif").write_bytes(b"gif")
    path = write_report(tmp_path, _full_metrics())
    text = path.read_text()
    assert path == tmp_path / "report.md"
    assert "figures/mapping.png" in text and "figures/attention.gif" in text
    assert "loss_general_distillation" not in text  # listed but not written


def test_results_table():
    table = results_table(_full_metrics())
    lines = table.splitlines()
    assert lines[0].split() == ["model", "params", "test", "accuracy", "dev", "accuracy", "latency", "ms",
                                "retention", "dev", "retention"]
    assert lines[1].split() == ["teacher", "22.7M", "0.8850", "0.9250", "12.0", "-", "-"]
    assert lines[2].split() == ["student", "14.4M", "0.8780", "0.8900", "4.0", "99.2%", "96.2%"]
    assert lines[3].split()[0] == "tfidf+logreg" and "89.3%" in lines[3]
    assert len(results_table(MINIMAL).splitlines()) == 3
