"""The whole pipeline in the `ci` profile: outputs, export, reuse of stages, resume after kill -9,
and clear errors for bad input (issue: `tinybert-ref run`)."""

from __future__ import annotations

import json
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
sys.path.insert(0, {tests!r})
from faults import kill_after_checkpoint
from tinybert_ref.config import RunConfig
from tinybert_ref.pipeline import prepare, stage_general_distillation
kill_after_checkpoint(sys.argv[2])
run = prepare(RunConfig(profile="ci", profile_overrides=(("gd_steps", 6),)), sys.argv[1])
stage_general_distillation(run)
"""


def _general_distillation(out: Path, kill_at: str | None) -> subprocess.CompletedProcess:
    script = _GD_ONLY.format(tests=str(Path(__file__).parent))
    return subprocess.run([sys.executable, "-c", script, str(out), kill_at or ""], capture_output=True, text=True)


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


# ------------------------------------------------------------------ the recipe issue: keys, seeds, budgets
def _copy_stages(src: Path, dst: Path, names) -> None:
    import shutil

    for name in names:
        for folder in src.glob(f"{name}-*"):
            shutil.copytree(folder, dst / folder.name)


def test_every_training_stage_records_its_budget_and_optimiser(ci_run):
    metrics, _ = ci_run
    profile = CI.resolved_profile()
    for name in ("teacher", "general_distillation", "task_distillation_1", "task_distillation_2"):
        stage = metrics["stages"][name]
        assert stage["steps"] >= 1 and stage["examples_seen"] > 0 and "AdamW" in stage["optimizer"], name
        assert 0 < stage["mean_lr"] <= stage["peak_lr"], name
        assert stage["peak_rss_gib"] > 0, name
    assert metrics["stages"]["task_distillation_1"]["steps"] == profile.td1_steps
    assert metrics["stages"]["task_distillation_2"]["steps"] == profile.td2_steps
    assert metrics["stages"]["general_distillation"]["peak_lr"] == profile.gd_lr
    augmentation = metrics["stages"]["augmentation"]
    assert set(augmentation["replacements"]) == {"mlm", "glove", "kept"}
    assert augmentation["distinct_copies_mean"] == pytest.approx(
        (augmentation["examples"] - augmentation["originals"]) / augmentation["originals"], abs=1e-3)
    assert metrics["stages"]["mlm"]["recall"]["words"] == "content"
    assert metrics["stage_minutes"] > 0 and metrics["peak_rss_gib"] > 0


def test_step_two_is_scored_on_dev_every_eval_every_steps(ci_run):
    metrics, out = ci_run
    profile = CI.resolved_profile()
    history = json.loads((out / "stages" / metrics["stage_dirs"]["task_distillation_2"] / "history.json").read_text())
    scored = [row["step"] for row in history if "dev" in row]
    assert scored == list(range(profile.eval_every, profile.td2_steps + 1, profile.eval_every))


def test_latency_is_measured_on_the_models_a_user_loads(ci_run):
    from tinybert_ref.internals import ATTN_IMPLEMENTATION

    metrics, _ = ci_run
    assert metrics["latency_setting"]["attention"] not in (None, ATTN_IMPLEMENTATION)


def test_changing_the_step_two_learning_rate_reruns_step_two_only(ci_run, tmp_path):
    from tinybert_ref.pipeline import run

    metrics, out = ci_run
    changed = run(RunConfig(profile="ci", profile_overrides=(("td2_lr", 3e-4),)), tmp_path / "lr", store=out / "stages")
    differ = {name for name in metrics["stage_dirs"] if changed["stage_dirs"][name] != metrics["stage_dirs"][name]}
    assert differ == {"task_distillation_2"}
    assert changed["config"]["profile_overrides"] == {"td2_lr": 3e-4}
    assert "td2_lr=0.0003" in (tmp_path / "lr" / "report.md").read_text()


def test_another_task_reuses_general_distillation_and_the_masked_lm(ci_run, tmp_path):
    from tinybert_ref.pipeline import prepare, stage_key

    _, out = ci_run
    task = tmp_path / "topics.csv"
    task.write_text("text,label\n" + "".join(f"{w} story number {i},{w}\n" for i in range(60)
                                             for w in ("sport", "money", "music")))
    bbc = prepare(CI, tmp_path / "a", store=out / "stages")
    other = prepare(RunConfig(profile="ci", task=str(task)), tmp_path / "b", store=out / "stages")
    for name in ("general_distillation", "mlm"):
        assert stage_key(bbc, name) == stage_key(other, name), name
    assert stage_key(bbc, "teacher") != stage_key(other, "teacher")


def test_a_stage_after_cached_predecessors_gives_the_same_bits(ci_run, tmp_path):
    """Each stage seeds itself from (seed, stage): task distillation step 1 run after its predecessors were
    loaded from a store gives the weights it gave right after they were trained in the same process."""
    from safetensors.torch import load_file

    from tinybert_ref.pipeline import run

    metrics, out = ci_run
    store = tmp_path / "stages"
    store.mkdir()
    _copy_stages(out / "stages", store, ("teacher", "mlm", "general_distillation", "augmentation"))
    again = run(CI, tmp_path / "run", store=store)
    assert again["stage_dirs"] == metrics["stage_dirs"]
    for name in ("task_distillation_1", "task_distillation_2"):
        a = load_file(str(out / "stages" / metrics["stage_dirs"][name] / "model" / "model.safetensors"))
        b = load_file(str(store / metrics["stage_dirs"][name] / "model" / "model.safetensors"))
        assert all(torch_equal(a[k], b[k]) for k in a), name


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_ablation_variants_train_the_full_recipes_step_budget(ci_run, tmp_path):
    """A variant changes what the student learns from, not how long: no_da trains step 1 and step 2 for
    the full recipe's steps over its smaller set; prediction-only KD and plain fine-tuning, which replace
    both task steps with one stage, train step 1's plus step 2's steps."""
    from tinybert_ref.ablation import ablate

    _, out = ci_run
    profile = CI.resolved_profile()
    summaries = ablate(CI, tmp_path, ("no_da", "prediction_only_kd", "finetune_only"), store=out / "stages")
    steps = {name: summary["per_seed"][0]["steps"] for name, summary in summaries.items()}
    assert steps["no_da"]["task_distillation_1"] == profile.td1_steps
    assert steps["no_da"]["task_distillation_2"] == profile.td2_steps
    assert steps["prediction_only_kd"]["task_distillation_2"] == profile.td1_steps + profile.td2_steps
    assert steps["finetune_only"]["finetune"] == profile.td1_steps + profile.td2_steps
    table = json.loads((tmp_path / "ablation.json").read_text())
    assert [row["variant"] for row in table["rows"]] == ["no_da", "prediction_only_kd", "finetune_only"]
    assert all(row["test_sd"] == 0.0 and row["seeds"] == [42] for row in table["rows"])
