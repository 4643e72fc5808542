"""The whole pipeline in the `ci` profile: outputs, export, reuse of stages, resume after kill -9,
and clear errors for bad input (issue: `tinybert-ref run`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinybert_ref.config import RunConfig
from tinybert_ref.runfolder import ConfigMismatchError

CI = RunConfig(profile="ci")


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    from tinybert_ref.pipeline import run

    out = tmp_path_factory.mktemp("run") / "ci"
    return run(CI, out), out


def test_metrics_have_the_promised_keys(ci_run):
    metrics, out = ci_run
    for who in ("teacher", "student"):
        for key in ("test_metric", "dev_metric", "params", "latency_ms", "per_class"):
            assert key in metrics[who], (who, key)
    assert metrics["profile"] == "ci" and metrics["config"]["task"] == "bbc"
    assert metrics["retention"] == pytest.approx(metrics["student"]["test_metric"] / metrics["teacher"]["test_metric"], abs=1e-3)
    expected_stages = {"teacher", "mlm", "general_distillation", "augmentation", "task_distillation_1", "task_distillation_2"}
    assert set(metrics["stages"]) == expected_stages
    assert all(stage["wall_s"] > 0 for stage in metrics["stages"].values())
    assert metrics["student"]["params"] < metrics["teacher"]["params"]
    assert 0.0 <= metrics["baselines"]["tfidf"]["metric"] <= 1.0
    assert json.loads((out / "metrics.json").read_text())["retention"] == metrics["retention"]
    assert "retention" in (out / "report.md").read_text().lower()
    for figure in metrics["figures"]:
        assert (out / figure).is_file(), figure


def test_augmented_set_has_provenance(ci_run):
    from datasets import load_from_disk

    metrics, out = ci_run
    augmented = load_from_disk(str(out / "stages" / metrics["stage_dirs"]["augmentation"] / "dataset"))
    profile = CI.resolved_profile()
    train = metrics["task"]["sizes"]["train"]
    assert {"text", "label", "original_index", "is_original", "replacements"} <= set(augmented.column_names)
    # every original once, then up to N_a distinct copies each (identical copies are written once, as
    # the official code does, so the total may fall short of train * (N_a + 1))
    assert sum(augmented["is_original"]) == train
    assert train < len(augmented) <= train * (profile.aug_copies + 1)
    for row in augmented:  # provenance: [position, original word, replacement, source] per change
        changes = json.loads(row["replacements"])
        assert bool(changes) != row["is_original"], row
        assert all(source in ("mlm", "glove") for *_, source in changes), changes


def test_exported_student_loads_in_a_transformers_pipeline(ci_run):
    from transformers import pipeline

    metrics, out = ci_run
    classify = pipeline("text-classification", model=str(out / "student"))
    prediction = classify("Shares rise as the bank raises its profit forecast")[0]
    assert prediction["label"] in metrics["task"]["labels"]


def test_second_run_reuses_every_stage(ci_run):
    from tinybert_ref.pipeline import run

    metrics, out = ci_run
    done = {p: p.stat().st_mtime for p in (out / "stages").glob("*/DONE.json")}
    again = run(CI, out)
    assert again["stage_dirs"] == metrics["stage_dirs"]
    assert {p: p.stat().st_mtime for p in (out / "stages").glob("*/DONE.json")} == done
    assert again["student"]["test_metric"] == metrics["student"]["test_metric"]


def test_a_run_folder_of_another_config_is_refused(ci_run):
    from tinybert_ref.pipeline import run

    _, out = ci_run
    with pytest.raises(ConfigMismatchError, match="seed"):
        run(RunConfig(profile="ci", seed=7), out)


_GD_ONLY = """
import sys
from tinybert_ref.config import RunConfig
from tinybert_ref.pipeline import prepare, stage_general_distillation
run = prepare(RunConfig(profile="ci", profile_overrides=(("gd_steps", 6),)), sys.argv[1])
stage_general_distillation(run)
"""


def _general_distillation(out: Path, kill_at: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINYBERT_KILL_AT": kill_at or ""}
    return subprocess.run([sys.executable, "-c", _GD_ONLY, str(out)], env=env, capture_output=True, text=True)


def _gd_weights(out: Path):
    from safetensors.torch import load_file

    (stage,) = (out / "stages").glob("general_distillation-*")
    return load_file(str(stage / "model" / "model.safetensors"))


def test_kill_9_during_general_distillation_resumes_to_the_same_weights(tmp_path):
    killed = _general_distillation(tmp_path / "killed", "general distillation:2")
    assert killed.returncode == -9, killed.stderr[-2000:]
    (stage,) = (tmp_path / "killed" / "stages").glob("general_distillation-*")
    assert json.loads((stage / "checkpoint" / "state" / "progress.json").read_text())["step"] == 2
    assert not (stage / "DONE.json").exists()
    resumed = _general_distillation(tmp_path / "killed", None)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((stage / "DONE.json").read_text())["resumed"] is True
    straight = _general_distillation(tmp_path / "straight", None)
    assert straight.returncode == 0, straight.stderr[-2000:]
    a, b = _gd_weights(tmp_path / "killed"), _gd_weights(tmp_path / "straight")
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst == 0.0, f"resumed weights differ from an uninterrupted run by up to {worst}"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinybert_ref.cli", *args], capture_output=True, text=True)


def test_a_task_with_one_class_gets_a_clear_error(tmp_path):
    task = tmp_path / "one_class.csv"
    task.write_text("text,label\n" + "".join(f"headline number {i},sport\n" for i in range(40)))
    result = _cli("run", "--profile", "ci", "--task", str(task), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "class" in result.stderr and "Traceback" not in result.stderr


def test_a_teacher_with_another_vocabulary_gets_a_clear_error(tmp_path, teacher_tokenizer, tiny_config):
    from transformers import BertModel

    folder = tmp_path / "odd_teacher"
    BertModel(tiny_config(vocab_size=1000)).save_pretrained(folder)
    teacher_tokenizer.save_pretrained(folder)
    result = _cli("run", "--profile", "ci", "--teacher", str(folder), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "1,000" in result.stderr and "30,522" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_teacher_folder_gets_a_clear_error(tmp_path):
    result = _cli("run", "--profile", "ci", "--teacher", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_metrics_record_where_the_stages_are(ci_run):
    from tinybert_ref.snapshots import find_store

    metrics, out = ci_run
    assert metrics["store"] == "stages"
    assert find_store(out) == out / metrics["store"]
    assert all((out / metrics["store"] / folder / "DONE.json").is_file() for folder in metrics["stage_dirs"].values())
