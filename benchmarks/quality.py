"""Quality: the laptop run's scores and the ablation table, collected from the files the pipeline writes.

Nothing is measured here and nothing is invented: the teacher's and the student's test and dev
metric, retention (student / teacher), parameters, latency and the TF-IDF baseline come from a
finished `tinybert-ref run` (RUN_DIR/metrics.json, schema in `tinybert_ref/report.py`); the
ablation rows from `tinybert-ref ablate` (OUT/ablation.json). A file that is absent is listed under
"missing" with the command that makes it.

Compared to: the paper's TinyBERT4 retaining more than 96.8% of BERT-base's GLUE score, the issue's
97% floor, and DESIGN.md section 8's aim of >= 99% (mean over 3 seeds) on the embedded default.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import RESULTS_DIR, ROOT, write_result
from .machine import describe

__all__ = ["METRICS_PATHS", "ABLATION_PATHS", "TARGETS", "run", "summarise_metrics"]

METRICS_PATHS = (ROOT / "runs" / "laptop" / "seed-42" / "metrics.json", ROOT / "runs" / "laptop" / "metrics.json",
                 RESULTS_DIR / "laptop_metrics.json")
ABLATION_PATHS = (RESULTS_DIR / "ablation.json",)
TARGETS = {"paper_glue_retention": 0.968, "issue_floor_retention": 0.97, "design_aim_retention": 0.99,
           "small_aim_retention": 0.95}  # issue_floor: the TinyBERT4 shape; small_aim: the small CPU preset
_MODEL_KEYS = ("test_metric", "dev_metric", "params", "latency_ms")


def _first_existing(paths) -> Path | None:
    return next((Path(p) for p in paths if Path(p).is_file()), None)


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def summarise_metrics(metrics: dict) -> dict:
    """The figures of a run's metrics.json that the results table shows (absent keys stay None)."""
    stages = metrics.get("stages") or {}
    return {
        "profile": metrics.get("profile"),
        "task": (metrics.get("task") or {}).get("name"),
        "metric": (metrics.get("task") or {}).get("metric"),
        "teacher": {key: (metrics.get("teacher") or {}).get(key) for key in _MODEL_KEYS},
        "student": {key: (metrics.get("student") or {}).get(key) for key in _MODEL_KEYS},
        "retention": metrics.get("retention"),
        "dev_retention": metrics.get("dev_retention"),
        "tfidf": ((metrics.get("baselines") or {}).get("tfidf") or {}).get("metric"),
        "latency_setting": metrics.get("latency_setting"),
        "stages_wall_s": {name: stage.get("wall_s") for name, stage in stages.items() if isinstance(stage, dict)},
    }


def run(out_dir: str | Path = RESULTS_DIR, tiny: bool = False, metrics_paths=METRICS_PATHS,
        ablation_paths=ABLATION_PATHS) -> dict:
    """Collect what exists; write out_dir/quality.json and return it. `tiny` changes nothing here."""
    from tinybert_ref.io import read_json

    start = time.perf_counter()
    metrics_file, ablation_file = _first_existing(metrics_paths), _first_existing(ablation_paths)
    missing = []
    if metrics_file is None:
        missing.append("laptop metrics: none of " + ", ".join(_shown(p) for p in metrics_paths)
                       + " exists; run `tinybert-ref run` (laptop profile, writes runs/laptop/; its measured time is in the README)")
    if ablation_file is None:
        missing.append("ablation table: none of " + ", ".join(_shown(p) for p in ablation_paths)
                       + " exists; run `tinybert-ref ablate --set stages --out runs/ablation` and copy its "
                       "ablation.json there")
    ablation = read_json(ablation_file) if ablation_file else None
    result = {
        "benchmark": "quality",
        "tiny": tiny,
        "sources": {"laptop_metrics": _shown(metrics_file) if metrics_file else None,
                    "ablation": _shown(ablation_file) if ablation_file else None},
        "laptop": summarise_metrics(read_json(metrics_file)) if metrics_file else None,
        "ablation": {"rows": ablation.get("rows", []), "config": ablation.get("config"),
                     "commands": ablation.get("commands", [])} if ablation else None,
        "missing": missing,
        "targets": TARGETS,
        "machine": describe(),
        "wall_s": time.perf_counter() - start,
    }
    write_result("quality", result, out_dir)
    return result
