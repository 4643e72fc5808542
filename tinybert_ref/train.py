"""One training loop for fine-tuning and every distillation step (paper Section 3.3; DESIGN.md section 4).

`train` runs an objective of `tinybert_ref.objective` (a module whose `forward(batch)` returns a dict of
losses with a "total" entry) through `accelerate`, so the same loop serves one CPU process, several
processes or GPUs, and mixed precision: AdamW, a linear warm-up and decay, a seeded DataLoader. It
checkpoints atomically and resumes after an interruption at the step it reached, with the same data order
and RNG state. Taught in notebooks 05 and 07.

Several processes (`torchrun --nproc_per_node N` or `accelerate launch`): the batch size is the global
batch, each process takes its slice of it, DDP averages the gradients, the logged losses are averaged
over the processes, and only the main process writes checkpoints' shared files (each process saves its
own RNG state). Mixed precision: `make_accelerator("bf16" | "fp16")` runs the forward passes under
autocast; the losses switch autocast off and compute in float32 (`tinybert_ref.losses`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from .io import replace_dir
from .objective import FineTuning, IntermediateDistillation, PredictionDistillation  # noqa: F401 (notebooks use them)

__all__ = ["Schedule", "TrainResult", "after_checkpoint", "make_accelerator", "train"]

log = logging.getLogger(__name__)
# Called as hook(desc, step) on every process right after each checkpoint; the resume tests install one
# that kills the process there, as `kill -9` would.
after_checkpoint: list[Callable[[str, int], None]] = []


@dataclass(frozen=True)
class Schedule:
    """Optimisation settings of one training stage: AdamW with linear warm-up and decay."""

    max_steps: int
    lr: float
    batch_size: int = 32  # the global batch, split over the processes (torchrun / accelerate launch)
    warmup_proportion: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 42
    checkpoint_every: int = 100  # steps between atomic checkpoints (and at each epoch end)
    eval_every: int | None = None  # steps between dev scores (None: at each epoch end); always at the last

    def __post_init__(self):
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}: the dataset may be empty")
        if self.lr <= 0:
            raise ValueError(f"learning rate must be > 0, got {self.lr}")


@dataclass
class TrainResult:
    """What a finished stage leaves: the loss history (one row per step) and the best dev score."""

    history: list[dict]
    best_score: float | None
    steps: int

    def summary(self, schedule: Schedule) -> dict:
        """What metrics.json records of a training stage: its budget and its optimiser."""
        rates = [row["lr"] for row in self.history if "lr" in row]
        return {"steps": self.steps, "examples_seen": sum(row.get("examples", 0) for row in self.history),
                "peak_lr": max(rates, default=None), "mean_lr": sum(rates) / len(rates) if rates else None,
                "optimizer": f"AdamW (bias-corrected, weight decay {schedule.weight_decay})",
                "schedule": f"linear warm-up over {schedule.warmup_proportion:.0%} of the steps, then linear decay"}


def make_accelerator(precision: str = "fp32", cpu: bool | None = None):
    """An `accelerate.Accelerator` for `precision` in fp32 | bf16 | fp16 (fp16 needs a GPU)."""
    from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs

    if precision not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"unknown precision {precision!r}; choose fp32, bf16 or fp16")
    if precision == "fp16" and (cpu or not torch.cuda.is_available()):
        raise ValueError("fp16 needs a GPU (loss scaling is CUDA-only here); use --precision bf16 on a CPU")
    if cpu is None:
        # Under torchrun without a GPU, accelerate only forms the (gloo) process group when told it runs on
        # the CPU; otherwise every process would train alone and they would overwrite each other's files.
        cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    # find_unused_parameters: the student's pooler/classifier is unused by intermediate-layer distillation.
    # split_batches: our batch size is the global batch (see _batches); without it accelerate's scheduler
    # wrapper would step the learning-rate schedule once per process at every optimiser step.
    return Accelerator(mixed_precision={"fp32": "no"}.get(precision, precision), cpu=bool(cpu),
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
                       dataloader_config=DataLoaderConfiguration(split_batches=True))


def _batches(dataset, collate_fn, schedule: Schedule, epoch: int, skip: int, accelerator):
    """This process's batches of one epoch, from batch `skip` on, in an order fixed by (seed, epoch).

    `schedule.batch_size` is the *global* batch: each is split into one contiguous slice per process, so
    any number of processes sees the batches one process sees. A last, short global batch is split as
    evenly as it goes (a process left without an example repeats the batch's last one, so every process
    takes part in the gradient all-reduce). accelerate's own sharding pads that batch with examples from
    the start of the epoch instead, so the DataLoader is not `prepare`d.
    """
    from accelerate import skip_first_batches
    from accelerate.utils import send_to_device

    order = torch.Generator().manual_seed(schedule.seed + epoch)
    world, rank = accelerator.num_processes, accelerator.process_index
    shares = [chunk[rank * len(chunk) // world:(rank + 1) * len(chunk) // world] or chunk[-1:]
              for chunk in BatchSampler(RandomSampler(dataset, generator=order), schedule.batch_size, False)]
    # generator=order: the loader's worker seed must not draw from the global RNG (dropout reads it)
    loader = DataLoader(dataset, batch_sampler=shares, collate_fn=collate_fn, generator=order)
    for batch in skip_first_batches(loader, skip):
        yield send_to_device(batch, accelerator.device)


def _history_row(accelerator, step: int, lr: float, batch: dict, losses: dict) -> dict:
    """The step's row: its learning rate, the examples of the global batch, and the losses averaged
    over the processes (each holds its slice's mean)."""
    values = [losses[name].detach().float() for name in losses]
    values = torch.stack([*values, values[0].new_tensor(float(len(next(iter(batch.values())))))])
    if accelerator.num_processes > 1:
        values = accelerator.reduce(values, reduction="mean")
    *means, size = values.tolist()
    return {"step": step, "lr": lr, "examples": round(size * accelerator.num_processes),
            **dict(zip(losses, means, strict=True))}


class _Progress:
    """Step, history and best dev score of a stage, and its checkpoint: CHECKPOINT/state (accelerate's
    state and progress.json, swapped in whole) plus CHECKPOINT/history.jsonl, appended at each
    checkpoint, so a resumed run returns the whole history and no checkpoint rewrites it."""

    def __init__(self, accelerator, checkpoint_dir: str | Path | None, desc: str):
        self.accelerator, self.desc, self.step, self.best_score, self.history = accelerator, desc, 0, None, []
        self.folder = Path(checkpoint_dir) if checkpoint_dir else None
        state = self.folder / "state" if self.folder else None
        if state and not state.exists() and (self.folder / "state.old").exists():
            state = self.folder / "state.old"  # killed between the two renames
        if state and (state / "progress.json").is_file():
            accelerator.load_state(str(state))
            progress = json.loads((state / "progress.json").read_text())
            self.step, self.best_score = progress["step"], progress["best_score"]
            # rows past the state's step are dropped; a step trained again after a kill counts with its last row
            rows = {row["step"]: row for row in _read_jsonl(self.folder / "history.jsonl") if row["step"] <= self.step}
            self.history = list(rows.values())
            log.info("resuming %s at step %d", self.folder, self.step)
        self.written = len(self.history)

    def evaluate(self, objective, eval_fn: Callable[[], float], on_best: Callable[[], None] | None) -> None:
        objective.eval()
        score = eval_fn()
        objective.train()
        self.history[-1]["dev"] = score
        if self.best_score is None or score > self.best_score:
            self.best_score = score
            if on_best is not None and self.accelerator.is_main_process:
                on_best()
        self.accelerator.wait_for_everyone()

    def save(self) -> None:
        """History rows first, then the state swapped in (a kill leaves the old state or the new one;
        rows past the state's step are dropped on resume). Every process calls this."""
        main = self.accelerator.is_main_process
        if main:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / "history.jsonl", "a") as file:
                file.writelines(json.dumps(row) + "\n" for row in self.history[self.written:])
            self.written = len(self.history)
        with replace_dir(self.folder / "state", self.accelerator) as tmp:
            self.accelerator.save_state(str(tmp), safe_serialization=True)
            self.accelerator.wait_for_everyone()
            if main:
                (tmp / "progress.json").write_text(json.dumps({"step": self.step, "best_score": self.best_score}))
        for hook in after_checkpoint:
            hook(self.desc, self.step)


def _read_jsonl(path: Path) -> list[dict]:
    """The complete rows of a JSON-lines file (a kill may have cut its last line short)."""
    rows = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            rows.append(json.loads(line))
        except ValueError:
            break
    return rows


def _prepare(objective: nn.Module, schedule: Schedule, accelerator, desc: str):
    """(objective, AdamW, linear warm-up and decay) prepared by `accelerator`; weight decay on matrices
    only (not on biases and LayerNorm), as BERT."""
    # One accelerator serves every stage of a run, and `save_state` writes every model it has prepared.
    # Release the previous stage's model, so a checkpoint holds this stage only and resumes in a fresh process.
    accelerator.free_memory()
    if schedule.batch_size % accelerator.num_processes:
        raise ValueError(f"{desc}: the batch size {schedule.batch_size} is the global batch and must split evenly "
                         f"over {accelerator.num_processes} processes; pick a multiple of {accelerator.num_processes}")
    trainable = [p for p in objective.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if p.ndim > 1], "weight_decay": schedule.weight_decay},
              {"params": [p for p in trainable if p.ndim <= 1], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=schedule.lr)
    warmup = int(schedule.warmup_proportion * schedule.max_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, schedule.max_steps)
    prepared = accelerator.prepare(objective, optimizer, scheduler)
    if hasattr(unwrapped := accelerator.unwrap_model(prepared[0]), "_teacher"):  # kept outside the module tree
        unwrapped._teacher.model.to(accelerator.device)
    return prepared


def train(objective: nn.Module, dataset, collate_fn: Callable, schedule: Schedule, accelerator=None,
          checkpoint_dir: str | Path | None = None, eval_fn: Callable[[], float] | None = None,
          on_best: Callable[[], None] | None = None, desc: str = "train", progress: bool = True) -> TrainResult:
    """Run `objective` for `schedule.max_steps` optimiser steps over `dataset` (shuffled per epoch).

    eval_fn: returns a dev score (higher is better); called every `schedule.eval_every` steps (else at
    each epoch end) and at the last step. on_best: called (main process) when the score improves, e.g. to
    save the model for selection. checkpoint_dir: where the resumable state lives; one there is resumed.
    """
    if len(dataset) == 0:
        raise ValueError(f"{desc}: the training dataset is empty; check the task file or the profile's limits")
    accelerator = accelerator or make_accelerator()
    objective, optimizer, scheduler = _prepare(objective, schedule, accelerator, desc)
    state = _Progress(accelerator, checkpoint_dir, desc)
    steps_per_epoch = math.ceil(len(dataset) / schedule.batch_size)
    bar = tqdm(total=schedule.max_steps, initial=state.step, desc=desc,
               disable=not (progress and accelerator.is_main_process))
    objective.train()
    while state.step < schedule.max_steps:
        for batch in _batches(dataset, collate_fn, schedule, *divmod(state.step, steps_per_epoch), accelerator):
            losses = objective(batch)
            accelerator.backward(losses["total"])
            if schedule.max_grad_norm:
                accelerator.clip_grad_norm_(objective.parameters(), schedule.max_grad_norm)
            lr = scheduler.get_last_lr()[0]  # the rate this step uses
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            state.step += 1
            state.history.append(_history_row(accelerator, state.step, lr, batch, losses))
            bar.update(1)
            bar.set_postfix(loss=f"{state.history[-1]['total']:.4f}")
            last, epoch_end = state.step >= schedule.max_steps, state.step % steps_per_epoch == 0
            if eval_fn is not None and (last or state.step % (schedule.eval_every or steps_per_epoch) == 0):
                state.evaluate(objective, eval_fn, on_best)
            if state.folder and (last or epoch_end or state.step % schedule.checkpoint_every == 0):
                state.save()
            if last:
                break
    bar.close()
    objective.eval()
    return TrainResult(history=state.history, best_score=state.best_score, steps=state.step)
