"""One training loop for fine-tuning and every distillation step (paper Section 3.3; DESIGN.md section 4).

An *objective* is a small `nn.Module` whose `forward(batch)` returns a dict of losses with a "total"
entry: plain fine-tuning, intermediate-layer distillation (general distillation and task
distillation step 1, Eq. 6/11) or prediction-layer distillation (step 2, Eq. 10). `train` runs any of
them through `accelerate`, so the same loop serves one CPU process, several processes or GPUs, and
mixed precision. It checkpoints atomically and resumes after an interruption at the step it reached,
with the same data order. Taught in notebooks 05 and 07.

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
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .internals import enable_scores, forward_with_internals
from .losses import prediction_loss

__all__ = [
    "FineTuning",
    "IntermediateDistillation",
    "PredictionDistillation",
    "Schedule",
    "TrainResult",
    "make_accelerator",
    "train",
]

log = logging.getLogger(__name__)
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _inputs(batch: dict) -> dict:
    return {key: batch[key] for key in MODEL_INPUTS if key in batch}


class _FrozenTeacher:
    """Holds the teacher outside the module tree, so checkpoints and DDP never carry its weights."""

    def __init__(self, teacher: nn.Module):
        self.model = teacher.eval().requires_grad_(False)


class FineTuning(nn.Module):
    """Task fine-tuning with the hard labels (teacher stage, and the student-without-distillation
    baseline): cross-entropy (or MSE for regression) computed by the `transformers` head."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.student = model

    def forward(self, batch: dict) -> dict:
        outputs = self.student(**_inputs(batch), labels=batch["labels"])
        return {"total": outputs.loss}


class IntermediateDistillation(nn.Module):
    """Transformer-layer distillation (Eq. 6 with Eq. 11 for 0 <= m <= M): embedding, attention-score
    and hidden-state losses of the mapped layers. Used by general distillation (pretrained teacher,
    corpus) and task distillation step 1 (fine-tuned teacher, augmented task data).

    `layer_loss` is a `tinybert_ref.objective.TransformerDistillationLoss` (holds the projections).
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, layer_loss: nn.Module):
        super().__init__()
        self.student = enable_scores(student)
        self.layer_loss = layer_loss
        self._teacher = _FrozenTeacher(enable_scores(teacher))

    def forward(self, batch: dict) -> dict:
        inputs = _inputs(batch)
        with torch.no_grad():
            teacher_internals = forward_with_internals(self._teacher.model, **inputs)
        student_internals = forward_with_internals(self.student, **inputs)
        return self.layer_loss(student_internals, teacher_internals, inputs.get("attention_mask"))


class PredictionDistillation(nn.Module):
    """Prediction-layer distillation (Eq. 10, m = M+1): soft cross-entropy between the teacher's and
    the student's logits at temperature t; the paper uses no hard labels here."""

    def __init__(self, student: nn.Module, teacher: nn.Module, temperature: float = 1.0):
        super().__init__()
        self.student = student
        self.temperature = temperature
        self._teacher = _FrozenTeacher(teacher)

    def forward(self, batch: dict) -> dict:
        inputs = _inputs(batch)
        teacher_logits = batch.get("teacher_logits")  # computed once per example (`teacher_logits_column`)
        if teacher_logits is None:
            with torch.no_grad():
                teacher_logits = self._teacher.model(**inputs).logits
        student_logits = self.student(**inputs).logits
        return {"total": prediction_loss(student_logits, teacher_logits, self.temperature)}


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
    # The student's pooler/classifier is unused by intermediate-layer distillation.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    mixed = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]
    if cpu is None:
        # Under torchrun without a GPU, accelerate only forms the (gloo) process group when told it runs on
        # the CPU; otherwise every process would train alone and they would overwrite each other's files.
        cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    # split_batches: our batch size is the global batch (see _epoch_batches); without it accelerate's
    # scheduler wrapper would step the learning-rate schedule once per process at every optimiser step.
    return Accelerator(mixed_precision=mixed, cpu=bool(cpu), kwargs_handlers=[ddp],
                       dataloader_config=DataLoaderConfiguration(split_batches=True))


def _epoch_batches(dataset, collate_fn, schedule: Schedule, epoch: int, accelerator, skip: int):
    """This process's batches of one epoch, from batch `skip` on.

    A fixed permutation per (seed, epoch) makes the data order reproducible after a resume.
    `schedule.batch_size` is the *global* batch: each global batch is split into one contiguous slice
    per process (batch_size / processes examples each), so any number of processes sees exactly the
    batches one process sees, and the same configuration trains the same model at any scale. A last,
    short global batch is split as evenly as it goes (a process left without an example repeats the
    batch's last one, so every process takes part in the gradient all-reduce).
    """
    generator = torch.Generator().manual_seed(schedule.seed + epoch)
    order = torch.randperm(len(dataset), generator=generator).tolist()
    world, rank = accelerator.num_processes, accelerator.process_index
    for start in range(skip * schedule.batch_size, len(order), schedule.batch_size):
        chunk = order[start:start + schedule.batch_size]
        indices = chunk[rank * len(chunk) // world:(rank + 1) * len(chunk) // world] or chunk[-1:]
        batch = collate_fn([dataset[i] for i in indices])
        yield {k: v.to(accelerator.device) if hasattr(v, "to") else v for k, v in batch.items()}


def _global_mean(accelerator, losses: dict) -> dict:
    """The losses averaged over processes (each holds its slice's mean), as floats for the history."""
    names = list(losses)
    values = torch.stack([losses[k].detach().float() for k in names])
    if accelerator.num_processes > 1:
        values = accelerator.reduce(values, reduction="mean")
    return dict(zip(names, values.tolist(), strict=True))


def _global_size(accelerator, batch: dict) -> int:
    """Examples in this global batch (each process holds its slice)."""
    size = torch.tensor(len(next(iter(batch.values()))), device=accelerator.device)
    return int(accelerator.reduce(size, reduction="sum")) if accelerator.num_processes > 1 else int(size)


def _save_state(accelerator, checkpoint_dir: Path, progress: dict) -> None:
    """Write the training state to a temporary folder, then swap it in: a kill leaves either the old
    checkpoint or the new one, never half of one. Every process calls this (each saves its RNG state)."""
    tmp, final, old = checkpoint_dir / "state.tmp", checkpoint_dir / "state", checkpoint_dir / "state.old"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "progress.json").write_text(json.dumps(progress))
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _load_state(accelerator, checkpoint_dir: Path | None) -> dict | None:
    if checkpoint_dir is None:
        return None
    state = checkpoint_dir / "state"
    if not state.exists() and (checkpoint_dir / "state.old").exists():
        state = checkpoint_dir / "state.old"  # killed between the two renames
    if not (state / "progress.json").is_file():
        return None
    accelerator.load_state(str(state))
    progress = json.loads((state / "progress.json").read_text())
    log.info("resuming %s at step %d", checkpoint_dir, progress["step"])
    return progress


def train(
    objective: nn.Module,
    dataset,
    collate_fn: Callable,
    schedule: Schedule,
    accelerator=None,
    checkpoint_dir: str | Path | None = None,
    eval_fn: Callable[[], float] | None = None,
    on_best: Callable[[], None] | None = None,
    desc: str = "train",
    progress: bool = True,
) -> TrainResult:
    """Run `objective` for `schedule.max_steps` optimiser steps over `dataset` (shuffled per epoch).

    eval_fn: called every `schedule.eval_every` steps (else at each epoch end) and at the last step;
        returns a dev score (higher is better).
    on_best: called (main process) when the score improves, e.g. to save the model for selection.
    checkpoint_dir: where the resumable state lives; an existing state there is resumed.
    """
    if len(dataset) == 0:
        raise ValueError(f"{desc}: the training dataset is empty; check the task file or the profile's limits")
    accelerator = accelerator or make_accelerator()
    # One accelerator serves every stage of a run, and `save_state` writes every model it has prepared
    # (model.safetensors, model_1.safetensors, ...). Release the previous stage's model first, so a
    # checkpoint holds this stage only and resumes in a fresh process where the earlier stages are skipped.
    accelerator.free_memory()
    if schedule.batch_size % accelerator.num_processes:
        raise ValueError(f"{desc}: the batch size {schedule.batch_size} is the global batch and must split evenly "
                         f"over {accelerator.num_processes} processes; pick a multiple of {accelerator.num_processes}")
    trainable = [p for p in objective.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim > 1]
    no_decay = [p for p in trainable if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": schedule.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=schedule.lr,
    )
    warmup = int(schedule.warmup_proportion * schedule.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / max(warmup, 1), max(0.0, (schedule.max_steps - s) / max(schedule.max_steps - warmup, 1)))
    )
    objective, optimizer, scheduler = accelerator.prepare(objective, optimizer, scheduler)
    for teacher_holder in (getattr(accelerator.unwrap_model(objective), "_teacher", None),):
        if teacher_holder is not None:
            teacher_holder.model.to(accelerator.device)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
    if checkpoint_dir and accelerator.is_main_process:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    state = _load_state(accelerator, checkpoint_dir) or {"step": 0, "history": [], "best_score": None}
    steps_per_epoch = math.ceil(len(dataset) / schedule.batch_size)
    bar = tqdm(total=schedule.max_steps, initial=state["step"], desc=desc, disable=not (progress and accelerator.is_main_process))
    objective.train()
    while state["step"] < schedule.max_steps:
        epoch, offset = divmod(state["step"], steps_per_epoch)
        for batch in _epoch_batches(dataset, collate_fn, schedule, epoch, accelerator, offset):
            losses = objective(batch)
            accelerator.backward(losses["total"])
            if schedule.max_grad_norm:
                accelerator.clip_grad_norm_(objective.parameters(), schedule.max_grad_norm)
            lr = optimizer.param_groups[0]["lr"]  # the rate this step used
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            state["step"] += 1
            row = {"step": state["step"], "lr": lr, "examples": _global_size(accelerator, batch),
                   **_global_mean(accelerator, losses)}
            state["history"].append(row)
            bar.update(1)
            bar.set_postfix(loss=f"{row['total']:.4f}")
            last = state["step"] >= schedule.max_steps
            epoch_end = state["step"] % steps_per_epoch == 0
            due = epoch_end if schedule.eval_every is None else state["step"] % schedule.eval_every == 0
            if (due or last) and eval_fn is not None:
                _evaluate(objective, accelerator, eval_fn, on_best, state)
            if checkpoint_dir and (last or epoch_end or state["step"] % schedule.checkpoint_every == 0):
                _save_state(accelerator, checkpoint_dir, state)
                _crash_for_tests(desc, state["step"])
            if last:
                break
    bar.close()
    objective.eval()
    return TrainResult(history=state["history"], best_score=state["best_score"], steps=state["step"])


def _crash_for_tests(desc: str, step: int) -> None:
    """Fault injection for the resume tests: TINYBERT_KILL_AT="<stage desc>:<step>" makes the process
    kill itself with SIGKILL (as `kill -9` would) right after that step's checkpoint."""
    target = os.environ.get("TINYBERT_KILL_AT")
    if target and target == f"{desc}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def _evaluate(objective, accelerator, eval_fn, on_best, state: dict) -> None:
    objective.eval()
    score = eval_fn()
    objective.train()
    state["history"][-1]["dev"] = score
    if state["best_score"] is None or score > state["best_score"]:
        state["best_score"] = score
        if on_best is not None and accelerator.is_main_process:
            on_best()
    accelerator.wait_for_everyone()
