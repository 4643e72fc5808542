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
from .report import markdown_table, write_json_atomic

__all__ = ["ABLATION_SETS", "ablate", "ablation_rows"]

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


def ablate(config: RunConfig, out: str | Path, names: tuple[str, ...] | str = "all", force: bool = False,
           store: str | Path | None = None) -> dict:
    """Run the named variants of `config` (a set name from ABLATION_SETS or a tuple of ABLATIONS keys).

    Variants share one stage store (`store`, default OUT/stages), so a stage they have in common (the
    teacher, the masked LM, general distillation, augmentation) is made once. Writes OUT/ablation.json
    and OUT/ablation.md; returns {variant: metrics}.
    """
    from .pipeline import run

    out = Path(out)
    if isinstance(names, str):
        if names not in ABLATION_SETS:
            raise ValueError(f"unknown ablation set {names!r}; valid: {', '.join(ABLATION_SETS)}")
        names = ABLATION_SETS[names]
    results = {}
    for name in names:
        log.info("ablation variant %s", name)
        results[name] = run(variant(config, name), out / name, store=Path(store) if store else out / "stages",
                            force=force)
    rows = ablation_rows(results)
    from .runtime import is_main_process

    if not is_main_process():  # several processes: the main one writes the table
        return results
    write_json_atomic(out / "ablation.json", {"config": dataclasses.asdict(config), "rows": rows})
    header = (f"Ablations on task `{config.task}`, teacher `{config.teacher}`, student `{config.student}`, "
              f"profile `{config.profile}`, seed {config.seed}. Test metric of the student; "
              "`vs_full` = variant minus full recipe.\n\n")
    (out / "ablation.md").write_text(header + markdown_table(rows, ["variant", "test", "dev", "retention", "vs_full"]) + "\n")
    return results
