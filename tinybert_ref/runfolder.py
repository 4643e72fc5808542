"""The run folder: its configuration, and a store of finished stages keyed by what they depend on.

Every stage (teacher fine-tuning, masked LM, general distillation, augmentation, task distillation
steps) writes into `STORE/<stage>-<hash>/`, where the hash covers the settings the stage reads and the
hashes of the stages it starts from. So a finished stage is never redone, an interrupted one resumes
from its own checkpoint, and ablation variants reuse every stage they share with the full run
(DESIGN.md section 4, "Runs").
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from .io import write_json_atomic

__all__ = ["ConfigMismatchError", "config_hash", "claim_run_folder", "peak_rss_gib", "run_stage", "stage_done"]

log = logging.getLogger(__name__)


class ConfigMismatchError(RuntimeError):
    """A run folder made by another configuration was about to be reused."""


def config_hash(obj) -> str:
    """A short, stable hash of a JSON-able object (key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _write_json(path: Path, obj) -> None:
    write_json_atomic(path, obj, sort_keys=True, default=str)


def claim_run_folder(run_dir: Path, config: dict, force: bool = False, write: bool = True) -> None:
    """Write RUN_DIR/config.json, or check that the one there is the same configuration.

    A different configuration is refused (ConfigMismatchError names the differing keys) unless
    `force`, which keeps the stage store (stages are keyed by their own settings) and replaces the
    config and results. write=False only checks (the other processes of a multi-process run).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(config, default=str)):
            changed = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
            if not force:
                raise ConfigMismatchError(
                    f"{run_dir} holds a run with another configuration (differs in: {', '.join(changed)}); "
                    "choose a new --out folder, or pass --force to re-run it with the new settings "
                    "(finished stages whose settings did not change are reused)"
                )
            log.warning("re-running %s with a changed configuration (%s)", run_dir, ", ".join(changed))
    if write:
        _write_json(path, config)


def stage_done(stage_dir: Path) -> dict | None:
    """The DONE record of a finished stage, or None."""
    done = stage_dir / "DONE.json"
    return json.loads(done.read_text()) if done.is_file() else None


class _OneProcess:
    """Stands in for an accelerator when a stage runs without one: a single process."""

    is_main_process, num_processes = True, 1

    def wait_for_everyone(self) -> None:
        pass


def run_stage(store: Path, name: str, key: dict, body: Callable[[Path], dict], accelerator=None,
              main_only: bool = False) -> tuple[Path, dict]:
    """Run `body(stage_dir)` once for this `key`; later calls return the recorded result.

    The body writes its outputs inside stage_dir (and may keep a resumable checkpoint in
    stage_dir/"checkpoint", removed once the stage is done). Returns (stage_dir, result) where result
    holds what the body returned plus `wall_s` (time of the attempts that ran, summed).

    Several processes (call it on every process, with the accelerator): a training stage runs its body
    on every process (its collectives need them all; the body writes files from the main process
    only); a `main_only` stage (masked LM, augmentation) runs on the main process while the others
    wait for its DONE.json by polling the shared run folder (a long stage would outlast a collective
    barrier's timeout). Only the main process writes the stage's records.
    """
    procs = accelerator or _OneProcess()
    main = procs.is_main_process
    stage_dir = store / f"{name}-{config_hash(key)}"
    record = stage_done(stage_dir)
    if record is not None:
        log.info("stage %s: done already (%s), reused", name, stage_dir.name)
        return stage_dir, record
    if main:
        stage_dir.mkdir(parents=True, exist_ok=True)
        _write_json(stage_dir / "key.json", key)
        (stage_dir / "FAILED").unlink(missing_ok=True)
    procs.wait_for_everyone()
    if main_only and not main:
        return stage_dir, _wait_for_main(stage_dir, name)
    # Time of earlier attempts that ended with an exception; one killed outright (kill -9) leaves no
    # record of its time, only its checkpoint.
    spent_path = stage_dir / "spent_s.json"
    spent = json.loads(spent_path.read_text()) if spent_path.exists() else 0.0
    resumed = bool(spent) or (stage_dir / "checkpoint").exists()
    start = time.perf_counter()
    log.info("stage %s: running in %s%s", name, stage_dir, " (resuming)" if resumed else "")
    try:
        result = body(stage_dir)
    except BaseException as error:
        if main:
            _write_json(spent_path, spent + time.perf_counter() - start)
            if main_only:
                (stage_dir / "FAILED").write_text(f"{type(error).__name__}: {error}")
        raise
    result = {**result, "wall_s": round(spent + time.perf_counter() - start, 2), "resumed": resumed,
              "peak_rss_gib": peak_rss_gib()}
    if procs.num_processes > 1 and not main_only:
        procs.wait_for_everyone()  # every process is through the body before the record says DONE
    if main:
        _write_json(spent_path, spent + time.perf_counter() - start)
        _write_json(stage_dir / "DONE.json", result)
        shutil.rmtree(stage_dir / "checkpoint", ignore_errors=True)
    if procs.num_processes > 1 and not main_only:
        procs.wait_for_everyone()
    return stage_dir, result


def peak_rss_gib() -> float:
    """This process's peak resident memory so far (ru_maxrss, KiB on Linux), in GiB: recorded at each
    stage's end, so the stage where it rises shows."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def _wait_for_main(stage_dir: Path, name: str, poll_s: float = 1.0) -> dict:
    """The DONE record the main process writes for a main-only stage (raises if it failed there)."""
    while True:
        record = stage_done(stage_dir)
        if record is not None:
            return record
        if (stage_dir / "FAILED").is_file():
            raise RuntimeError(f"stage {name} failed on the main process: {(stage_dir / 'FAILED').read_text()}")
        time.sleep(poll_s)
