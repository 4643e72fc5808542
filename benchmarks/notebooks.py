"""Notebook run times: each notebook executed top to bottom in a fresh kernel, per profile.

`python -m benchmarks.notebooks --profile ci [--profile laptop] [--only 05] [--save]` runs every
notebook under `notebooks/` with nbclient (the same kernel and environment as nbval), times it, and
merges the result into `benchmarks/results/notebooks.json` (one entry per profile, so a `ci` run and
a `laptop` run made at different times both stay). The README's timetable is generated from that file
(`python -m benchmarks.readme`).

`--save` is the project's execution script for the committed outputs (STYLE.md section 6): each
notebook that ran without error is written back with its outputs, execution counts 1..N and no
machine-specific metadata (`laptop` profile only, as the README's outputs rule says).

What a time means: wall seconds of the whole notebook, kernel start included, with the stages the
notebooks share (`tinybert_ref.notebook.stage_store`: `runs/<profile>/stages` after `tinybert-ref run`,
else `runs/stages`) as they were when it ran. Under `laptop`, a notebook that finds the
`tinybert-ref run` stages (notebooks/workshop/GUIDE.md, "skip-ahead path") loads them; without them
it trains and takes far longer. `stages_present` records which case was measured.
Not part of `python -m benchmarks`: a `laptop` pass takes tens of minutes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from . import RESULTS_DIR, ROOT, write_result
from .machine import describe, load_average

__all__ = ["NOTEBOOKS_DIR", "run", "time_notebook"]

NOTEBOOKS_DIR = ROOT / "notebooks"
log = logging.getLogger(__name__)


def _stages_present(profile: str) -> bool:
    """Whether the notebooks will find finished `tinybert-ref run` stages for `profile` (the store they use)."""
    from tinybert_ref.notebook import stage_store
    from tinybert_ref.profiles import get_profile

    return any(stage_store(get_profile(profile)).glob("*/DONE.json"))


def time_notebook(path: Path, profile: str, timeout: int = 3600, save: bool = False) -> dict:
    """Execute one notebook in a fresh kernel under `profile`; returns {wall_s, ok, error}.
    save: write the executed notebook back to `path` when every cell ran (outputs kept, metadata
    reduced to kernelspec and language_info, no widget state)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    # the kernel's inline backend, so saved outputs hold the figures as PNG (Agg would leave "<Figure>" text)
    env = {"TINYBERT_PROFILE": profile, "MPLBACKEND": "module://matplotlib_inline.backend_inline", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TINYBERT_QUIET": "1"}  # setup(): no log lines, no progress bars (saved as widgets without state)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits this process's environment, as under nbval
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        ok, error = True, None
    except CellExecutionError as exc:
        ok, error = False, str(exc).strip().splitlines()[-1][:300]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    wall_s = round(time.perf_counter() - start, 1)
    if save and ok:
        notebook.metadata = {k: v for k, v in notebook.metadata.items() if k in ("kernelspec", "language_info")}
        for cell in notebook.cells:
            cell.metadata.pop("execution", None)  # timestamps: differ on every run
        nbformat.write(notebook, path)
    return {"wall_s": wall_s, "ok": ok, "error": error}


def run(profiles=("ci",), only=None, out_dir: str | Path = RESULTS_DIR, save: bool = False) -> dict:
    """Time every notebook (or those whose name starts with one of `only`) under each profile and
    merge into out_dir/notebooks.json; returns the merged result."""
    from tinybert_ref.io import read_json

    path = Path(out_dir) / "notebooks.json"
    result = read_json(path) if path.is_file() else {"benchmark": "notebooks", "profiles": {}}
    notebooks = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if only:
        notebooks = [p for p in notebooks if p.name.startswith(tuple(only))]
    if not notebooks:
        raise SystemExit(f"no notebooks matched {only!r} in {NOTEBOOKS_DIR}")
    for profile in profiles:
        entry = result["profiles"].setdefault(profile, {"notebooks": {}})
        entry.update(machine=describe(), load_at_start=load_average(),
                     stages_present=_stages_present(profile))
        for notebook in notebooks:
            log.info("%s under %s ...", notebook.name, profile)
            timing = time_notebook(notebook, profile, save=save and profile == "laptop")
            entry["notebooks"][notebook.stem] = timing
            print(f"{profile:7s} {notebook.stem:32s} {timing['wall_s']:7.1f} s  {'ok' if timing['ok'] else 'FAILED: ' + timing['error']}",
                  flush=True)
            write_result("notebooks", result, out_dir)  # after each notebook: nothing measured is lost
        entry["load_at_end"] = load_average()
    write_result("notebooks", result, out_dir)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", choices=["ci", "laptop", "paper"],
                        help="profile(s) to time (repeatable; default ci)")
    parser.add_argument("--only", action="append", help="notebook name prefix, e.g. 05 (repeatable)")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="folder of notebooks.json")
    parser.add_argument("--save", action="store_true", help="write the laptop outputs into the notebooks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    result = run(tuple(args.profile or ["ci"]), args.only, args.out, save=args.save)
    failed = [f"{p}/{n}" for p, e in result["profiles"].items() for n, t in e["notebooks"].items() if not t["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
