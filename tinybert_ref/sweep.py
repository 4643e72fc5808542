"""Hyperparameters chosen on dev, as the paper chooses step 2's learning rate (Section 4.2).

`sweep(config, {"td2_lr": [3e-5, 1e-4, 3e-4], "td1_lr": [1e-4, 3e-4]}, out)` runs every combination
(through `--override`-style profile changes) over the given seeds, all in one stage store, so a change
of step 2's learning rate re-runs step 2 only. The choice reads the dev metric alone; the test metric is
written beside it for the record, never used to pick. Used by `tinybert-ref sweep`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path

from .config import RunConfig
from .io import write_json_atomic
from .profiles import parse_overrides
from .report import markdown_table

__all__ = ["parse_grid", "sweep"]

log = logging.getLogger(__name__)


def parse_grid(items) -> dict[str, list]:
    """["td2_lr=3e-5,1e-4", ...] -> {"td2_lr": [3e-5, 1e-4], ...}, each value typed and checked."""
    grid = {}
    for item in items:
        key, _, values = item.partition("=")
        grid[key.strip()] = [value for _, value in parse_overrides([f"{key}={v}" for v in values.split(",")])]
    if not grid:
        raise ValueError("give at least one --grid key=v1,v2, e.g. --grid td2_lr=3e-5,1e-4,3e-4")
    return grid


def sweep(config: RunConfig, grid: dict[str, list], out: str | Path, store: str | Path | None = None,
          seeds: tuple[int, ...] | None = None, force: bool = False) -> dict:
    """Every combination of `grid` over `seeds`; picks the best mean dev metric. Writes OUT/sweep.json
    and OUT/sweep.md; returns the sweep record."""
    from .runtime import is_main_process
    from .seeds import run_seeds

    out = Path(out)
    store = Path(store) if store else out / "stages"
    seeds = tuple(seeds or (config.seed,))
    rows = []
    for values in itertools.product(*grid.values()):
        changes = dict(zip(grid, values, strict=True))
        name = ",".join(f"{k}={v}" for k, v in changes.items())
        log.info("sweep: %s", name)
        overrides = tuple({**dict(config.profile_overrides), **changes}.items())
        summary = run_seeds(dataclasses.replace(config, profile_overrides=overrides), seeds, out / name,
                            store=store, force=force)
        rows.append({"setting": name, **changes, "dev_mean": summary["dev_metric_mean"],
                     "dev_sd": summary["dev_metric_sd"], "test_mean": summary["test_metric_mean"],
                     "test_sd": summary["test_metric_sd"]})
    best = max(rows, key=lambda row: row["dev_mean"])
    record = {"config": config.to_dict(), "grid": grid, "seeds": list(seeds), "rows": rows,
              "best_on_dev": best["setting"]}
    if is_main_process():
        write_json_atomic(out / "sweep.json", record)
        (out / "sweep.md").write_text(
            f"Sweep on `{config.task}`, profile `{config.profile}`, seeds {', '.join(map(str, seeds))}; chosen on "
            f"dev only: **{best['setting']}**.\n\n"
            + markdown_table(rows, ["setting", "dev_mean", "dev_sd", "test_mean", "test_sd"]) + "\n")
    return record
