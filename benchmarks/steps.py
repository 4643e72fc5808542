"""Distillation step throughput, fp32 and bf16, with each step's time split into its parts.

Measured, at batch 32 on random token ids (no padding): examples/s of one optimiser step of
  * task distillation step 1 (Eq. 6/11: embedding, attention-score and hidden-state losses),
  * task distillation step 2 (Eq. 10: soft cross-entropy of the logits), both at length 64 (the
    profiles' max_seq_len; padded BBC headline batches are shorter, ~13 tokens),
  * general distillation (the step-1 objective at length 128, the paper's corpus length),
for the default pair (the pretrained MiniLM teacher -> TinyBERT4) and the paper's shapes (a BERT-base
shaped teacher -> TinyBERT4 and -> TinyBERT6, random weights), under `make_accelerator("fp32")` and
`make_accelerator("bf16")` (autocast; the losses run in fp32 inside). Each step is the calls of
`objective.IntermediateDistillation.forward` / `PredictionDistillation.forward` timed one by one:
teacher forward (no grad), student forward, losses forward, backward (student + losses), clipping +
AdamW; and, apart, the losses' forward + backward alone on detached copies of the internals. The
losses should be a small share of a step. Peak memory is the process's resident set size sampled
every 5 ms during the timed steps (it includes every model the process holds at that time).

Compared to: DESIGN.md section 8 (MiniLM -> TinyBERT4 at batch 32, length 64: 47 examples/s for a
step-1 step, teacher forward 148 examples/s, on an idle 2-core machine).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import resource
import statistics
import threading
import time
from pathlib import Path

import torch

from tinybert_ref.internals import Internals, forward_with_internals
from tinybert_ref.losses import prediction_loss
from tinybert_ref.mapping import layer_mapping
from tinybert_ref.models import build_student, load_teacher
from tinybert_ref.objective import TransformerDistillationLoss
from tinybert_ref.train import make_accelerator

from . import RESULTS_DIR, write_result
from .inference import SHAPES, TINY_SHAPES
from .machine import describe, load_average

__all__ = ["SETTINGS", "TINY_SETTINGS", "PeakRss", "run", "measure_pairing"]

log = logging.getLogger(__name__)

# pairing -> (teacher: "minilm" (pretrained) or a shape, student: a preset or a shape)
PAIRINGS = {
    "minilm->tinybert4": ("minilm", "tinybert4"),
    "bert_base->tinybert4": (SHAPES["bert_base"], "tinybert4"),
    "bert_base->tinybert6": (SHAPES["bert_base"], "tinybert6"),
}
TINY_PAIRINGS = {"bert_base->tinybert4": (TINY_SHAPES["bert_base"], TINY_SHAPES["tinybert4"])}
SETTINGS = {"batch_size": 32, "seq_len": {"task_step1": 64, "task_step2": 64, "general": 128}, "timed_steps": 2,
            "warmup_batch_size": 4, "precisions": ("fp32", "bf16"), "num_labels": 5, "lr": 1e-4,
            "max_grad_norm": 1.0, "temperature": 1.0}
TINY_SETTINGS = {**SETTINGS, "batch_size": 4, "seq_len": {"task_step1": 8, "task_step2": 8, "general": 16},
                 "timed_steps": 1, "warmup_batch_size": 2}
KINDS = ("task_step1", "task_step2", "general")
LAPS = ("teacher_forward", "student_forward", "losses_forward", "backward", "optimizer")


class PeakRss:
    """Context manager: the peak resident set size (bytes) of this process while it is open, sampled
    from /proc/self/statm every `interval` seconds (falls back to getrusage's lifetime maximum)."""

    def __init__(self, interval: float = 0.005):
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def current() -> int:
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


class _Clock:
    """Laps of one step; synchronises CUDA before each reading so GPU work is counted where it runs."""

    def __init__(self, device: torch.device):
        self.device, self.laps = device, {}
        self._last = self._now()

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def lap(self, name: str) -> None:
        now = self._now()
        self.laps[name] = now - self._last
        self._last = now


@contextlib.contextmanager
def _accelerator(precision: str):
    """make_accelerator(precision) in a fresh accelerate state, reset again afterwards: accelerate keeps
    one process-wide state and refuses a second mixed-precision setting in the same process."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        yield make_accelerator(precision)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)


def _models(teacher_spec, student_spec, num_labels: int):
    """(teacher, student) BertForSequenceClassification with the score-returning attention."""
    if teacher_spec == "minilm":
        teacher, _ = load_teacher("minilm", num_labels=num_labels)
    else:
        base = load_teacher("minilm", config_only=True)  # the BERT vocabulary and positions
        teacher = build_student(teacher_spec, base, num_labels=num_labels, seed=1)
    student = build_student(student_spec, teacher.config, num_labels=num_labels, seed=0)
    return teacher.eval().requires_grad_(False), student.train()


def _batch(batch_size: int, seq_len: int, vocab_size: int, device, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000 if vocab_size > 2000 else 0, vocab_size, (batch_size, seq_len), generator=generator)
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
            "token_type_ids": torch.zeros_like(ids).to(device)}


def _detached(internals: Internals) -> Internals:
    def leaf(tensor):
        return tensor.detach().clone().requires_grad_(True)

    return Internals(tuple(leaf(h) for h in internals.hidden_states), tuple(leaf(a) for a in internals.attention_scores))


def _step(kind: str, parts: dict, batch: dict, accelerator, settings: dict) -> tuple[dict, float, float]:
    """One optimiser step of `kind`; returns (laps in seconds, losses alone in seconds, total loss)."""
    teacher, student, layer_loss, optimizer = parts["teacher"], parts["student"], parts["layer_loss"], parts["optimizer"]
    mask = batch["attention_mask"]
    clock = _Clock(accelerator.device)
    with accelerator.autocast():
        if kind == "task_step2":
            with torch.no_grad():
                teacher_out = teacher(**batch).logits
            clock.lap("teacher_forward")
            student_out = student(**batch).logits
            clock.lap("student_forward")
            loss = prediction_loss(student_out, teacher_out, settings["temperature"])
        else:
            with torch.no_grad():
                teacher_out = forward_with_internals(teacher, **batch)
            clock.lap("teacher_forward")
            student_out = forward_with_internals(student, **batch)
            clock.lap("student_forward")
            loss = layer_loss(student_out, teacher_out, mask)["total"]
        clock.lap("losses_forward")
    accelerator.backward(loss)
    clock.lap("backward")
    accelerator.clip_grad_norm_(parts["trainable"], settings["max_grad_norm"])
    optimizer.step()
    optimizer.zero_grad()
    clock.lap("optimizer")
    losses_alone = _losses_alone(kind, layer_loss, student_out, teacher_out, mask, accelerator, settings)
    optimizer.zero_grad()
    return clock.laps, losses_alone, float(loss.detach())


def _losses_alone(kind, layer_loss, student_out, teacher_out, mask, accelerator, settings) -> float:
    """Forward + backward of the losses only, on detached copies of what the models returned."""
    clock = _Clock(accelerator.device)
    with accelerator.autocast():
        if kind == "task_step2":
            loss = prediction_loss(student_out.detach().requires_grad_(True), teacher_out, settings["temperature"])
        else:
            loss = layer_loss(_detached(student_out), teacher_out, mask)["total"]
    accelerator.backward(loss)
    clock.lap("losses")
    return clock.laps["losses"]


def _summary(kind: str, laps: list[dict], alone: list[float], batch_size: int) -> dict:
    median = {name: statistics.median(lap[name] for lap in laps) for name in LAPS}
    step = statistics.median(sum(lap.values()) for lap in laps)
    cached = {}
    if kind == "task_step2":
        # The pipeline computes step 2's teacher logits once per example (stages._with_teacher_logits),
        # so its steps are these steps without the teacher forward.
        without = statistics.median(sum(v for name, v in lap.items() if name != "teacher_forward") for lap in laps)
        cached = {"cached_teacher_logits": {"step_s": without, "examples_per_s": batch_size / without,
                                            "speedup": step / without}}
    return {
        **cached,
        "laps_s": {name: [lap[name] for lap in laps] for name in LAPS},
        "median_s": median,
        "step_s": step,
        "examples_per_s": batch_size / step,
        "losses_alone_s": statistics.median(alone),
        "shares": {
            "teacher_forward": median["teacher_forward"] / step,
            "student_forward_backward": (median["student_forward"] + median["backward"]) / step,
            "losses_forward": median["losses_forward"] / step,
            "losses_alone": statistics.median(alone) / step,
            "optimizer": median["optimizer"] / step,
        },
    }


def measure_pairing(name: str, teacher_spec, student_spec, settings: dict) -> list[dict]:
    """Every kind x precision of one teacher -> student pairing; one row each."""
    rows = []
    rss_before = PeakRss.current()
    teacher, student = _models(teacher_spec, student_spec, settings["num_labels"])
    mapping = layer_mapping(student.config.num_hidden_layers, teacher.config.num_hidden_layers)
    layer_loss = TransformerDistillationLoss(student.config.hidden_size, teacher.config.hidden_size, mapping)
    for precision in settings["precisions"]:
        with _accelerator(precision) as accelerator:
            device = accelerator.device
            for module in (teacher, student, layer_loss):
                module.to(device)
            trainable = [p for module in (student, layer_loss) for p in module.parameters() if p.requires_grad]
            parts = {"teacher": teacher, "student": student, "layer_loss": layer_loss, "trainable": trainable,
                     "optimizer": torch.optim.AdamW(trainable, lr=settings["lr"])}
            for kind in KINDS:
                seq_len, vocab = settings["seq_len"][kind], teacher.config.vocab_size
                log.info("%s %s %s: batch %d, length %d", name, precision, kind, settings["batch_size"], seq_len)
                _step(kind, parts, _batch(settings["warmup_batch_size"], seq_len, vocab, device, 0), accelerator,
                      settings)
                laps, alone, losses = [], [], []
                with PeakRss() as rss:
                    for step in range(settings["timed_steps"]):
                        batch = _batch(settings["batch_size"], seq_len, vocab, device, step + 1)
                        lap, loss_s, loss = _step(kind, parts, batch, accelerator, settings)
                        laps.append(lap)
                        alone.append(loss_s)
                        losses.append(loss)
                rows.append({"pairing": name, "kind": kind, "precision": precision,
                             "teacher_layers": teacher.config.num_hidden_layers,
                             "teacher_hidden": teacher.config.hidden_size,
                             "student_layers": student.config.num_hidden_layers,
                             "student_hidden": student.config.hidden_size, "mapping": mapping,
                             "batch_size": settings["batch_size"], "seq_len": seq_len,
                             "timed_steps": settings["timed_steps"], "loss": losses,
                             **_summary(kind, laps, alone, settings["batch_size"]),
                             "rss_before_models_mib": rss_before / 2**20, "peak_rss_mib": rss.peak / 2**20})
    del teacher, student, layer_loss, parts
    gc.collect()
    return rows


def run(out_dir: str | Path = RESULTS_DIR, tiny: bool = False) -> dict:
    """Measure every pairing; write out_dir/steps.json and return it."""
    pairings, settings = (TINY_PAIRINGS, TINY_SETTINGS) if tiny else (PAIRINGS, SETTINGS)
    machine, start = describe(), time.perf_counter()
    rows = []
    for name, (teacher_spec, student_spec) in pairings.items():
        rows += measure_pairing(name, teacher_spec, student_spec, settings)
    result = {
        "benchmark": "steps",
        "tiny": tiny,
        "settings": {**settings, "precisions": list(settings["precisions"]), "threads": torch.get_num_threads(),
                     "inputs": "random token ids, no padding", "model_class": "BertForSequenceClassification",
                     "teacher_weights": {name: "pretrained MiniLM" if spec == "minilm" else "random"
                                         for name, (spec, _) in pairings.items()}},
        "rows": rows,
        "design_reference": {"pairing": "minilm->tinybert4", "kind": "task_step1", "batch_size": 32, "seq_len": 64,
                             "examples_per_s": 47.0, "teacher_forward_examples_per_s": 148.0},
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": machine,
        "load_average_end": load_average(),
        "wall_s": time.perf_counter() - start,
    }
    write_result("steps", result, out_dir)
    return result
