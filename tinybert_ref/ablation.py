"""The paper's ablations (Tables 2-4 and the layer-mapping study) on one task, as one table.

Every variant is a full pipeline run in OUT/<variant>/, and all of them share one stage store
(OUT/stages), so the teacher, masked LM, augmented set and general student are made once and each
variant costs only the stages that differ (DESIGN.md section 4).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from .config import ABLATIONS, RunConfig, variant
from .io import write_json_atomic
from .report import markdown_table

__all__ = ["ABLATION_SETS", "ablate", "ablation_rows", "seeded_rows", "versus_full"]

log = logging.getLogger(__name__)

ABLATION_SETS = {
    "all": tuple(ABLATIONS),
    "stages": ("full", "no_gd", "no_da", "no_td"),  # Table 3: which stage matters
    "losses": ("full", "no_embedding_loss", "no_attention_loss", "no_hidden_loss", "prediction_only_kd"),
    "mapping": ("full", "mapping_top", "mapping_bottom"),
    "baselines": ("full", "prediction_only_kd", "finetune_only"),
}


def ablation_rows(results: dict[str, dict]) -> list[dict]:
    """One row per variant: test and dev metric, retention, and the gap to the full recipe."""
    full = results.get("full", {}).get("student", {}).get("test_metric")
    rows = []
    for name, metrics in results.items():
        test = metrics["student"]["test_metric"]
        rows.append({"variant": name, "test": test, "dev": metrics["student"]["dev_metric"],
                     "retention": metrics["retention"], "vs_full": None if full is None else test - full})
    return rows


def seeded_rows(summaries: dict[str, dict]) -> list[dict]:
    """One row per variant from its `seeds.run_seeds` summary: mean and sd over seeds, each seed's test
    and dev metric, the step budget of every stage (equal for a stage the variant shares with the full
    recipe), and how it compares with the full recipe ("A beats B" = by more than 2 sd, `seeds.beats`)."""
    full = summaries.get("full")
    rows = []
    for name, summary in summaries.items():
        row = {"variant": name, "seeds": summary["seeds"], "test_mean": summary["test_metric_mean"],
               "test_sd": summary["test_metric_sd"], "dev_mean": summary["dev_metric_mean"],
               "dev_sd": summary["dev_metric_sd"], "retention_mean": summary["test_retention_mean"],
               "retention_sd": summary["test_retention_sd"], "steps": summary["per_seed"][0]["steps"],
               "per_seed": [{"seed": r["seed"], "test": r["test_metric"], "dev": r["dev_metric"]}
                            for r in summary["per_seed"]]}
        if full is not None and name != "full":
            row.update(versus_full((full["test_metric_mean"], full["test_metric_sd"]),
                                   (summary["test_metric_mean"], summary["test_metric_sd"])))
        rows.append(row)
    return rows


def versus_full(full: tuple[float, float], variant: tuple[float, float]) -> dict:
    """`vs_full` (variant mean - full mean) and the verdict of the 2-sd rule (`seeds.beats`) for two
    (mean, sd) pairs of the test metric."""
    from .seeds import beats

    return {"vs_full": variant[0] - full[0],
            "verdict": "full wins" if beats(*full, *variant) else "variant wins" if beats(*variant, *full) else "tie"}


def ablate(config: RunConfig, out: str | Path, names: tuple[str, ...] | str = "all", force: bool = False,
           store: str | Path | None = None, seeds: tuple[int, ...] | None = None) -> dict:
    """Run the named variants of `config` (a set name from ABLATION_SETS or a tuple of ABLATIONS keys)
    over `seeds` (default: the config's seed), each variant in OUT/<variant>/seed-<S>/.

    Variants share one stage store (`store`, default OUT/stages), so a stage they have in common (the
    teacher, the masked LM, general distillation, augmentation) is made once, and every task stage gets
    the full recipe's step budget. Writes OUT/ablation.json and OUT/ablation.md; returns {variant:
    seeds summary}.
    """
    from .runtime import is_main_process
    from .seeds import run_seeds

    out = Path(out)
    if isinstance(names, str):
        if names not in ABLATION_SETS:
            raise ValueError(f"unknown ablation set {names!r}; valid: {', '.join(ABLATION_SETS)}")
        names = ABLATION_SETS[names]
    seeds = tuple(seeds or (config.seed,))
    variants = {name: variant(config, name) for name in names}  # an unknown name fails before any run
    summaries = {}
    for name, changed in variants.items():
        log.info("ablation variant %s", name)
        summaries[name] = run_seeds(changed, seeds, out / name, store=Path(store) if store else out / "stages",
                                    force=force)
    rows = seeded_rows(summaries)
    if not is_main_process():  # several processes: the main one writes the table
        return summaries
    write_json_atomic(out / "ablation.json", {"config": dataclasses.asdict(config), "seeds": list(seeds), "rows": rows})
    header = (f"Ablations on task `{config.task}`, teacher `{config.teacher}`, student `{config.student}`, "
              f"profile `{config.profile}`, seeds {', '.join(map(str, seeds))}. Student test metric, mean and sd "
              "over seeds; `verdict` compares with the full recipe (a win = by more than 2 sd).\n\n")
    (out / "ablation.md").write_text(header + markdown_table(
        rows, ["variant", "test_mean", "test_sd", "dev_mean", "retention_mean", "vs_full", "verdict"]) + "\n")
    return summaries
