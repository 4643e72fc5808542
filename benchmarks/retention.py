"""Retention over training seeds: the `seeds.json` of `tinybert-ref run --seeds` runs, collected.

    python -m benchmarks.retention --run tinybert4=runs/laptop --run small=runs/laptop-small \
        --command "tinybert-ref run --seeds 42,43,44 --out runs/laptop; ..."

writes `benchmarks/results/retention_seeds.json` = {"command": ..., "tinybert4": P, "small": P}, where P
is the run folder's seeds.json (seeds, per_seed rows with test/dev metric, retention, minutes and peak
memory, means and sample sds, the one teacher's metrics, TF-IDF's test metric). Nothing is measured
here: the figures are the pipeline's. The README's results block is generated from this file
(`python -m benchmarks.readme`). Each preset keeps the command that made it (P["command"]); the file's
"command" joins them, so a preset measured again takes its old command with it. `--keep` adds to the
committed file instead of replacing it: its entries that no `--run` names stay (run folders do not
outlive a machine, so a preset measured in a later round joins the ones measured before).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import RESULTS_DIR

__all__ = ["collect"]

_KEEP = ("seeds", "per_seed", "teacher_test_metric", "teacher_dev_metric", "test_metric_mean", "test_metric_sd",
         "dev_metric_mean", "dev_metric_sd", "test_retention_mean", "test_retention_sd", "dev_retention_mean",
         "dev_retention_sd", "tfidf_test_metric", "beats_tfidf_by_2sd", "student_params", "teacher_params", "config")


def collect(runs: dict[str, Path], command: str, out: Path = RESULTS_DIR / "retention_seeds.json",
            keep: bool = False, labels: dict[str, str] | None = None) -> dict:
    """{preset: run folder with seeds.json} -> the committed file; returns what it wrote. Each preset
    records `command`; the file's "command" joins its presets' commands with "; ". keep: start from the
    file at `out` (its other presets stay). labels: {preset: what the row is}, for a comparison run."""
    result = {}
    if keep:
        if not out.is_file():
            raise SystemExit(f"--keep: {out} does not exist yet; run without --keep to write it")
        result = json.loads(out.read_text())
    for name, folder in runs.items():
        summary = json.loads((Path(folder) / "seeds.json").read_text())
        result[name] = {key: summary[key] for key in _KEEP if key in summary} | {"command": command}
        if name in (labels or {}):
            result[name]["label"] = labels[name]
    commands = [p["command"] for name, p in result.items() if name != "command"]
    result["command"] = "; ".join(dict.fromkeys(commands))  # one command may have made several presets
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=FOLDER",
                        help="a preset's run folder (tinybert4, small), or a comparison NAME=FOLDER:LABEL")
    parser.add_argument("--command", required=True, help="the commands that made the run folders")
    parser.add_argument("--keep", action="store_true", help="add to the committed file: keep its other presets")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "retention_seeds.json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    runs = dict(item.split("=", 1) for item in args.run)
    labels = {name: folder.split(":", 1)[1] for name, folder in runs.items() if ":" in folder}
    collect({name: Path(folder.split(":", 1)[0]) for name, folder in runs.items()}, args.command,
            out=args.out, keep=args.keep, labels=labels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
