"""Fault injection for the resume tests, installed by the scripts they run in a subprocess."""

from __future__ import annotations

import os
import signal


def kill_after_checkpoint(target: str | None) -> None:
    """Kill this process with SIGKILL (as `kill -9` would) right after the checkpoint of a training step.

    target: "<stage desc>:<step>", e.g. "general distillation:2"; empty or None installs nothing."""
    from tinybert_ref import train

    def hook(desc: str, step: int) -> None:
        if f"{desc}:{step}" == target:
            os.kill(os.getpid(), signal.SIGKILL)

    if target:
        train.after_checkpoint.append(hook)
