"""`tinybert-ref`: the command line of the reference implementation.

    tinybert-ref run     the whole two-stage distillation, prints the results table
    tinybert-ref ablate  the paper's ablations as one table
    tinybert-ref info    profiles, student presets and the offline assets found

Several processes or GPUs: `accelerate launch -m tinybert_ref.cli run ...` (see README, "Scaling up").
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from .config import ABLATIONS, RunConfig

__all__ = ["main", "build_parser"]


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=["ci", "laptop", "paper"], default=None,
                        help="sizes and step counts (default: $TINYBERT_PROFILE or laptop)")
    parser.add_argument("--teacher", default="minilm", help="'minilm' (packaged, offline), a local BERT folder or a hub name")
    parser.add_argument("--task", default="bbc", help="'bbc', a GLUE name (sst2, mrpc, ...), a GLUE TSV folder or a CSV/TSV/JSONL file")
    parser.add_argument("--student", default="tinybert4", help="student preset: tinybert4, tinybert6 or small")
    parser.add_argument("--mapping", default="uniform", help="uniform | top | bottom | teacher layers, e.g. 2,4,5,6")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                        help="mixed precision (bf16 on CPU/GPU, fp16 GPU only); losses stay fp32")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mlm", default=None, help="a pretrained masked LM for augmentation (e.g. bert-base-uncased)")
    parser.add_argument("--glove", default=None, help="a GloVe text file (default: packaged GloVe 6B 50-d)")
    parser.add_argument("--corpus", default=None, help="text file(s) or folder for general distillation (default: BBC bodies)")
    parser.add_argument("--out", default=None, help="run folder (default: runs/<profile>)")
    parser.add_argument("--store", default=None, help="stage store to reuse finished stages from, e.g. runs/laptop/stages "
                        "(default: OUT/stages); stages are keyed by a hash of their settings, so sharing is safe")
    parser.add_argument("--force", action="store_true", help="re-run a run folder made with another configuration")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinybert-ref", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="distil a TinyBERT student end to end")
    _add_run_options(run_p)
    flags = run_p.add_argument_group("ablation flags (paper Tables 2-4)")
    for name in ("general_distillation", "augmentation", "task_distillation", "intermediate_distillation",
                 "embedding_loss", "attention_loss", "hidden_loss", "distillation"):
        flags.add_argument(f"--no-{name.replace('_', '-')}", dest=name, action="store_false",
                           help=f"switch off {name.replace('_', ' ')}")
    ablate_p = sub.add_parser("ablate", help="run a named set of ablations and write one table")
    _add_run_options(ablate_p)
    ablate_p.add_argument("--set", default="all", help="all | stages | losses | mapping | baselines, or variants "
                          f"separated by commas from: {', '.join(ABLATIONS)}")
    sub.add_parser("info", help="profiles, presets and offline assets")
    return parser


def _config(args) -> RunConfig:
    from .profiles import get_profile

    fields = {f.name for f in dataclasses.fields(RunConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    values["profile"] = get_profile(args.profile).name
    return RunConfig(**values)


def _info() -> None:
    from . import assets
    from .models import STUDENT_PRESETS
    from .profiles import PROFILES

    print("profiles:", ", ".join(PROFILES))
    print("student presets:", ", ".join(f"{k} {v}" for k, v in STUDENT_PRESETS.items()))
    print("teacher (offline):", assets.minilm_path())
    print("BBC corpus:", assets.bbc_root())
    print("GloVe 6B 50-d:", assets.glove_files()[0])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .runtime import configure_logging

    configure_logging(quiet_libraries=True)
    if args.command == "info":
        _info()
        return 0
    config = _config(args)
    out = args.out or f"runs/{config.profile}" + ("-ablate" if args.command == "ablate" else "")
    try:
        if args.command == "run":
            from .pipeline import run
            from .report import results_table

            metrics = run(config, out, store=args.store, force=args.force)
            print(results_table(metrics))
            print(f"\nrun folder: {out} (metrics.json, report.md, figures/, student/)")
        else:
            from .ablation import ablate

            names = args.set if args.set in ("all", "stages", "losses", "mapping", "baselines") else tuple(args.set.split(","))
            ablate(config, out, names, force=args.force, store=args.store)
            print((Path(out) / "ablation.md").read_text())
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        # Bad input gets one clear line, not a traceback (set TINYBERT_DEBUG=1 for the traceback).
        if os.environ.get("TINYBERT_DEBUG"):
            raise
        print(f"tinybert-ref: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
