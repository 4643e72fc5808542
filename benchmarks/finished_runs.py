"""What the benchmarks that read finished runs share (`attention_transfer`, `general_distillation`): their command
line (run folders, `--store`, `--out`), the check that every folder holds a finished run, the command string
recorded in the JSON, and the ablation a run belongs to."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from . import RESULTS_DIR

__all__ = ["command_line", "parse_runs", "runs_parser", "variant_of"]


def runs_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The parser of `python -m benchmarks.<module> RUN ... [--store S] [--out F]` (default out:
    `benchmarks/results/<module>.json`); a benchmark adds its own options to it."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{module}", description=doc.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run folders (each with a metrics.json)")
    parser.add_argument("--store", type=Path, default=None, help="the stage store (default: the one each run records)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / f"{module}.json")
    return parser


def parse_runs(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse `argv`; a run folder without a metrics.json exits with one line naming it."""
    args = parser.parse_args(argv)
    missing = [str(run) for run in args.runs if not (run / "metrics.json").is_file()]
    if missing:
        parser.error(f"no metrics.json in {', '.join(missing)}: pass finished run folders (tinybert-ref run or ablate)")
    return args


def command_line(parser: argparse.ArgumentParser, argv=None) -> str:
    """The command as typed (recorded in the JSON, so anyone can rerun it)."""
    return " ".join([parser.prog, *(shlex.quote(str(a)) for a in (sys.argv[1:] if argv is None else argv))])


def variant_of(config: dict, run_dir: Path) -> str:
    """The ablation (`config.ABLATIONS`, "full" included) whose switches the run's config holds, else the
    run folder's name; with the profile's overrides after it (`--override`), e.g. "full, gd_steps=600"."""
    from tinybert_ref.config import ABLATIONS, RunConfig

    defaults = RunConfig().to_dict()
    switches = sorted({key for changes in ABLATIONS.values() for key in changes})
    name = next((name for name, changes in ABLATIONS.items()
                 if all(config.get(key) == changes.get(key, defaults[key]) for key in switches)), run_dir.name)
    return ", ".join([name, *(f"{key}={value}" for key, value in (config.get("profile_overrides") or {}).items())])
