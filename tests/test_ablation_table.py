"""benchmarks.ablation: a finished variant replaces its row, the replaced row moves beside the older
code's `full`, and every verdict is recomputed with the 2-sd rule."""

import json

import pytest

from benchmarks.ablation import merge, merge_one_seed


def _row(variant, mean, sd):
    return {"variant": variant, "seeds": [42, 43, 44], "test_mean": mean, "test_sd": sd, "dev_mean": mean,
            "dev_sd": sd, "retention_mean": mean, "retention_sd": sd, "steps": {"teacher": 137}}


def _summary(tests):
    import statistics

    per_seed = [{"seed": seed, "test_metric": test, "dev_metric": 0.8, "steps": {"teacher": 137}}
                for seed, test in zip((42, 43, 44), tests, strict=False)]
    return {"seeds": [42, 43, 44], "per_seed": per_seed,
            "test_metric_mean": statistics.fmean(tests), "test_metric_sd": statistics.stdev(tests),
            "dev_metric_mean": 0.8, "dev_metric_sd": 0.01, "test_retention_mean": 0.9, "test_retention_sd": 0.01}


def test_merge_replaces_rows_and_recomputes_verdicts(tmp_path):
    table = {"seeds": [42, 43, 44], "commands": ["old"],
             "rows": [_row("full", 0.85, 0.005), _row("no_da", 0.845, 0.005), _row("no_td", 0.76, 0.02)],
             "previous_loop": {"label": "older loop", "rows": [_row("full", 0.85, 0.02)]}}
    for variant, tests in {"no_da": [0.80, 0.81, 0.82], "no_td": [0.70, 0.71]}.items():
        (tmp_path / variant).mkdir()
        summary = _summary(tests)
        if variant == "no_td":  # over other seeds: not comparable, left out
            summary["seeds"] = [42, 43]
        (tmp_path / variant / "seeds.json").write_text(json.dumps(summary))

    assert merge(table, tmp_path, "new command") == ["no_da"]

    rows = {row["variant"]: row for row in table["rows"]}
    assert rows["no_da"]["test_mean"] == pytest.approx(0.81)
    assert rows["no_da"]["verdict"] == "full wins"  # 0.85 - 0.81 = 0.04 > 2 x 0.01
    assert rows["no_da"]["vs_full"] == pytest.approx(-0.04)
    assert [seed["test"] for seed in rows["no_da"]["per_seed"]] == [0.80, 0.81, 0.82]
    assert rows["no_td"]["test_mean"] == 0.76  # untouched
    previous = {row["variant"]: row for row in table["previous_loop"]["rows"]}
    assert previous["no_da"]["test_mean"] == 0.845  # the replaced row, now judged against the older full
    assert previous["no_da"]["verdict"] == "tie"  # 0.005 < 2 x 0.02
    assert table["commands"] == ["old", "new command"]


def test_merge_can_move_the_replaced_rows_to_another_block(tmp_path):
    table = {"seeds": [42, 43, 44], "commands": ["old"],
             "rows": [_row("full", 0.85, 0.005), _row("no_da", 0.80, 0.005)],
             "previous_loop": {"label": "older loop", "rows": [_row("full", 0.84, 0.02)]}}
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "seeds.json").write_text(json.dumps(_summary([0.86, 0.87, 0.85])))

    assert merge(table, tmp_path, "full again", moved_to="other_cpu", label="the same code elsewhere") == ["full"]

    assert table["previous_loop"]["rows"] == [_row("full", 0.84, 0.02)]  # the older code's table is untouched
    assert table["other_cpu"] == {"label": "the same code elsewhere", "rows": [_row("full", 0.85, 0.005)]}
    rows = {row["variant"]: row for row in table["rows"]}
    assert rows["full"]["test_mean"] == pytest.approx(0.86)
    assert rows["no_da"]["verdict"] == "full wins" and rows["no_da"]["vs_full"] == pytest.approx(-0.06)


def test_merge_refuses_a_run_with_no_finished_variant(tmp_path):
    table = {"seeds": [42, 43, 44], "rows": [_row("full", 0.85, 0.005)]}
    with pytest.raises(SystemExit, match="no variant finished"):
        merge(table, tmp_path, "command")


def test_merge_one_seed_judges_a_variant_against_full_on_the_same_seed(tmp_path):
    full = {**_row("full", 0.85, 0.01), "per_seed": [{"seed": 42, "test": 0.86, "dev": 0.84},
                                                     {"seed": 43, "test": 0.85, "dev": 0.85},
                                                     {"seed": 44, "test": 0.84, "dev": 0.83}]}
    table = {"seeds": [42, 43, 44], "commands": ["old"], "rows": [full]}
    for variant, test in {"no_attention_loss": 0.87, "mapping_top": 0.83}.items():
        (tmp_path / variant).mkdir()
        summary = {**_summary([test, test]), "seeds": [42], "test_metric_sd": 0.0}  # one seed: sd 0
        summary["per_seed"] = summary["per_seed"][:1]
        (tmp_path / variant / "seeds.json").write_text(json.dumps(summary))
    (tmp_path / "no_hidden_loss").mkdir()  # over three seeds: not a one-seed row
    (tmp_path / "no_hidden_loss" / "seeds.json").write_text(json.dumps(_summary([0.8, 0.81, 0.82])))

    assert merge_one_seed(table, tmp_path, "ablate --seeds 42", label="one seed") == ["mapping_top",
                                                                                    "no_attention_loss"]

    rows = {row["variant"]: row for row in table["one_seed"]["rows"]}
    assert set(rows) == {"mapping_top", "no_attention_loss"}
    # against full's seed 42 (0.86), not its mean (0.85); the bar is 2 x full's sd (0.02)
    assert rows["no_attention_loss"]["vs_full"] == pytest.approx(0.01)
    assert rows["no_attention_loss"]["verdict"] == "tie"
    assert rows["mapping_top"]["vs_full"] == pytest.approx(-0.03)
    assert rows["mapping_top"]["verdict"] == "full wins"
    assert rows["mapping_top"]["full_on_seed"] == {"seed": 42, "test": 0.86, "dev": 0.84}
    assert table["rows"] == [full] and table["commands"] == ["old"]  # the seeded table is untouched

    (tmp_path / "mapping_top" / "seeds.json").unlink()
    merge_one_seed(table, tmp_path, "again")  # a re-merge replaces a variant's row, never repeats it
    assert [row["variant"] for row in table["one_seed"]["rows"]] == ["mapping_top", "no_attention_loss"]
    assert table["one_seed"]["label"] == "one seed" and table["one_seed"]["commands"] == ["ablate --seeds 42", "again"]
    merge_one_seed(table, tmp_path, "again")  # the same command merged again as more of its variants finish
    assert table["one_seed"]["commands"] == ["ablate --seeds 42", "again"]


def test_a_variant_merged_over_the_seeds_leaves_the_one_seed_block_and_a_new_full_rejudges_it(tmp_path):
    full = {**_row("full", 0.85, 0.01), "per_seed": [{"seed": 42, "test": 0.86, "dev": 0.84}]}
    table = {"seeds": [42, 43, 44], "commands": ["old"], "rows": [full]}
    one, three = tmp_path / "one", tmp_path / "three"
    for variant, test in {"no_attention_loss": 0.87, "mapping_top": 0.83}.items():
        (one / variant).mkdir(parents=True)
        summary = {**_summary([test, test]), "seeds": [42], "test_metric_sd": 0.0}
        summary["per_seed"] = summary["per_seed"][:1]
        (one / variant / "seeds.json").write_text(json.dumps(summary))
    merge_one_seed(table, one, "one seed")
    (three / "no_attention_loss").mkdir(parents=True)
    (three / "no_attention_loss" / "seeds.json").write_text(json.dumps(_summary([0.86, 0.87, 0.88])))

    assert merge(table, three, "three seeds") == ["no_attention_loss"]

    assert [row["variant"] for row in table["rows"]] == ["full", "no_attention_loss"]
    assert [row["variant"] for row in table["one_seed"]["rows"]] == ["mapping_top"]  # no row twice
    assert table["one_seed"]["rows"][0]["verdict"] == "full wins"  # 0.83 against full's seed 42, 0.86

    (three / "full").mkdir()  # full re-made: its seed 42 now 0.80, so mapping_top's 0.83 wins by 0.03 > 0.02
    (three / "full" / "seeds.json").write_text(json.dumps(_summary([0.80, 0.81, 0.82])))
    merge(table, three, "full again")
    assert table["one_seed"]["rows"][0]["verdict"] == "variant wins"
    assert table["one_seed"]["rows"][0]["full_on_seed"]["test"] == pytest.approx(0.80)

    (three / "mapping_top").mkdir()
    (three / "mapping_top" / "seeds.json").write_text(json.dumps(_summary([0.83, 0.84, 0.85])))
    merge(table, three, "mapping over seeds")
    assert "one_seed" not in table  # every one-seed row now has its three-seed row


def test_merge_one_seed_refuses_a_run_without_a_one_seed_variant(tmp_path):
    table = {"seeds": [42, 43, 44], "rows": [{**_row("full", 0.85, 0.01), "per_seed": [{"seed": 42, "test": 0.85}]}]}
    with pytest.raises(SystemExit, match="no variant finished over one of the seeds"):
        merge_one_seed(table, tmp_path, "command")
