"""Seeds, threads and logging: what every entry point (CLI, notebooks, tests) sets up the same way."""

from __future__ import annotations

import contextlib
import logging
import os
import random

__all__ = ["seed_everything", "configure_logging", "is_main_process", "quiet_transformers"]


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


def configure_logging(level: int = logging.INFO, quiet_libraries: bool = False, progress_bars: bool = True) -> None:
    """Log tinybert_ref at `level`. quiet_libraries: transformers and datasets log errors only, and datasets
    shows no progress bars (used by the CLI and the notebooks). progress_bars=False: no progress bar at
    all, through each library's own switch (tqdm reads TQDM_DISABLE when it is first imported, so call
    this before anything imports tqdm, as `notebook.setup` does)."""
    if not progress_bars:
        os.environ["TQDM_DISABLE"] = "1"
    logging.basicConfig(level=level, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # it logs every checkpoint file at INFO
    if quiet_libraries or not progress_bars:
        import datasets
        import transformers

        transformers.logging.set_verbosity_error()
        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()
        if not progress_bars:
            transformers.logging.disable_progress_bar()


@contextlib.contextmanager
def quiet_transformers():
    """Inside the block transformers logs errors only: e.g. its load report of a model whose new head is
    missing on purpose (the masked LM of the augmentation, the pretraining heads of notebook 02)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
