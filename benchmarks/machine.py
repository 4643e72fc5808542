"""What the numbers were measured on: CPU, threads, library versions and the machine's load.

Timings on a shared machine are only as good as its load: every benchmark stores the load average
(1, 5, 15 minutes) when it starts and when it ends, beside the number of torch threads it used.
The CPU flags say whether bf16 has hardware support (avx512_bf16, amx_bf16); without it bf16 is
emulated and slower than fp32.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

__all__ = ["describe", "load_average", "cpu_model", "cpu_flags", "present_flags", "cpu_label"]

_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def _cpuinfo_field(name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() == name:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    return _cpuinfo_field("model name") or platform.processor() or "unknown"


def cpu_flags() -> dict[str, bool]:
    """Which vector / matrix extensions that matter for fp32 and bf16 speed the CPU has."""
    flags = set((_cpuinfo_field("flags") or "").split())
    return {flag: flag in flags for flag in _FLAGS_OF_INTEREST}


def present_flags(machine: dict) -> list[str]:
    """The vector-instruction flags a `describe()` record says the CPU has, in their recorded order."""
    return [name for name, on in (machine.get("cpu_flags") or {}).items() if on]


def cpu_label(machine: dict) -> str:
    """CPU model, logical CPUs and flags of a `describe()` record, e.g. 'AMD EPYC, 2 CPUs (avx2)'."""
    return f"{machine.get('cpu')}, {machine.get('logical_cpus')} CPUs ({', '.join(present_flags(machine)) or 'no flags recorded'})"


def load_average() -> list[float]:
    """os.getloadavg(): runnable processes averaged over 1, 5 and 15 minutes."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def describe() -> dict:
    """CPU model and flags, logical CPUs, torch threads, versions, memory, load average, time, commit."""
    import accelerate
    import torch
    import transformers

    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "platform": platform.platform(),
        "load_average": load_average(),
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": _git_commit(),
    }
