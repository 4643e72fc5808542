"""The student at each distillation checkpoint, its matching teacher, and their attention scores.

TinyBERT's Transformer-layer distillation (Eq. 7) pulls the student's attention scores A^S of layer m
towards the teacher's scores A^T of layer n = g(m). Notebook 08 watches that happen across the run's
checkpoints, each compared with the teacher it was distilled from:

    before GD   the student's random initialisation, rebuilt with the run seed   | pretrained teacher
    after GD    general distillation's student (stage store)                     | pretrained teacher
    after TD1   task distillation step 1 (intermediate layers, augmented data)   | fine-tuned teacher
    after TD2   task distillation step 2 (prediction layer, Eq. 10)              | fine-tuned teacher

Everything is read from a finished run folder: its metrics.json names the stage folders
(`stage_dirs`) inside the stage store. Scores come from `internals.forward_with_internals`: (B, H, L, L)
per layer, the additive padding mask included.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .internals import forward_with_internals

__all__ = ["CHECKPOINTS", "Snapshot", "AttentionSnapshots", "stage_store", "find_store", "run_mapping", "load_snapshots",
           "snapshot_attention", "per_head_mse", "per_head_correlation", "transfer_mse", "run_attention", "final_losses",
           "held_out_losses", "attention_loss_history", "run_tokenizer", "stage_history"]

log = logging.getLogger(__name__)

# checkpoint -> (label, stage that produced it, teacher it was distilled from)
CHECKPOINTS = {
    "before_gd": ("before GD", None, "pretrained"),
    "after_gd": ("after GD", "general_distillation", "pretrained"),
    "after_td1": ("after TD step 1", "task_distillation_1", "fine-tuned"),
    "after_td2": ("after TD step 2", "task_distillation_2", "fine-tuned"),
}


@dataclass
class Snapshot:
    """One checkpoint: `student` and the `teacher` it is compared with (both eval mode)."""

    name: str  # a key of CHECKPOINTS
    label: str  # "before GD", ...
    student: nn.Module
    teacher: nn.Module
    teacher_kind: str  # "pretrained" or "fine-tuned"
    source: str  # where the student came from (a stage folder name, or "random init, seed S")


def _metrics(run_dir: Path) -> dict:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: finish a run first (tinybert-ref run, or "
                                "tinybert_ref.notebook.ensure_run(profile) in a notebook)")
    return json.loads(path.read_text())


def stage_store(run_dir) -> Path:
    """Where a run folder's stages live: RUN_DIR/stages when `tinybert-ref run` made it (the CLI's
    layout), else RUN_DIR/../stages (the store the notebooks share, see notebook.ensure_run)."""
    run_dir = Path(run_dir)
    return run_dir / "stages" if (run_dir / "stages").is_dir() else run_dir.parent / "stages"


def find_store(run_dir, store=None) -> Path:
    """The stage store of a run: `store` if given, else the one its metrics.json records, else
    RUN_DIR/stages (the CLI's layout), else RUN_DIR/../stages (the notebooks' shared store). Raises FileNotFoundError naming both places."""
    run_dir = Path(run_dir)
    metrics = _metrics(run_dir)
    recorded = [run_dir / metrics["store"]] if metrics.get("store") else []  # the store the run used
    candidates = [Path(store)] if store is not None else [*recorded, run_dir / "stages", run_dir.parent / "stages"]
    stage_dirs = metrics.get("stage_dirs") or {}
    for candidate in candidates:
        if stage_dirs and all((candidate / name).is_dir() for name in stage_dirs.values()):
            return candidate
    raise FileNotFoundError(f"no stage store holding {sorted(stage_dirs.values())} in "
                            f"{', '.join(map(str, candidates))}: pass store= the run's stage folder")


def _config(metrics: dict):
    from .config import RunConfig

    raw = dict(metrics["config"])
    raw["profile_overrides"] = tuple((raw.get("profile_overrides") or {}).items())
    return RunConfig(**raw)


def run_tokenizer(run_dir):
    """The tokenizer of a finished run's teacher (the student shares it)."""
    from .models import load_teacher

    return load_teacher(_config(_metrics(run_dir)).teacher, tokenizer_only=True)[1]


def run_mapping(run_dir) -> list[int]:
    """The run's layer mapping [g(0), ..., g(M)] (Eq. 6), from its configuration and the model depths."""
    from .mapping import layer_mapping
    from .models import load_teacher, student_config

    config = _config(_metrics(run_dir))
    teacher_config = load_teacher(config.teacher, config_only=True)
    student_layers = student_config(config.student, teacher_config).num_hidden_layers
    return layer_mapping(student_layers, teacher_config.num_hidden_layers, config.mapping_strategy())


def load_snapshots(run_dir, store=None, checkpoints=tuple(CHECKPOINTS)) -> list[Snapshot]:
    """The student at each checkpoint with its matching teacher (see the module docstring).

    A checkpoint whose stage the run skipped (e.g. "after_gd" in a run without general
    distillation) is left out. The two teachers are loaded once and shared between snapshots.
    """
    from transformers import BertForSequenceClassification, BertModel

    from .models import build_student, load_checkpoint, load_teacher

    unknown = [name for name in checkpoints if name not in CHECKPOINTS]
    if unknown:
        raise ValueError(f"unknown checkpoints {unknown}; valid: {', '.join(CHECKPOINTS)}")
    metrics = _metrics(run_dir)
    config, stage_dirs, store = _config(metrics), metrics.get("stage_dirs") or {}, find_store(run_dir, store)
    teachers = {}

    def teacher(kind: str) -> nn.Module:
        if kind not in teachers:
            teachers[kind] = (load_teacher(config.teacher)[0] if kind == "pretrained" else
                              load_checkpoint(store / stage_dirs["teacher"] / "model", BertForSequenceClassification))
            teachers[kind].eval()
        return teachers[kind]

    snapshots = []
    for name in checkpoints:
        label, stage, kind = CHECKPOINTS[name]
        if stage is None:
            teacher_config = load_teacher(config.teacher, config_only=True)
            student, source = build_student(config.student, teacher_config, seed=config.seed), f"random init, seed {config.seed}"
        elif stage in stage_dirs:
            model_class = BertModel if stage == "general_distillation" else BertForSequenceClassification
            student, source = load_checkpoint(store / stage_dirs[stage] / "model", model_class), stage_dirs[stage]
        else:
            log.info("run %s has no %s stage: checkpoint %r left out", run_dir, stage, name)
            continue
        snapshots.append(Snapshot(name, label, student.eval(), teacher(kind), kind, source))
    return snapshots


@dataclass
class AttentionSnapshots:
    """Attention scores of every snapshot on one batch of sentences.

    tokens: per sentence, its tokens (no padding); attention_mask: (B, L), 1 = real token;
    mapping: [g(0), ..., g(M)]; student[name]: M tensors (B, H, L, L); teacher[name]: N tensors.
    """

    tokens: list[list[str]]
    attention_mask: torch.Tensor
    mapping: list[int]
    labels: dict[str, str] = field(default_factory=dict)  # name -> "before GD", ...
    student: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    teacher: dict[str, list[torch.Tensor]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.student)

    def pair(self, name: str, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(teacher scores of layer g(m), student scores of layer m), each (B, H, L, L); m = 1..M."""
        if not 1 <= layer < len(self.mapping):
            raise ValueError(f"student layer {layer} out of range: the student has layers 1..{len(self.mapping) - 1}")
        if name not in self.student:
            raise ValueError(f"no checkpoint {name!r}; this run has {', '.join(self.student)}")
        return self.teacher[name][self.mapping[layer] - 1], self.student[name][layer - 1]

    def example(self, index: int, scores: torch.Tensor) -> torch.Tensor:
        """Sentence `index` of a (B, H, L, L) tensor without its padding: (H, L_i, L_i)."""
        length = len(self.tokens[index])
        return scores[index, :, :length, :length]


def _encode(tokenizer, sentences, max_length: int) -> dict[str, torch.Tensor]:
    """`sentences` (a str or a list) as one padded batch: the model inputs a forward takes."""
    sentences = [sentences] if isinstance(sentences, str) else list(sentences)
    encoded = tokenizer(sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {k: encoded[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded}


def snapshot_attention(snapshots: list[Snapshot], tokenizer, sentences, mapping, max_length: int = 64) -> AttentionSnapshots:
    """Run every snapshot's student and teacher on `sentences` (a str or a list; padded as one batch)."""
    inputs = _encode(tokenizer, sentences, max_length)
    mask = inputs["attention_mask"]
    tokens = [tokenizer.convert_ids_to_tokens(ids[: int(n)]) for ids, n in zip(inputs["input_ids"].tolist(), mask.sum(-1), strict=True)]
    result = AttentionSnapshots(tokens, mask, list(mapping))
    cache: dict[int, list[torch.Tensor]] = {}  # teachers shared by several snapshots run once
    with torch.no_grad():
        for snapshot in snapshots:
            if id(snapshot.teacher) not in cache:
                cache[id(snapshot.teacher)] = list(forward_with_internals(snapshot.teacher, **inputs).attention_scores)
            result.labels[snapshot.name] = snapshot.label
            result.teacher[snapshot.name] = cache[id(snapshot.teacher)]
            result.student[snapshot.name] = list(forward_with_internals(snapshot.student, **inputs).attention_scores)
    return result


def _real_pairs(student_scores: torch.Tensor, teacher_scores: torch.Tensor, attention_mask) -> torch.Tensor:
    """(B, 1, L, L) True where query and key are both real tokens (attention_mask None: all real), after
    checking that the two score tensors are (B, H, L, L) of one shape."""
    if student_scores.shape != teacher_scores.shape or student_scores.dim() != 4:
        raise ValueError(f"expected student and teacher scores of one shape (B, H, L, L), got "
                         f"{tuple(student_scores.shape)} and {tuple(teacher_scores.shape)}")
    batch, _, length, _ = student_scores.shape
    if attention_mask is None:
        attention_mask = torch.ones(batch, length, dtype=torch.long)
    real = attention_mask.to(student_scores.device) != 0
    return real[:, None, :, None] & real[:, None, None, :]


def per_head_mse(student_scores: torch.Tensor, teacher_scores: torch.Tensor, attention_mask=None) -> torch.Tensor:
    """Per-head MSE of the scores over real (query, key) pairs only: (H,). Taught in notebook 08, q1.

    student_scores, teacher_scores: (B, H, L, L), possibly with the additive padding mask added;
    attention_mask: (B, L), 1 = real token (None: every position is real). The mean runs over all real
    pairs of the batch pooled together. Unlike the training loss (Eq. 7 as the official code computes
    it, `losses.attention_loss`), padded entries are left out of the count instead of counted as zeros,
    so the figure does not depend on how much padding a batch has.
    """
    keep = _real_pairs(student_scores, teacher_scores, attention_mask)  # (B, 1, L, L)
    # torch.where, not a product: masked entries may hold float32 min, whose differences overflow.
    difference = torch.where(keep, student_scores.float() - teacher_scores.float(), 0.0)
    return difference.pow(2).sum(dim=(0, 2, 3)) / keep.sum()


def per_head_correlation(student_scores: torch.Tensor, teacher_scores: torch.Tensor, attention_mask=None) -> torch.Tensor:
    """Per-head Pearson correlation of the scores over real (query, key) pairs, each query's row centred: (H,).

    A scale-free companion to `per_head_mse`: 1 when the student's pattern is the teacher's up to a positive
    scale, 0 when unrelated. Each row is centred first because softmax ignores a shift of a query's scores,
    so only the centred pattern decides the attention probabilities. MSE alone mixes pattern and level: a
    random student (scores near 0) sits at the teacher's second moment, and a student that learns any pattern
    unrelated to the teacher's ends farther than that.
    """
    keep = _real_pairs(student_scores, teacher_scores, attention_mask)

    def centred(scores):
        # torch.where, not a product: masked entries may hold float32 min (see per_head_mse)
        values = torch.where(keep, scores.float(), 0.0)
        mean = values.sum(-1, keepdim=True) / keep.sum(-1, keepdim=True).clamp(min=1)
        return torch.where(keep, values - mean, 0.0)

    student, teacher = centred(student_scores), centred(teacher_scores)
    dims = (0, 2, 3)
    norm = (student.pow(2).sum(dims) * teacher.pow(2).sum(dims)).sqrt()
    return (student * teacher).sum(dims) / norm.clamp(min=torch.finfo(torch.float32).tiny)


def transfer_mse(attention: AttentionSnapshots, measure=None) -> dict[str, torch.Tensor]:
    """{checkpoint: (M, H) per-head MSE between student layer m and teacher layer g(m)}; `measure` replaces
    `per_head_mse` by another per-head comparison with its signature (e.g. `per_head_correlation`)."""
    measure = measure or per_head_mse
    result = {}
    for name in attention.names:
        rows = []
        for m in range(1, len(attention.mapping)):
            teacher_scores, student_scores = attention.pair(name, m)
            rows.append(measure(student_scores, teacher_scores, attention.attention_mask))
        result[name] = torch.stack(rows)
    return result


def run_attention(run_dir, sentences, store=None) -> AttentionSnapshots:
    """`snapshot_attention` of every checkpoint of a finished run on `sentences` (one padded batch), each
    student with the teacher it is compared with and the run's own mapping; `transfer_mse` of it gives the
    per-head distances."""
    return snapshot_attention(load_snapshots(run_dir, store), run_tokenizer(run_dir), sentences, run_mapping(run_dir))


def attention_loss_history(run_dir, store=None) -> tuple[list[dict], dict[str, int]]:
    """The per-layer attention losses (Eq. 7, "attention/m") of general distillation then task
    distillation step 1, on one step axis. Returns (rows, boundaries) where rows are history rows
    {"step", "stage", "attention/1", ...} and boundaries maps each checkpoint to its step
    (before GD 0, after GD = GD's steps, after TD1 and after TD2 = GD + TD1 steps)."""
    metrics, store = _metrics(run_dir), find_store(run_dir, store)
    rows, offset, boundaries = [], 0, {"before_gd": 0}
    for checkpoint, stage in (("after_gd", "general_distillation"), ("after_td1", "task_distillation_1")):
        history = _stage_history(metrics, store, stage)
        if history is None:
            continue
        for row in history:
            kept = {k: v for k, v in row.items() if k.startswith("attention/")}
            rows.append({"step": offset + row["step"], "stage": stage, **kept})
        offset += len(history)
        boundaries[checkpoint] = offset
    boundaries["after_td2"] = offset
    return rows, boundaries


def _stage_history(metrics: dict, store: Path, stage: str) -> list[dict] | None:
    """history.json of one stage of a run (a row per optimiser step), None where the run skipped the stage."""
    name = (metrics.get("stage_dirs") or {}).get(stage)
    return None if name is None else json.loads((store / name / "history.json").read_text())


def stage_history(run_dir, stage: str, store=None) -> list[dict] | None:
    """The training history of one stage of a finished run ("general_distillation", "task_distillation_1", ...):
    a row per optimiser step with its loss terms; None where the run skipped the stage."""
    return _stage_history(_metrics(run_dir), find_store(run_dir, store), stage)


def final_losses(run_dir, store=None, last: int = 100) -> dict[str, dict]:
    """How closely the student met each intermediate-layer target by the end of general distillation and of
    task distillation step 1: each loss term of the run's history (Eq. 9 "embedding", Eq. 7 "attention",
    Eq. 8 "hidden", each summed over layers as trained), the mean over the stage's last `last` training
    batches (one batch is noisy). Returns {stage: {term: mean, "batches": n}}; a term the run left out of its
    loss, or a stage it skipped, is absent."""
    metrics, store = _metrics(run_dir), find_store(run_dir, store)
    result = {}
    for stage in ("general_distillation", "task_distillation_1"):
        history = _stage_history(metrics, store, stage)
        if not history:
            continue
        tail = history[-last:]
        result[stage] = {term: round(sum(row[term] for row in tail) / len(tail), 4)
                         for term in ("embedding", "attention", "hidden") if all(term in row for row in tail)}
        result[stage]["batches"] = len(tail)
    return result


def held_out_losses(run_dir, sentences, store=None, max_length: int = 64) -> dict[str, dict]:
    """`final_losses` measured on `sentences` instead of training batches: each loss term the run trained with
    (Eq. 9 "embedding", Eq. 7 "attention", Eq. 8 "hidden", summed over layers), for the student after general
    distillation and after step 1 against the teacher it learned from, with the projection W that stage
    trained (`projection.pt`) and the run's mapping; the sentences as one padded batch. Returns {stage: {term}}."""
    from .objective import TransformerDistillationLoss

    metrics, store = _metrics(run_dir), find_store(run_dir, store)
    config = _config(metrics)
    inputs, mapping, result = _encode(run_tokenizer(run_dir), sentences, max_length), run_mapping(run_dir), {}
    for snapshot in load_snapshots(run_dir, store, checkpoints=("after_gd", "after_td1")):
        stage = CHECKPOINTS[snapshot.name][1]
        loss = TransformerDistillationLoss(snapshot.student.config.hidden_size, snapshot.teacher.config.hidden_size,
                                           mapping, use_embedding=config.embedding_loss,
                                           use_attention=config.attention_loss, use_hidden=config.hidden_loss)
        loss.load_state_dict(torch.load(store / metrics["stage_dirs"][stage] / "projection.pt", weights_only=True))
        with torch.no_grad():
            parts = loss(forward_with_internals(snapshot.student, **inputs),
                         forward_with_internals(snapshot.teacher, **inputs), inputs["attention_mask"])
        result[stage] = {term: round(float(parts[term]), 4) for term in ("embedding", "attention", "hidden") if term in parts}
    return result
