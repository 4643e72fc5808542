"""Smoke test of `benchmarks/deploy.py` on the shared `ci` run, at tiny latency sizes, in a temporary folder:
it runs end to end, keeps its JSON schema, renders its table, and never writes into benchmarks/results.

The real figures come from `python -m benchmarks --only deploy` on the laptop run (runs/laptop)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import RESULTS_DIR, deploy, tables


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    from tinybert_ref.notebook import ensure_run
    from tinybert_ref.profiles import get_profile

    _, run_dir = ensure_run(get_profile("ci"))
    out = tmp_path_factory.mktemp("deploy")
    before = sorted(p.name for p in RESULTS_DIR.iterdir()) if RESULTS_DIR.is_dir() else []
    measured = deploy.run(out, tiny=True, run_dir=run_dir)
    after = sorted(p.name for p in RESULTS_DIR.iterdir()) if RESULTS_DIR.is_dir() else []
    return measured, out, before, after


def test_schema(result):
    measured, out, _, _ = result
    assert json.loads((out / "deploy.json").read_text())["benchmark"] == "deploy"
    assert set(measured["models"]) == {"student", "teacher", "bert_base"} and measured["missing"] == []
    keys = {f"batch_{b}_len_{length}" for b in deploy.TINY_SETTINGS["batches"] for length in deploy.TINY_SETTINGS["lengths"]}
    for name, model in measured["models"].items():
        assert set(model["bytes"]) == set(deploy.RUNTIMES) and model["bytes"]["onnx_int8"] < model["bytes"]["onnx_fp32"]
        for runtime in deploy.RUNTIMES:
            assert set(model["latency"][runtime]) == keys
            assert all(v["median_ms"] > 0 for v in model["latency"][runtime].values())
        where = model["where_time_goes"]  # onnxruntime's profile: every op type timed, int8 split in two
        assert where["int8_kernels_ms"] > 0 and where["int8_rest_ms"] > 0 and where["fp32_matmul_ms"] > 0
        assert abs(where["int8_kernels_ms"] + where["int8_rest_ms"] - sum(where["ms_by_op"]["onnx_int8"].values())) < 1e-6
        if name != "bert_base":  # random weights: no test metric
            assert set(model["test_metric"]) == set(deploy.RUNTIMES)
            assert model["agreement"]["onnx_fp32_vs_pytorch"] == 1.0
            assert model["test_metric"]["onnx_fp32"] == model["test_metric"]["pytorch_fp32"]
            assert 0.0 <= model["agreement"]["onnx_int8_vs_onnx_fp32"] <= 1.0
    assert measured["test_set"]["examples"] == 64 and measured["settings"]["threads"] == 2


def test_pytorch_score_is_the_runs_test_metric(result):
    from tinybert_ref.report import read_json

    measured, *_ = result
    metrics = read_json(Path(measured["models"]["student"]["source"]).parent / "metrics.json")
    for who in ("student", "teacher"):
        assert measured["models"][who]["test_metric"]["pytorch_fp32"] == pytest.approx(metrics[who]["test_metric"])


def test_table_renders_and_results_dir_untouched(result):
    measured, out, before, after = result
    text = tables.write_readme(out).read_text()
    assert "## Shipping: ONNX and int8" in text and "| student | ONNX int8 |" in text
    assert "Where the time goes" in text and "- student, batch 4, length 16: ONNX fp32 " in text
    from benchmarks import (
        readme,  # the README's block: the student against the targets, then the table
    )

    block = readme.render_blocks(out)["deploy"]
    assert block.startswith("The `laptop` student against the targets: int8 ONNX ") and "| student | ONNX int8 |" in block
    assert block.count("(target ") == 3 and all(word in block for word in ("met", "2x", "98.0%"))
    assert before == after


def test_missing_run_folder_is_listed(tmp_path, monkeypatch):
    """Without a run, only bert_base is measured and the command that makes the run is named."""
    monkeypatch.setattr(deploy, "_bert_base", lambda work, settings, tiny: _fake_bert_base())
    measured = deploy.run(tmp_path, tiny=True, run_dir=tmp_path / "absent")
    assert set(measured["models"]) == {"bert_base"} and "tinybert-ref run" in measured["missing"][0]
    assert "Not available yet" in tables.render(tables.load_results(tmp_path))


def _fake_bert_base():
    latency = {runtime: {"batch_1_len_16": {"median_ms": 1.0}} for runtime in deploy.RUNTIMES}
    return {"source": "random weights", "bytes": dict.fromkeys(deploy.RUNTIMES, 1000), "latency": latency}
