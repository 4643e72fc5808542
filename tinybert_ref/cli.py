"""`tinybert-ref`: the command line of the reference implementation.

    tinybert-ref run     the whole two-stage distillation, prints the results table
    tinybert-ref ablate  the paper's ablations as one table
    tinybert-ref sweep   learning rates (or any profile field) chosen on dev
    tinybert-ref export  the run's student (and teacher) as ONNX, fp32 and int8
    tinybert-ref info    profiles, student presets and the offline assets found

Several processes or GPUs: `torchrun` or `accelerate launch -m tinybert_ref.cli run ...` (see
`tinybert-ref run --help` and README, "Scaling up").
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from .config import ABLATIONS, RunConfig
from .export import add_export_parser, run_export

__all__ = ["main", "build_parser"]

LAUNCH_HELP = """launching (the same command and code path from one CPU process to many GPUs):
  one process (CPU or one GPU):
    tinybert-ref run --profile paper --precision bf16
  several GPUs on one machine (8 here):
    accelerate launch --multi_gpu --num_processes 8 -m tinybert_ref.cli run --profile paper --precision bf16
    torchrun --standalone --nproc_per_node 8 -m tinybert_ref.cli run --profile paper --precision bf16
  several CPU processes (gloo backend; `accelerate launch --cpu` runs one process unless MPI is set up):
    torchrun --standalone --nproc_per_node 2 -m tinybert_ref.cli run --profile ci
  several machines: run `accelerate config` on each (or pass --num_machines 2 --machine_rank R
    --main_process_ip HOST --main_process_port 29500) and launch the same command on every machine;
    the run folder (--out/--store) must be on a file system that every machine sees.
  --batch-size is the global batch: each of P processes takes batch/P examples of every step, so a run
  on P processes trains on the same batches as one process. Data, dev/test sets and general-distillation
  corpus are sharded per process; checkpoints and reports are written by the main process only; an
  interrupted run resumes from its last checkpoint when the same command is launched again."""


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per RunConfig field, from its metadata (help, choices); a recipe switch becomes
    --no-<switch>. Defaults stay None here, so an option not given keeps RunConfig's default."""
    switches = parser.add_argument_group("ablation flags (paper Tables 2-4)")
    for spec in dataclasses.fields(RunConfig):
        if "help" not in spec.metadata:
            continue
        settings = dict(spec.metadata)
        if spec.type == "bool":
            switches.add_argument(f"--no-{spec.name.replace('_', '-')}", dest=spec.name, action="store_false",
                                  default=None, help=f"switch off {settings['help']}")
            continue
        if spec.default is not None and spec.name != "profile":
            settings["help"] += f" (default: {spec.default})"
        parser.add_argument(f"--{spec.name.replace('_', '-')}", dest=spec.name, type=int if spec.type == "int" else str,
                            default=None, **settings)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_config_options(parser)
    parser.add_argument("--seeds", default=None, metavar="S1,S2,...",
                        help="run once per training seed (e.g. 42,43,44) into OUT/seed-S/ with one shared stage "
                        "store; the teacher and the masked LM are made once (seed 42); writes OUT/seeds.json "
                        "with mean and sd")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="change one profile field, e.g. --override td2_lr=3e-5 (repeatable; see "
                        "`tinybert-ref info` for the fields); recorded in config.json and report.md")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                        help="global training batch (default: the profile's), split evenly over the processes")
    parser.add_argument("--out", default=None, help="run folder (default: runs/<profile>)")
    parser.add_argument("--store", default=None, help="stage store to reuse finished stages from, e.g. runs/laptop/stages "
                        "(default: OUT/stages); stages are keyed by a hash of their settings, so sharing is safe")
    parser.add_argument("--force", action="store_true", help="re-run a run folder made with another configuration")


def build_parser() -> argparse.ArgumentParser:
    from .ablation import ABLATION_SETS

    parser = argparse.ArgumentParser(prog="tinybert-ref", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="distil a TinyBERT student end to end", epilog=LAUNCH_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_options(run_p)
    ablate_p = sub.add_parser("ablate", help="run a named set of ablations and write one table")
    _add_run_options(ablate_p)
    ablate_p.add_argument("--set", default="all", help=f"{' | '.join(ABLATION_SETS)}, or variants separated by "
                          f"commas from: {', '.join(ABLATIONS)}")
    sweep_p = sub.add_parser("sweep", help="try profile values (e.g. learning rates) and pick on dev")
    _add_run_options(sweep_p)
    sweep_p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                         help="values to try for one profile field (repeatable), e.g. --grid td2_lr=3e-5,1e-4,3e-4")
    sub.add_parser("info", help="profiles, presets and offline assets")
    add_export_parser(sub)
    return parser


def _config(args) -> RunConfig:
    from .profiles import get_profile, parse_overrides

    fields = {f.name for f in dataclasses.fields(RunConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    values["profile"] = get_profile(args.profile).name
    overrides = list(args.override)
    if args.batch_size is not None:
        overrides.append(f"batch_size={args.batch_size}")
    values["profile_overrides"] = parse_overrides(overrides)
    return RunConfig(**values)


def _seeds(args) -> tuple[int, ...] | None:
    if not args.seeds:
        return None
    try:
        return tuple(int(seed) for seed in args.seeds.split(","))
    except ValueError:
        raise ValueError(f"--seeds {args.seeds!r}: give integers separated by commas, e.g. 42,43,44") from None


def _info() -> None:
    from . import assets
    from .profiles import PROFILES, STUDENT_PRESETS

    print("profiles:", ", ".join(PROFILES))
    laptop = dataclasses.asdict(PROFILES["laptop"])
    print("profile fields (--override KEY=VALUE; laptop values):",
          ", ".join(f"{k}={v}" for k, v in laptop.items() if k != "name"))
    print("student presets:", ", ".join(f"{k} {v}" for k, v in STUDENT_PRESETS.items()))
    print("teacher (offline):", assets.minilm_path())
    print("BBC corpus:", assets.bbc_root())
    print("GloVe 6B 50-d:", assets.glove_files()[0])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .runtime import configure_logging, is_main_process

    main_process = is_main_process()  # with torchrun / accelerate launch, one of several processes
    configure_logging(logging.INFO if main_process else logging.WARNING, quiet_libraries=True)
    if args.command == "info":
        _info()
        return 0
    if args.command == "export":
        return run_export(args)
    out = args.out or f"runs/{args.profile or os.environ.get('TINYBERT_PROFILE') or 'laptop'}" + (
        "" if args.command == "run" else f"-{args.command}")
    try:
        config, seeds = _config(args), _seeds(args)
        if args.command == "run" and seeds:
            from .seeds import run_seeds

            run_seeds(config, seeds, out, store=args.store, force=args.force)
            if main_process:
                print((Path(out) / "seeds.md").read_text())
        elif args.command == "run":
            from .pipeline import run
            from .report import results_table

            metrics = run(config, out, store=args.store, force=args.force)
            if main_process:
                print(results_table(metrics))
                print(f"\nrun folder: {out} (metrics.json, report.md, figures/, student/)")
        elif args.command == "sweep":
            from .sweep import parse_grid, sweep

            sweep(config, parse_grid(args.grid), out, store=args.store, seeds=seeds, force=args.force)
            if main_process:
                print((Path(out) / "sweep.md").read_text())
        else:
            from .ablation import ABLATION_SETS, ablate

            names = args.set if args.set in ABLATION_SETS else tuple(args.set.split(","))
            ablate(config, out, names, force=args.force, store=args.store, seeds=seeds)
            if main_process:
                print((Path(out) / "ablation.md").read_text())
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        # Bad input gets one clear line, not a traceback (set TINYBERT_DEBUG=1 for the traceback).
        if os.environ.get("TINYBERT_DEBUG"):
            raise
        print(f"tinybert-ref: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
