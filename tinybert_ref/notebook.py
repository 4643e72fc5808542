"""What the first code cell of every notebook calls (STYLE.md section 1), and `show_source`.

`setup()` seeds everything, reads the profile, quietens libraries and progress bars under `ci`, and
prints one run-info line; `show_source(obj)` displays a package function's source instead of pasting
a copy into a cell.
"""

from __future__ import annotations

import inspect
import logging
import os
import platform
import warnings
from pathlib import Path

from . import __version__
from .profiles import Profile, get_profile
from .runtime import configure_logging, seed_everything

__all__ = ["setup", "show_source", "run_info", "run_dir", "stage_store", "ensure_run"]


def run_info(profile: Profile, seed: int) -> str:
    """The one-line description of where and how a notebook ran."""
    import torch

    return (f"tinybert_ref {__version__} | profile {profile.name} | seed {seed} | torch {torch.__version__} | "
            f"{torch.get_num_threads()} threads | python {platform.python_version()}")


def setup(profile: str | None = None, seed: int | None = None) -> Profile:
    """Seed, pick the profile (argument, else TINYBERT_PROFILE, else laptop), quieten under `ci`."""
    chosen = get_profile(profile)
    seed = chosen.seed if seed is None else seed
    seed_everything(seed)
    # ci: nbval compares stderr of checked cells. TINYBERT_QUIET: set by the execution script that saves
    # the committed outputs (benchmarks.notebooks), which should hold no log lines, paths or progress bars.
    quiet = chosen.name == "ci" or bool(os.environ.get("TINYBERT_QUIET"))
    configure_logging(logging.WARNING if quiet else logging.INFO, quiet_libraries=True, progress_bars=not quiet)
    if quiet:
        warnings.filterwarnings("ignore")
    try:
        import matplotlib

        matplotlib.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80})
    except ImportError:  # pragma: no cover
        pass
    print(run_info(chosen, seed))
    return chosen


def show_source(obj) -> None:
    """Display the source of a package object as a highlighted code block (markdown in Jupyter)."""
    source = inspect.getsource(obj)
    try:
        from IPython.display import Markdown, display

        display(Markdown(f"```python\n{source}\n```"))
    except ImportError:  # pragma: no cover - outside IPython
        print(source)


def run_dir(profile: Profile) -> Path:
    """The run folder shared by all notebooks for a profile: $TINYBERT_RUNS/<profile>, else
    <repository>/runs/<profile> (the folder holding pyproject.toml above the working directory)."""
    if os.environ.get("TINYBERT_RUNS"):
        return Path(os.environ["TINYBERT_RUNS"]) / profile.name
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / "runs" / profile.name
    return here / "runs" / profile.name


def stage_store(profile: Profile) -> Path:
    """The stage store the notebooks use for `profile`: runs/<profile>/stages when `tinybert-ref run`
    made it (so a finished command-line run is loaded, not retrained), else runs/stages."""
    from .snapshots import stage_store as store_of

    return store_of(run_dir(profile))


def ensure_run(profile: Profile, **changes) -> tuple[dict, Path]:
    """Metrics of the default pipeline run for `profile` (with RunConfig `changes`), running only
    the stages not yet in the shared stage store. Returns (metrics, run folder).

    This is the "skip ahead" path: after `tinybert-ref run` (laptop) it only evaluates and loads.
    """
    from .config import RunConfig
    from .io import read_json
    from .pipeline import run

    config = RunConfig(profile=profile.name, **changes)
    base = run_dir(profile)
    suffix = "-".join(f"{k}={v}" for k, v in sorted(changes.items()))
    out = base if not changes else base.parent / f"{profile.name}-{suffix}"
    if (out / "metrics.json").is_file() and (out / "config.json").is_file():
        if read_json(out / "config.json") == _config_json(config):
            return read_json(out / "metrics.json"), out
    return run(config, out, store=stage_store(profile), force=True), out


def _config_json(config) -> dict:
    import json

    return json.loads(json.dumps(config.to_dict(), default=str))
