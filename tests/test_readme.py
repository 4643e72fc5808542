"""The README quotes no hand-typed figure: its generated blocks equal what benchmarks/readme.py renders
from the committed JSON in benchmarks/results (fix a failure with `python -m benchmarks.readme`)."""

from __future__ import annotations

import json

import pytest

from benchmarks import readme


def test_readme_blocks_match_the_committed_results():
    assert readme.stale_blocks() == [], "README is stale: run `python -m benchmarks.readme` and commit"


def test_a_changed_result_makes_the_block_stale(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "inference.json").write_text(json.dumps({"ratios": {
        "reference": "bert_base", "student": "tinybert4", "params_with_projection": 7.5, "flops": 17.9,
        "latency_batch_1": 1.0}}))
    page = tmp_path / "README.md"
    page.write_text("# x\n\n<!-- begin:speed -->\nold\n<!-- end:speed -->\n"
                    + "".join(f"<!-- begin:{b} -->\n<!-- end:{b} -->\n" for b in readme.BLOCKS if b != "speed"))
    assert "speed" in readme.stale_blocks(page, folder)
    readme.update_readme(page, folder)
    assert readme.stale_blocks(page, folder) == []
    assert "| CPU latency, batch 1 | 1.0x | 9.4x (GPU) |" in page.read_text()


def test_missing_results_say_which_command_makes_them(tmp_path):
    blocks = readme.render_blocks(tmp_path)
    assert "tinybert-ref run" in blocks["results"] and "tinybert-ref ablate" in blocks["ablation"]
    assert "benchmarks.notebooks" in blocks["timetable"]
    assert "benchmarks.general_distillation" in blocks["general"]


def test_a_readme_without_a_block_gets_a_clear_error(tmp_path):
    page = tmp_path / "README.md"
    page.write_text("# nothing generated here\n")
    with pytest.raises(ValueError, match="no block 'results'"):
        readme.update_readme(page, tmp_path)


def test_the_ablation_block_shows_seeds_verdicts_steps_and_labels_older_rows(tmp_path):
    row = {"seeds": [42, 43], "test_sd": 0.01, "dev_mean": 0.8, "dev_sd": 0.02, "retention_sd": 0.01,
           "steps": {"task_distillation_1": 1500}}
    (tmp_path / "ablation.json").write_text(json.dumps({
        "commands": ["tinybert-ref ablate --set full,no_da --seeds 42,43"],
        "rows": [{**row, "variant": "full", "test_mean": 0.83, "retention_mean": 0.95},
                 {**row, "variant": "no_da", "test_mean": 0.80, "retention_mean": 0.92, "vs_full": -0.03,
                  "verdict": "full wins"}],
        "previous_recipe": {"label": "Older, one seed:", "rows": [
            {"variant": "no_attention_loss", "test": 0.835, "dev": 0.81, "retention": 0.949, "vs_full": 0.025}]},
        "previous_loop": {"label": "Made by the previous loop:", "commands": ["tinybert-ref run --seeds 42,43"], "rows": [
            {**row, "variant": "full", "test_mean": 0.84, "retention_mean": 0.96}]},
        "one_seed": {"label": "Current recipe, one seed:", "commands": ["tinybert-ref ablate --set no_hidden_loss --seeds 42"],
                     "rows": [{**row, "variant": "no_hidden_loss", "seeds": [42], "test_mean": 0.82, "test_sd": 0.0,
                               "dev_mean": 0.81, "retention_mean": 0.94, "vs_full": -0.01, "verdict": "tie",
                               "full_on_seed": {"seed": 42, "test": 0.83, "dev": 0.8}}]}}))
    block = readme.render_blocks(tmp_path)["ablation"]
    assert block.index("Made by the previous loop:") < block.index("| `full` | 2 | 0.8400 ± 0.0100 |") < block.index("Older, one seed:")
    assert "`tinybert-ref ablate --set full,no_da --seeds 42,43`" in block
    assert "| `no_da` | 2 | 0.8000 ± 0.0100 | 0.8000 ± 0.0200 | 92.0% ± 1.0 | -3.00 | full wins | 1500 |" in block
    assert block.index("Older, one seed:") < block.index("| `no_attention_loss` | 0.8350 |")
    # the current recipe's one-seed rows come before the previous recipe's, beside full on the same seed
    assert block.index("Made by the previous loop:") < block.index("Current recipe, one seed:") < block.index("Older, one seed:")
    assert "`tinybert-ref ablate --set no_hidden_loss --seeds 42`" in block
    assert "| `no_hidden_loss` | 42 | 0.8200 | 0.8100 | 94.0% | 0.8300 | -1.00 | tie | 1500 |" in block


def test_the_sweep_block_marks_the_dev_choice_and_says_whether_the_default_is_it(tmp_path):
    def row(td2_lr, dev, test):
        return {"setting": f"td2_lr={td2_lr}", "td2_lr": td2_lr, "dev_mean": dev, "dev_sd": 0.0,
                "test_mean": test, "test_sd": 0.0}

    def block(rows):
        (tmp_path / "sweep.json").write_text(json.dumps({
            "command": "tinybert-ref sweep --grid td2_lr=0.0001,3e-05", "config": {"profile": "laptop"},
            "grid": {"td2_lr": [1e-4, 3e-5]}, "seeds": [42], "rows": rows}))
        return readme.render_blocks(tmp_path)["sweep"]

    # the laptop default td2_lr=0.0001 loses on dev: the block says so, whatever test says
    text = block([row(1e-4, 0.80, 0.90), row(3e-5, 0.82, 0.70)])
    assert "Chosen on dev: `td2_lr=3e-05`" in text and "is not the one chosen on dev" in text
    assert "| 3e-05 | 0.8200 | 0.7000 | best on dev |" in text and "| 0.0001 | 0.8000 | 0.9000 | default |" in text
    # a tie on dev names every tied setting instead of the first one max() meets
    text = block([row(1e-4, 0.82, 0.80), row(3e-5, 0.82, 0.81)])
    assert "shared by 2 settings (td2_lr=0.0001; td2_lr=3e-05)" in text and "is among them" in text


def test_the_teacher_block_marks_the_dev_pick_and_the_default(tmp_path):
    from benchmarks.teacher_budget import choose

    def row(epochs, steps, dev, test):
        split = {"accuracy": test, "top_prob": 0.9, "entropy": 0.3}
        return {"epochs": epochs, "steps": steps, "best_step": steps, "wall_s": 60.0, "stage": "teacher-x",
                "dev_curve": [], "train": split, "test": split, "dev": {**split, "accuracy": dev}}

    rows = [row(3.0, 137, 0.855, 0.99), row(10.0, 457, 0.875, 0.80), row(20.0, 913, 0.88, 0.81)]
    (tmp_path / "teacher_budget.json").write_text(json.dumps({
        "command": "python -m benchmarks.teacher_budget", "profile": "laptop", "rows": rows,
        "choice": choose(rows, dev_size=200)}))
    text = readme.render_blocks(tmp_path)["teacher"]
    # 10 epochs is one dev headline under 20 and half its steps; test never enters the pick
    assert "within one dev headline (1/200) of it: 10, 20 epochs; of those the fewest steps: 10 epochs" in text
    assert "| 10 | 457 | 457 | 0.8750 | 0.8000 |" in text and text.count("picked on dev |") == 1
    assert "| 3 | 137 | 137 | 0.8550 | 0.9900 | 0.9900 | 0.900 | 0.300 | 1.0 | default |" in text
    assert "The profile's default, 3 epochs, is not the pick." in text


def test_the_results_readme_and_quality_json_match_the_committed_results():
    """benchmarks/results/README.md is rendered from the committed JSON, and quality.json's ablation rows are
    ablation.json's (both went stale once when ablation.json was merged without re-collecting quality)."""
    from benchmarks import RESULTS_DIR, tables

    quality = json.loads((RESULTS_DIR / "quality.json").read_text())
    ablation = json.loads((RESULTS_DIR / "ablation.json").read_text())
    assert quality["ablation"]["rows"] == ablation["rows"], "run `python -m benchmarks --only quality` and commit"
    rendered = tables.render(tables.load_results(RESULTS_DIR))
    assert (RESULTS_DIR / "README.md").read_text() == rendered, (
        "benchmarks/results/README.md is stale: run `python -m benchmarks.tables` and commit")


def test_a_gap_in_points_prints_what_the_headlines_make():
    # means over three seeds from the committed table: one decimal printed these as +0.2 and -2.7
    assert readme._points(0.8516666666666666 - 0.8491666666666666) == "+0.25"
    assert readme._points(0.8216666666666667 - 0.8491666666666666) == "-2.75"
    assert readme._points(None) == "—"


def test_the_general_block_shows_each_checkpoints_probe_and_step_1s_loss(tmp_path):
    def probe(dev, test):
        return {"dev": dev, "test": test}

    (tmp_path / "general_distillation.json").write_text(json.dumps({
        "command": "python -m benchmarks.general_distillation runs/a runs/b", "n_train": 1460, "window": 100,
        "teachers": {"pretrained": probe(0.75, 0.825), "fine-tuned": probe(0.82, 0.875)},
        "rows": [{"variant": "full", "seed": 42, "test_metric": 0.85,
                  "probe": {"before_gd": probe(0.45, 0.46), "after_gd": probe(0.47, 0.555), "after_td1": probe(0.855, 0.87),
                            "after_td2": probe(0.835, 0.86)},
                  "gd_loss": [{"step": 100, "total": 17.0}, {"step": 200, "total": 10.6}, {"step": 300, "total": 9.087}],
                  "step1_loss": [{"step": 100, "total": 4.99}, {"step": 200, "total": 1.44}]},
                 {"variant": "no_gd", "seed": 42, "test_metric": 0.8525,
                  "probe": {"before_gd": probe(0.45, 0.46), "after_td1": probe(0.84, 0.86), "after_td2": probe(0.815, 0.86)},
                  "step1_loss": [{"step": 100, "total": 8.24}, {"step": 200, "total": 1.571}]}]}))
    block = readme.render_blocks(tmp_path)["general"]
    assert "`python -m benchmarks.general_distillation runs/a runs/b`" in block
    assert "pretrained 0.750 / 0.8250, fine-tuned 0.820 / 0.8750" in block and "1,460 train headlines" in block
    assert ("| `full` | 42 | 0.450 / 0.4600 | 0.470 / 0.5550 | 0.855 / 0.8700 | 0.835 / 0.8600 | 10.60 → 9.09 | 4.990 | 1.440 "
            "| 0.8500 |"
            in block)
    assert "| `no_gd` | 42 | 0.450 / 0.4600 | — | 0.840 / 0.8600 | 0.815 / 0.8600 | — | 8.240 | 1.571 | 0.8525 |" in block
