"""Results over seeds (mean, sd, "beats by more than 2 sd") and the `--override` / `--seeds` options."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tinybert_ref.profiles import PROFILES, override, parse_overrides
from tinybert_ref.seeds import beats, seeds_table, summarize_seeds


def _metrics(test, dev, teacher=0.9):
    return {"student": {"test_metric": test, "dev_metric": dev, "params": 10},
            "teacher": {"test_metric": teacher, "dev_metric": teacher, "params": 20},
            "retention": test / teacher, "dev_retention": dev / teacher, "stage_minutes": 20.0,
            "peak_rss_gib": 3.0, "stages": {"task_distillation_2": {"steps": 1500}},
            "baselines": {"tfidf": {"metric": 0.79}}}


def test_mean_and_sample_sd_over_seeds():
    from tinybert_ref.seeds import _seed_row

    rows = [_seed_row(seed, _metrics(test, test)) for seed, test in ((42, 0.86), (43, 0.88), (44, 0.87))]
    summary = summarize_seeds(rows, _metrics(0.87, 0.87))
    assert summary["seeds"] == [42, 43, 44]
    assert summary["test_metric_mean"] == pytest.approx(0.87)
    assert summary["test_metric_sd"] == pytest.approx(0.01)  # n - 1 in the denominator
    assert summary["test_retention_mean"] == pytest.approx(0.87 / 0.9)
    assert summary["beats_tfidf_by_2sd"] is True  # 0.87 - 0.79 > 2 x 0.01
    assert "mean +- sd" in seeds_table(summary)


@pytest.mark.parametrize("a, b, expected", [
    ((0.87, 0.01), (0.84, 0.01), True),   # 3 points apart, sd 1 point
    ((0.87, 0.02), (0.84, 0.01), False),  # the larger sd decides: 3 < 2 x 2
    ((0.84, 0.01), (0.87, 0.01), False),  # A below B
    ((0.80, 0.0), (0.79, 0.0), True),     # deterministic both
])
def test_beats_means_more_than_two_of_the_larger_sd(a, b, expected):
    assert beats(*a, *b) is expected


def test_overrides_are_typed_and_checked():
    assert parse_overrides(["td2_lr=3e-5", "td1_steps=10", "aug_mlm=false", "td1_epochs=none"]) == (
        ("td2_lr", 3e-5), ("td1_steps", 10), ("aug_mlm", False), ("td1_epochs", None))
    for bad, named in (("nope=1", "valid keys"), ("td2_lr=fast", "float"), ("gd_steps=1.5", "int"),
                       ("td2_lr", "key=value"), ("aug_mlm=maybe", "bool"), ("gd_steps=none", "int")):
        with pytest.raises(ValueError, match=named):
            parse_overrides([bad])
    with pytest.raises(TypeError, match="int"):
        override(PROFILES["ci"], gd_steps="10")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tinybert_ref.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, named", [
    (("--override", "nope=1"), "valid keys"),
    (("--override", "td2_lr=fast"), "td2_lr takes float"),
    (("--seeds", "42,forty"), "--seeds"),
])
def test_bad_run_options_get_one_line_before_any_stage(tmp_path, args, named):
    result = _cli("run", "--profile", "ci", "--out", str(tmp_path / "run"), *args)
    assert result.returncode == 2 and named in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_sweep_grid_is_parsed_with_the_fields_types():
    from tinybert_ref.sweep import parse_grid

    assert parse_grid(["td2_lr=3e-5,1e-4", "td1_steps=10,20"]) == {"td2_lr": [3e-5, 1e-4], "td1_steps": [10, 20]}
    with pytest.raises(ValueError, match="--grid"):
        parse_grid([])
