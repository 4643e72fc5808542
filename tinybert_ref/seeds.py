"""One configuration over several training seeds: results as mean and spread, never one lucky run.

The data split, the fine-tuned teacher and the masked LM are made once (`pipeline.SHARED_SEED`) and
shared through one stage store; each seed re-runs augmentation sampling, general distillation and both
task-distillation steps, student initialisation included. A seed's retention is its student over the
one teacher. Used by `tinybert-ref run --seeds`, `ablate --seeds` and `sweep`.

"A beats B by more than 2 sd" means mean(A) - mean(B) > 2 x the larger of their two sds (sample sds,
n - 1; a deterministic baseline such as TF-IDF has sd 0).
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
from collections.abc import Sequence
from pathlib import Path

from .config import RunConfig
from .io import write_json_atomic
from .report import markdown_table

__all__ = ["run_seeds", "summarize_seeds", "beats", "seeds_table"]

log = logging.getLogger(__name__)


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def beats(a_mean: float, a_sd: float, b_mean: float, b_sd: float) -> bool:
    """Whether A beats B by more than 2 sd: mean(A) - mean(B) > 2 x max(sd(A), sd(B))."""
    return a_mean - b_mean > 2 * max(a_sd, b_sd)


def _seed_row(seed: int, metrics: dict) -> dict:
    return {"seed": seed, "test_metric": metrics["student"]["test_metric"],
            "dev_metric": metrics["student"]["dev_metric"], "test_retention": metrics["retention"],
            "dev_retention": metrics["dev_retention"], "minutes": metrics.get("stage_minutes"),
            "peak_rss_gib": metrics.get("peak_rss_gib"),
            "steps": {name: stage.get("steps") for name, stage in metrics["stages"].items()}}


def summarize_seeds(per_seed: list[dict], last_metrics: dict) -> dict:
    """Mean and sd over seeds of the student's test/dev metric and retention, beside the one teacher."""
    summary = {"seeds": [row["seed"] for row in per_seed], "per_seed": per_seed,
               "teacher_test_metric": last_metrics["teacher"]["test_metric"],
               "teacher_dev_metric": last_metrics["teacher"]["dev_metric"],
               "tfidf_test_metric": last_metrics["baselines"]["tfidf"]["metric"],
               "student_params": last_metrics["student"]["params"], "teacher_params": last_metrics["teacher"]["params"]}
    for name, key in (("test_metric", "test_metric"), ("dev_metric", "dev_metric"),
                      ("test_retention", "test_retention"), ("dev_retention", "dev_retention")):
        summary[f"{name}_mean"], summary[f"{name}_sd"] = _mean_sd(row[key] for row in per_seed)
    summary["beats_tfidf_by_2sd"] = beats(summary["test_metric_mean"], summary["test_metric_sd"],
                                          summary["tfidf_test_metric"], 0.0)
    return summary


def run_seeds(config: RunConfig, seeds: Sequence[int], out: str | Path, store: str | Path | None = None,
              force: bool = False) -> dict:
    """Run `config` once per seed into OUT/seed-<S>/ (one shared stage store, default OUT/stages);
    writes OUT/seeds.json and OUT/seeds.md and returns the summary."""
    from .pipeline import run
    from .runtime import is_main_process

    out = Path(out)
    store = Path(store) if store else out / "stages"
    per_seed, metrics = [], None
    for seed in seeds:
        log.info("seed %d of %s", seed, list(seeds))
        metrics = run(dataclasses.replace(config, seed=seed), out / f"seed-{seed}", store=store, force=force)
        per_seed.append(_seed_row(seed, metrics))
    summary = {"config": config.to_dict(), **summarize_seeds(per_seed, metrics)}
    if is_main_process():
        write_json_atomic(out / "seeds.json", summary)
        (out / "seeds.md").write_text(seeds_table(summary) + "\n")
    return summary


def seeds_table(summary: dict) -> str:
    """Per seed and mean +- sd: the student's test and dev metric and retention."""
    rows = [{"seed": row["seed"], "test": f"{row['test_metric']:.4f}", "dev": f"{row['dev_metric']:.4f}",
             "retention": f"{row['test_retention']:.1%}", "dev retention": f"{row['dev_retention']:.1%}",
             "minutes": f"{row['minutes']:.1f}", "peak GiB": f"{row['peak_rss_gib']:.1f}"} for row in summary["per_seed"]]
    rows.append({"seed": "mean +- sd",
                 "test": f"{summary['test_metric_mean']:.4f} +- {summary['test_metric_sd']:.4f}",
                 "dev": f"{summary['dev_metric_mean']:.4f} +- {summary['dev_metric_sd']:.4f}",
                 "retention": f"{summary['test_retention_mean']:.1%} +- {summary['test_retention_sd']:.1%}",
                 "dev retention": f"{summary['dev_retention_mean']:.1%} +- {summary['dev_retention_sd']:.1%}"})
    head = (f"Teacher test {summary['teacher_test_metric']:.4f} (dev {summary['teacher_dev_metric']:.4f}); "
            f"TF-IDF + logistic regression test {summary['tfidf_test_metric']:.4f}; the student beats it by more "
            f"than 2 sd: {'yes' if summary['beats_tfidf_by_2sd'] else 'no'}.\n\n")
    return head + markdown_table(rows, ["seed", "test", "dev", "retention", "dev retention", "minutes", "peak GiB"])
