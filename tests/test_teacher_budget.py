"""The teacher-budget benchmark: its soft-label statistics, its dev-only pick and a `ci`-sized measurement."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks.teacher_budget import choose, measure, soft_label_stats


def test_soft_label_stats_of_uniform_and_certain_logits():
    uniform = soft_label_stats(torch.zeros(4, 5), [0, 1, 2, 3])
    assert uniform["entropy"] == pytest.approx(math.log(5)) and uniform["top_prob"] == pytest.approx(0.2)
    certain = soft_label_stats(torch.tensor([[50.0, 0, 0], [0, 50.0, 0]]), [0, 2])
    assert certain["accuracy"] == 0.5 and certain["top_prob"] == pytest.approx(1.0)
    assert certain["entropy"] == pytest.approx(0.0, abs=1e-6)


def test_choose_reads_dev_only_and_takes_the_cheapest_within_one_example():
    def row(epochs, steps, dev, test):
        return {"epochs": epochs, "steps": steps, "dev": {"accuracy": dev}, "test": {"accuracy": test}}

    # two examples apart: the best dev wins however much test favours the other
    assert choose([row(3, 10, 0.79, 0.99), row(10, 30, 0.81, 0.50)], dev_size=100)["epochs"] == 10
    # one example apart: the cheaper one
    assert choose([row(3, 10, 0.80, 0.50), row(10, 30, 0.81, 0.50)], dev_size=100)["epochs"] == 3


def test_measure_on_ci_scores_each_kept_teacher_and_reuses_the_store(tmp_path):
    fast = {"checkpoint_every": 1000}  # not in the teacher's key: `ci` checkpoints every 2 steps for its kill tests
    result = measure([0.5], profile="ci", store=tmp_path / "stages", overrides=fast)
    assert [row["epochs"] for row in result["rows"]] == [0.5] and result["choice"]["epochs"] == 0.5
    for row in result["rows"]:
        assert set(row) >= {"train", "dev", "test", "dev_curve", "best_step", "stage"}
        assert 0 <= row["test"]["entropy"] <= math.log(5) + 1e-6
        # the kept checkpoint is the one whose dev score the stage recorded
        assert row["dev"]["accuracy"] == pytest.approx(dict(map(tuple, row["dev_curve"]))[row["best_step"]])
    again = measure([0.5], profile="ci", store=tmp_path / "stages", overrides=fast)  # from the store
    assert again["rows"][0]["stage"] == result["rows"][0]["stage"]
    assert again["rows"][0]["test"] == result["rows"][0]["test"]
