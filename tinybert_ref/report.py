"""metrics.json, report.md and the console results table of a run (DESIGN.md section 4, "Runs").

The pipeline (summary.py) writes RUN_DIR/metrics.json with this schema (every key but "teacher" and
"student" optional, and optional keys inside those too):

    {"profile": str, "config": {...}, "task": {"name", "metric", "labels", "text_columns", "sizes"},
     "teacher": {"test_metric", "dev_metric", "params", "latency_ms", "per_class"},
     "student": {same}, "retention": float, "dev_retention": float,
     "latency_setting": {"batch", "seq_len", "threads", "attention"},
     "stage_minutes": float, "peak_rss_gib": float,
     "baselines": {"tfidf": {"metric", "model", "features", "description", ...}},
     "stages": {name: {"wall_s": float, ...}}, "figures": [paths relative to RUN_DIR]}

`render_report` turns it into RUN_DIR/report.md; notebook 09 reads the same file. Both are written
atomically (`tinybert_ref.io`, whose writers are re-exported here), so an interrupted run never leaves
half a file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from .io import json_default, read_json, write_json_atomic, write_text_atomic

__all__ = [
    "write_json_atomic",
    "write_text_atomic",
    "read_json",
    "write_metrics",
    "markdown_table",
    "render_report",
    "write_report",
    "results_table",
]

log = logging.getLogger(__name__)
FIGURE_SUFFIXES = (".png", ".gif", ".svg")


def write_metrics(run_dir, metrics: Mapping) -> Path:
    """RUN_DIR/metrics.json (schema in this module's docstring), written atomically."""
    return write_json_atomic(Path(run_dir) / "metrics.json", metrics)


def _cell(value, floatfmt: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence, columns: Sequence[str], floatfmt: str = ".4f",
                   headers: Mapping[str, str] | None = None, right: Sequence[bool] | None = None) -> str:
    """A GitHub markdown table of `rows` over `columns`; missing or None cells show "—".

    rows: dicts (cells by column name) or sequences (cells in column order). Floats use `floatfmt`.
    headers: display names for columns. right: which columns are right-aligned (default: the numeric
    ones). The report, the CLI's ablation and seed tables and the benchmarks' README tables use it.
    """
    headers = headers or {}
    cells = [[row.get(c) for c in columns] if isinstance(row, Mapping) else list(row) for row in rows]
    if right is None:
        right = [_numeric([row[i] for row in cells]) for i in range(len(columns))]
    lines = ["| " + " | ".join(headers.get(c, c) for c in columns) + " |",
             "| " + " | ".join("---:" if r else "---" for r in right) + " |"]
    lines += ["| " + " | ".join(_cell(value, floatfmt) for value in row) + " |" for row in cells]
    return "\n".join(lines)


def _numeric(values) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)


def _params(value) -> str | None:
    return None if value is None else f"{value / 1e6:.1f}M"


def _percent(value) -> str | None:
    return None if value is None else f"{100 * value:.1f}%"


def _latency(value) -> str | None:
    return None if value is None else f"{value:.1f}"


def _ratio(a, b):
    return a / b if a is not None and b else None


def _model_rows(metrics: Mapping) -> list[dict]:
    """Teacher, student and baselines as rows: model, params, test, dev, latency, retention."""
    teacher_test = metrics.get("teacher", {}).get("test_metric")
    rows = []
    for name in ("teacher", "student"):
        part = metrics.get(name)
        if part is None:
            continue
        retention = metrics.get("retention") if name == "student" else None
        dev_retention = metrics.get("dev_retention") if name == "student" else None
        rows.append({"model": name, "params": _params(part.get("params")), "test": part.get("test_metric"),
                     "dev": part.get("dev_metric"), "latency ms": _latency(part.get("latency_ms")),
                     "retention": _percent(retention), "dev retention": _percent(dev_retention)})
    for name, baseline in (metrics.get("baselines") or {}).items():
        rows.append({"model": baseline.get("model", name), "params": None, "test": baseline.get("metric"),
                     "dev": baseline.get("dev_metric"), "latency ms": None,
                     "retention": _percent(_ratio(baseline.get("metric"), teacher_test)), "dev retention": None})
    return rows


RESULT_COLUMNS = ["model", "params", "test", "dev", "latency ms", "retention", "dev retention"]


def results_table(metrics: Mapping) -> str:
    """The compact plain-text table `tinybert-ref run` prints: one row per model and baseline."""
    metric = metrics.get("task", {}).get("metric", "metric")
    headers = {"test": f"test {metric}", "dev": f"dev {metric}"}
    table = [[headers.get(c, c) for c in RESULT_COLUMNS]]
    for row in _model_rows(metrics):
        table.append([_cell(row.get(c), ".4f").replace("—", "-") for c in RESULT_COLUMNS])
    widths = [max(len(r[i]) for r in table) for i in range(len(RESULT_COLUMNS))]
    lines = []
    for cells in table:
        padded = [cells[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _header(metrics: Mapping) -> list[str]:
    config, task = metrics.get("config") or {}, metrics.get("task") or {}
    facts = [f"profile `{metrics['profile']}`" if "profile" in metrics else None,
             f"task `{task['name']}`" if "name" in task else None,
             f"metric {task['metric']}" if "metric" in task else None,
             f"teacher `{config['teacher']}`" if "teacher" in config else None,
             f"student `{config['student']}`" if "student" in config else None,
             f"mapping {config['mapping']}" if "mapping" in config else None,
             f"seed {config['seed']}" if "seed" in config else None]
    lines = ["# TinyBERT run report", "", ", ".join(f for f in facts if f) + "."]
    if config.get("profile_overrides"):
        lines += ["", "Profile overrides (`--override`): "
                  + ", ".join(f"{k}={v}" for k, v in config["profile_overrides"].items()) + "."]
    if task.get("sizes"):
        lines += ["", "Examples per split: " + ", ".join(f"{k} {v}" for k, v in task["sizes"].items()) + "."]
    return lines


def _summary_sentence(metrics: Mapping) -> str | None:
    teacher, student = metrics.get("teacher") or {}, metrics.get("student") or {}
    metric = (metrics.get("task") or {}).get("metric", "metric")
    parts = []
    if metrics.get("retention") is not None:
        dev = metrics.get("dev_retention")
        parts.append(f"keeps {_percent(metrics['retention'])} of the teacher's test {metric}"
                     + (f" ({_percent(dev)} on dev)" if dev is not None else ""))
    size = _ratio(teacher.get("params"), student.get("params"))
    if size:
        parts.append(f"has {size:.1f}x fewer parameters")
    speed = _ratio(teacher.get("latency_ms"), student.get("latency_ms"))
    if speed:
        setting = metrics.get("latency_setting") or {}
        where = ", ".join(f"{k} {v}" for k, v in setting.items())
        parts.append(f"runs {speed:.1f}x faster" + (f" ({where})" if where else ""))
    return "The student " + ", ".join(parts) + "." if parts else None


def _per_class_section(metrics: Mapping) -> list[str]:
    reports = {name: (metrics.get(name) or {}).get("per_class") for name in ("teacher", "student")}
    reports = {name: report for name, report in reports.items() if report}
    if not reports:
        return []
    labels = [k for k in next(iter(reports.values())) if k not in ("accuracy", "macro avg", "weighted avg")]
    rows, columns = [], ["class"]
    for name in reports:
        columns += [f"{name} precision", f"{name} recall", f"{name} F1"]
    for label in [*labels, "macro avg"]:
        row = {"class": label}
        for name, report in reports.items():
            entry = report.get(label) or {}
            row.update({f"{name} precision": entry.get("precision"), f"{name} recall": entry.get("recall"),
                        f"{name} F1": entry.get("f1-score")})
            row["support"] = entry.get("support", row.get("support"))
        rows.append(row)
    return ["## Per class (test)", "", markdown_table(rows, [*columns, "support"], ".3f"), ""]


def _stages_section(metrics: Mapping) -> list[str]:
    stages = metrics.get("stages") or {}
    if not stages:
        return []
    rows = []
    for name, result in stages.items():
        result = result or {}
        other = {k: v for k, v in result.items() if k not in ("wall_s", "steps", "final_loss", "dev_metric")}
        rows.append({"stage": name, "wall s": result.get("wall_s"), "steps": result.get("steps"),
                     "final loss": result.get("final_loss"), "dev metric": result.get("dev_metric"),
                     "other": ", ".join(f"{k} {_short(v)}" for k, v in other.items()) or None})
    total = sum(r["wall s"] for r in rows if isinstance(r["wall s"], int | float))
    table = markdown_table(rows, ["stage", "wall s", "steps", "final loss", "dev metric", "other"], ".3g")
    return ["## Stages", "", table, "", f"Total wall time of the stages: {total:.0f} s.", ""]


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


def _baselines_section(metrics: Mapping) -> list[str]:
    baselines = metrics.get("baselines") or {}
    lines = []
    for name, baseline in baselines.items():
        described = baseline.get("description") or {
            "tfidf": "TF-IDF of word 1-2 grams + logistic regression (no neural network)"}.get(name, name)
        value = baseline.get("metric")
        figure = "n/a" if value is None else f"{value:.4f}"
        features = f", {baseline['features']} features" if "features" in baseline else ""
        lines.append(f"- {described}: test {figure}{features}.")
    return ["## Baselines", "", *lines, ""] if lines else []


def _figures_section(figures: Sequence[str]) -> list[str]:
    if not figures:
        return []
    lines = ["## Figures", ""]
    for figure in figures:
        lines += [f"![{Path(figure).stem.replace('_', ' ')}]({figure})", ""]
    return lines


def render_report(metrics: Mapping, figures: Sequence[str] | None = None) -> str:
    """RUN_DIR/report.md as a string: results, per-class scores, stages, baselines, figures, config.

    metrics: the metrics.json dict (schema in the module docstring); optional keys may be missing.
    figures: paths relative to RUN_DIR to link (default: metrics["figures"]). Read in notebook 09.
    """
    metric = (metrics.get("task") or {}).get("metric", "metric")
    lines = _header(metrics) + ["", "## Results", ""]
    rows = _model_rows(metrics)
    headers = {"test": f"test {metric}", "dev": f"dev {metric}"}
    lines += [markdown_table(rows, RESULT_COLUMNS, ".4f", headers) if rows else "No models were evaluated.", ""]
    sentence = _summary_sentence(metrics)
    if sentence:
        lines += [sentence, ""]
    lines += _per_class_section(metrics) + _stages_section(metrics) + _baselines_section(metrics)
    lines += _figures_section((metrics.get("figures") or []) if figures is None else figures)
    if metrics.get("config"):
        config = json.dumps(metrics["config"], indent=2, default=json_default)
        lines += ["<details><summary>Run configuration</summary>", "", "```json", config, "```", "",
                  "</details>", ""]
    return "\n".join(lines)


def _present_figures(run_dir: Path, listed: Sequence[str]) -> list[str]:
    """The listed figures that exist in the run folder, then any other figure files in RUN_DIR/figures."""
    present = [f for f in listed if (run_dir / f).is_file()]
    missing = [f for f in listed if f not in present]
    if missing:
        log.warning("figures listed in metrics but missing from %s: %s", run_dir, ", ".join(missing))
    figure_dir = run_dir / "figures"
    extra = sorted(p.relative_to(run_dir).as_posix() for p in figure_dir.glob("*")
                   if p.suffix in FIGURE_SUFFIXES) if figure_dir.is_dir() else []
    return present + [f for f in extra if f not in present]


def write_report(run_dir, metrics: Mapping) -> Path:
    """RUN_DIR/report.md, linking the figures present in the run folder. Written atomically."""
    run_dir = Path(run_dir)
    figures = _present_figures(run_dir, metrics.get("figures") or [])
    path = write_text_atomic(run_dir / "report.md", render_report(metrics, figures))
    log.info("wrote %s", path)
    return path
