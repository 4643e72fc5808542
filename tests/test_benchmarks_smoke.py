"""Smoke test of the benchmarks: each one at tiny sizes writes its JSON, and the tables render.

The real figures come from `python -m benchmarks` (benchmarks/results/); this only checks that every
benchmark runs end to end, keeps its JSON schema, and never writes into benchmarks/results.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import RESULTS_DIR, augmentation, corpus_memory, inference, quality, steps, tables

MACHINE_KEYS = {"cpu", "cpu_flags", "logical_cpus", "torch_threads", "torch", "transformers", "load_average"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every benchmark run once at tiny sizes into one temporary folder."""
    out = tmp_path_factory.mktemp("benchmarks")
    before = sorted(p.name for p in RESULTS_DIR.iterdir()) if RESULTS_DIR.is_dir() else []
    runs = {
        "inference": inference.run(out, tiny=True),
        "augmentation": augmentation.run(out, tiny=True),
        "steps": steps.run(out, tiny=True),
        "quality": quality.run(out, tiny=True, metrics_paths=[out / "absent.json"], ablation_paths=[out / "no.json"]),
        "corpus_memory": corpus_memory.run(out, tiny=True),
    }
    after = sorted(p.name for p in RESULTS_DIR.iterdir()) if RESULTS_DIR.is_dir() else []
    return out, runs, before, after


def test_each_benchmark_writes_its_json_with_the_machine(results):
    out, runs, _, _ = results
    for name in runs:
        written = json.loads((out / f"{name}.json").read_text())
        assert written["benchmark"] == name and written["tiny"] is True
        assert MACHINE_KEYS <= set(written["machine"])


def test_inference_keys(results):
    result = results[1]["inference"]
    assert set(result["models"]) == set(inference.SHAPES)
    for model in result["models"].values():
        assert model["params"]["bert_model"] > model["params"]["encoder"] > 0
        assert model["flops"] > 0
        assert {"1", "4"} == set(model["latency"]) and model["latency"]["1"]["median_ms"] > 0
    assert {"params", "params_with_projection", "params_non_embedding", "flops", "latency_batch_1"} <= set(result["ratios"])
    assert result["ratios"]["flops"] > 1


def test_augmentation_keys(results):
    result = results[1]["augmentation"]
    assert result["candidates_equal"] is True and result["outputs_equal"] is True and result["words_differing"] == []
    assert result["speedup"] > 0 and result["masked_variants"] > 0
    assert len(result["speedup_per_round"]) == result["settings"]["repeats"]
    assert min(result["speedup_per_round"]) <= result["speedup"] <= max(result["speedup_per_round"])
    assert set(result["sentences_per_s"]) == {"batched", "word_by_word"}
    assert result["bound_s"]["mlm_forwards_alone"] > 0
    bound, bf16 = result["bound"], result["bf16"]
    assert bound["speedup_ceiling_equal_precision"] == pytest.approx(
        result["median_s"]["word_by_word"] / bound["mlm_forwards_s"])
    assert 0 <= bound["padding_share"] < 1 and isinstance(bound["target_reachable_at_equal_precision"], bool)
    assert bf16["median_s"] > 0 and bf16["gain_over_batched_fp32"] > 0 and bf16["mlm_forwards_s"] > 0
    assert 0 <= bf16["topk_sets_identical_share"] <= 1 and 0 <= bf16["candidates"]["share"] <= 1
    assert bf16["candidates"]["mlm_words"] > 0
    assert "bound" in result["statement"].lower() and "bf16" in result["statement"]
    assert result["other_machines"] == []  # a --tiny result carries no other machine's figures


def _full_result(cpu: str, avx512: bool, speedup: float, other=()) -> dict:
    """A full-size augmentation result as the benchmark writes it, reduced to what is carried."""
    return {"tiny": False, "speedup": speedup, "speedup_per_round": [speedup - 0.5, speedup + 0.2],
            "median_s": {"batched": 1.0, "word_by_word": speedup}, "bound": {"speedup_ceiling_equal_precision": 12.0},
            "bf16": {"hardware": avx512, "gain_over_batched_fp32": 1.1, "topk_sets_identical_share": 0.75},
            "machine": {"cpu": cpu, "cpu_flags": {"avx2": True, "avx512f": avx512}, "logical_cpus": 2,
                        "time_utc": "2026-12-07T17:29:29+00:00", "commit": "abc1234"},
            "other_machines": list(other)}


def test_other_machines_carry_each_cpu_once_and_never_the_current_one():
    amd, intel = _full_result("AMD EPYC", False, 8.4), _full_result("Intel Xeon", True, 10.6)
    carried = augmentation.other_machines(amd, intel["machine"])  # Intel replaces AMD's file: AMD is kept
    assert [m["machine"]["cpu"] for m in carried] == ["AMD EPYC"] and carried[0]["speedup"] == 8.4
    assert augmentation.other_machines(amd, amd["machine"]) == []  # the same CPU: its new figures replace them
    assert augmentation.other_machines({**amd, "tiny": True}, intel["machine"]) == []
    assert augmentation.other_machines(None, intel["machine"]) == []
    # a later AMD run replaces Intel's file: Intel is carried, the older AMD entry Intel carried is dropped
    later = augmentation.other_machines({**intel, "other_machines": carried}, amd["machine"])
    assert [m["machine"]["cpu"] for m in later] == ["Intel Xeon"]
    # the same model name with other instruction sets is another machine
    assert len(augmentation.other_machines(_full_result("AMD EPYC", True, 9.0, carried), amd["machine"])) == 1
    statement = augmentation.other_machines_statement(carried)
    assert "AMD EPYC (2 cores, AVX2, no AVX-512; 2026-12-07, commit abc1234): 8.4x (per round 7.9-8.6x)" in statement
    assert "ceiling 12.0x; bf16 emulated 1.10x batched fp32, 75.0% of top-K sets identical" in statement


def test_compare_candidates_names_the_words_that_differ(results):
    from tinybert_ref.augment.algorithm import WordCandidates

    batched = [[WordCandidates("rose", "mlm", ("fell", "climbed")), WordCandidates("the", "skip", ())]]
    word_by_word = [[WordCandidates("rose", "mlm", ("climbed", "fell")), WordCandidates("the", "skip", ())]]
    result = augmentation.compare_candidates(batched, word_by_word)
    assert result["candidates_equal"] is False and result["words"] == 2
    assert result["words_equal"] == 1 and result["words_equal_as_sets"] == 2
    assert result["words_differing"] == [{"word": "rose", "batched": ["fell", "climbed"],
                                          "word_by_word": ["climbed", "fell"]}]
    section = tables._augmentation_section({**results[1]["augmentation"], **result})
    assert "`rose`: batched fell, climbed; word by word climbed, fell." in section


def test_steps_keys_and_split(results):
    rows = results[1]["steps"]["rows"]
    assert {(r["kind"], r["precision"]) for r in rows} == {(k, p) for k in steps.KINDS for p in ("fp32", "bf16")}
    for row in rows:
        assert row["examples_per_s"] > 0 and row["peak_rss_mib"] > 0
        assert set(row["median_s"]) == set(steps.LAPS)
        assert sum(row["median_s"].values()) == pytest.approx(row["step_s"], rel=0.5)


def test_corpus_memory_keys(results):
    result = results[1]["corpus_memory"]
    small, large = result["rows"]
    assert result["growth"]["text"] == pytest.approx(10, rel=0.15)
    for row in (small, large):
        assert row["tokens"] > 0 and row["tokens_per_s"] > 0 and row["arrow_bytes"] > 0
        assert row["peak_rss_mib"] >= row["rss_ready_mib"] > 0 and row["packed_in_memory"] is False
        assert row["peak_main_anon_mib"] >= row["anon_ready_mib"] > 0
    assert large["tokens"] > 5 * small["tokens"]


def test_quality_lists_what_is_missing(results):
    result = results[1]["quality"]
    assert result["laptop"] is None and result["ablation"] is None and len(result["missing"]) == 2


def test_quality_collects_present_files(tmp_path):
    metrics = {"profile": "laptop", "task": {"name": "bbc", "metric": "accuracy"},
               "teacher": {"test_metric": 0.9, "dev_metric": 0.92, "params": 22_700_000},
               "student": {"test_metric": 0.88, "dev_metric": 0.9, "params": 14_350_000},
               "retention": 0.978, "baselines": {"tfidf": {"metric": 0.79}}}
    ablation = {"rows": [{"variant": "full", "test": 0.88, "dev": 0.9, "retention": 0.978, "vs_full": 0.0}]}
    (tmp_path / "m.json").write_text(json.dumps(metrics))
    (tmp_path / "a.json").write_text(json.dumps(ablation))
    result = quality.run(tmp_path, metrics_paths=[tmp_path / "m.json"], ablation_paths=[tmp_path / "a.json"])
    assert result["missing"] == [] and result["laptop"]["retention"] == 0.978
    text = tables.render(tables.load_results(tmp_path))
    assert "97.8%" in text and "| full |" in text


def test_quality_renders_ablations_over_seeds(tmp_path):
    """Rows over seeds (mean ± sd, a verdict) render as the README's ablation table, not the one-seed one."""
    full = {"variant": "full", "seeds": [42, 43, 44], "test_mean": 0.85, "test_sd": 0.01, "dev_mean": 0.84,
            "dev_sd": 0.015, "retention_mean": 0.97, "retention_sd": 0.012, "steps": {"task_distillation_2": 1500}}
    variant = {**full, "variant": "no_da", "test_mean": 0.80, "vs_full": -0.05, "verdict": "full wins"}
    (tmp_path / "a.json").write_text(json.dumps({"rows": [full, variant], "commands": ["tinybert-ref ablate x"]}))
    quality.run(tmp_path, metrics_paths=[tmp_path / "absent.json"], ablation_paths=[tmp_path / "a.json"])
    text = tables.render(tables.load_results(tmp_path))
    assert "| `no_da` | 3 | 0.8000 ± 0.0100 |" in text and "full wins" in text and "`tinybert-ref ablate x`" in text


def test_tables_render_and_results_dir_untouched(results):
    out, runs, before, after = results
    readme = tables.write_readme(out)
    text = readme.read_text()
    for title in ("## Machine", "## Size and inference speed", "## Data augmentation", "## Distillation step",
                  "## Quality", "## Corpus preparation memory", "Tiny smoke-test sizes"):
        assert title in text
    assert before == after  # nothing written into benchmarks/results


def test_render_without_results():
    assert "No results yet" in tables.render({})
