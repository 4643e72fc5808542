"""`python -m benchmarks.gpu --tiny`: the GPU check's code run on the CPU at tiny sizes (the CI side of it).

On a GPU the same functions measure the paper's shapes; here they must run end to end, write the JSON
with its structure, give finite losses and throughputs, and record what a CPU cannot do (fp16, the
CUDA-vs-CPU comparison) as skipped with a reason.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from benchmarks import RESULTS_DIR, gpu, steps

CUDA = torch.cuda.is_available()  # CI has none; on a GPU machine --tiny runs there
MACHINE_KEYS = {"cpu", "cpu_flags", "logical_cpus", "torch_threads", "torch", "transformers", "load_average"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One `--tiny` run through the command line's main(), into a temporary file."""
    out = tmp_path_factory.mktemp("gpu") / "gpu.json"
    before = sorted(p.name for p in RESULTS_DIR.iterdir())
    assert gpu.main(["--tiny", "--out", str(out)]) == 0
    after = sorted(p.name for p in RESULTS_DIR.iterdir())
    return json.loads(out.read_text()), before, after


def _finite_positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_json_describes_the_machine_and_writes_nowhere_else(tiny):
    result, before, after = tiny
    assert result["benchmark"] == "gpu" and result["tiny"] is True
    assert result["device"] == ("cuda" if CUDA else "cpu") and result["cuda"]["available"] is CUDA
    assert MACHINE_KEYS <= set(result["machine"])
    assert {"python", "torch", "transformers", "accelerate", "datasets"} <= set(result["versions"])
    assert result["parts"] == list(gpu.PARTS) and result["wall_s"] > 0
    assert result["summary"] and all(isinstance(line, str) for line in result["summary"])
    assert before == after  # --tiny never writes into benchmarks/results


def test_steps_every_pairing_kind_and_precision(tiny):
    rows = tiny[0]["steps"]["rows"]
    expected = {(p, k, q) for p in gpu.TINY_PAIRINGS for k in steps.KINDS for q in ("fp32", "bf16", "fp16")}
    assert {(r["pairing"], r["kind"], r["precision"]) for r in rows} == expected
    for row in rows:
        assert "error" not in row, row.get("error")
        if row["precision"] == "fp16" and not CUDA:
            assert "CUDA" in row["skipped"]
            continue
        assert _finite_positive(row["examples_per_s"]) and _finite_positive(row["tokens_per_s"])
        assert _finite_positive(row["step_s"]) and set(row["median_s"]) == set(steps.LAPS)
        assert row["losses_finite"] is True and len(row["loss"]) == row["timed_steps"]
        assert all(math.isfinite(v) and v > 0 for v in row["loss"])
        assert (row["peak_gpu_memory_mib"] > 0) if CUDA else (row["peak_gpu_memory_mib"] is None)
        assert row["peak_rss_mib"] > 0
        assert row["mapping"][0] == 0 and len(row["mapping"]) == row["student_layers"] + 1


def test_losses_on_the_cpu_and_the_comparison_skipped_with_its_reason(tiny):
    losses = tiny[0]["losses"]
    names = {"embedding (Eq. 9)", "attention (Eq. 7)", "hidden (Eq. 8)", "objective total (Eq. 6/11)"}
    assert names <= set(losses["cpu"]) and sum(name.startswith("prediction") for name in losses["cpu"]) == 2
    assert losses["cpu_finite"] is True and all(math.isfinite(v) and v > 0 for v in losses["cpu"].values())
    assert losses["tolerance"]["value_rtol"] == gpu.LOSS_RTOL
    if CUDA:
        assert losses["compared"] is True and losses["all_equal"] is True
    else:
        assert losses["compared"] is False and "CUDA" in losses["skipped"]


def test_end_to_end_runs_the_pipeline_on_the_fixture(tiny):
    e2e = tiny[0]["end_to_end"]
    assert "skipped" not in e2e, e2e.get("skipped")
    one = e2e["runs"]["fp32"]
    assert "error" not in one, one.get("error")
    assert one["device"].startswith("cuda" if CUDA else "cpu") and one["student_exported"] is True and one["losses_finite"] is True
    assert 0 <= one["teacher_test"] <= 1 and 0 <= one["student_test"] <= 1 and one["wall_s"] > 0
    assert {"teacher", "mlm", "general_distillation", "augmentation", "task_distillation_1",
            "task_distillation_2"} <= set(one["stages"])
    assert e2e["fixture"]["labels"] == ["sport", "tech", "food"]


def test_fixture_loads_as_the_pipeline_loads_it(tmp_path):
    from tinybert_ref.augment.wordvectors import WordVectors
    from tinybert_ref.data import load_task
    from tinybert_ref.models import load_teacher

    files = gpu.write_fixture(tmp_path, gpu.TINY_SETTINGS["end_to_end"])
    model, tokenizer = load_teacher(str(files["teacher"]))
    assert len(tokenizer) == model.config.vocab_size == files["vocab_size"]
    ids = tokenizer("the footballer wins the cup")["input_ids"]
    assert tokenizer.unk_token_id not in ids and len(ids) > 7  # "footballer" splits into pieces (GloVe route)
    info, task = load_task(str(files["task"]))
    assert info.num_labels == 3 and len(task["test"]) > 0
    vectors = WordVectors.from_text_file(files["glove"])
    assert "footballer" in vectors and vectors.dim == gpu.TINY_SETTINGS["end_to_end"]["glove_dim"]


def test_end_to_end_without_datasets_is_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu, "_datasets_missing", lambda: "no datasets here")
    assert gpu.end_to_end(gpu.TINY_SETTINGS["end_to_end"], tmp_path) == {"skipped": "no datasets here"}


@pytest.mark.skipif(CUDA, reason="needs a machine without CUDA")
def test_without_a_gpu_the_full_check_refuses_with_one_line(capsys):
    assert gpu.main(["--only", "losses", "--out", "/nonexistent/gpu.json"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_readme_section_gives_the_command(tiny):
    text = gpu.readme_section(tiny[0])
    assert "python -m benchmarks.gpu" in text and ".whl" in text and tiny[0]["summary"][0] in text
    assert "No GPU result committed yet" in gpu.readme_section(None)
