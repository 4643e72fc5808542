"""Seeds, threads and logging: what every entry point (CLI, notebooks, tests) sets up the same way."""

from __future__ import annotations

import logging
import os
import random

__all__ = ["seed_everything", "configure_logging", "is_main_process"]


def seed_everything(seed: int = 42) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so runs repeat."""
    import numpy as np
    import torch

    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def is_main_process() -> bool:
    """Whether this is the main process of a run launched with torchrun / accelerate launch / mpirun (the
    only process of a plain run). Read from the launcher's environment, so no process group is needed."""
    for name in ("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK"):
        if os.environ.get(name):
            return int(os.environ[name]) == 0
    return True


def configure_logging(level: int = logging.INFO, quiet_libraries: bool = False) -> None:
    """Log tinybert_ref at `level`; optionally silence transformers/datasets chatter (used under `ci`)."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # it logs every checkpoint file at INFO
    if quiet_libraries:
        import datasets
        import transformers

        transformers.logging.set_verbosity_error()
        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()
