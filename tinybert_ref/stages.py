"""The bodies of the pipeline's stages: what each one makes, given the run (paper Section 3.3).

`pipeline.STAGES` pairs each body with what its key reads; `pipeline.stage_<name>(run)` makes a stage
or loads it from the store. A body is called as body(run, stage_dir, key) with the RNGs seeded for the
stage, writes its outputs inside stage_dir (only the main process writes files) and returns the result
recorded in DONE.json. Taught in notebooks 05 to 07.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .data.tokenize import tokenize_task
from .io import save_model_atomic
from .mapping import layer_mapping
from .models import build_student, load_checkpoint, load_teacher, resolve_teacher_path
from .objective import (
    FineTuning,
    IntermediateDistillation,
    PredictionDistillation,
    TransformerDistillationLoss,
)
from .train import Schedule, train

if TYPE_CHECKING:
    from .pipeline import Run

__all__ = ["teacher", "mlm", "general_distillation", "augmentation", "task_distillation_1", "task_distillation_2",
           "finetune", "distillation_data", "split_loader"]


def split_loader(run: Run, split: str):
    """This process's share of a split (all of it with one process), in batches of eval_batch_size."""
    from torch.utils.data import DataLoader

    from .evaluate import shard

    return DataLoader(shard(run.tokenized[split], run.accelerator), batch_size=run.profile.eval_batch_size,
                      collate_fn=run.collate)


def _dev_score(run: Run, model) -> float:
    """The dev metric, each process scoring its shard and the predictions gathered in dataset order."""
    from .evaluate import evaluate_model

    return evaluate_model(model, split_loader(run, "dev"), run.info.metric, device=run.accelerator.device,
                          accelerator=run.accelerator)["metric"]


def _classifier_from(run: Run, source, num_labels: int):
    """A BertForSequenceClassification student: from a saved encoder folder, or fresh random weights."""
    from transformers import BertForSequenceClassification

    if source is None:
        teacher_config = load_teacher(run.config.teacher, config_only=True)
        return build_student(run.config.student, teacher_config, num_labels=num_labels, seed=run.config.seed)
    return load_checkpoint(source, BertForSequenceClassification, num_labels=num_labels)


def _fit_and_select(run: Run, stage_dir: Path, model, objective, dataset, schedule: Schedule, desc: str) -> dict:
    """Train `objective`, scoring dev every eval_every steps and keeping the best model in stage_dir/model."""
    def save_best():
        save_model_atomic(run.accelerator.unwrap_model(model), stage_dir / "model", run.tokenizer)

    result = train(objective, dataset, run.collate, schedule, run.accelerator, stage_dir / "checkpoint",
                   eval_fn=lambda: _dev_score(run, model), on_best=save_best, desc=desc)
    if run.accelerator.is_main_process:
        (stage_dir / "history.json").write_text(json.dumps(result.history))
    best_step = max((row for row in result.history if "dev" in row), key=lambda row: row["dev"])["step"]
    return {"dev_metric": result.best_score, "best_step": best_step, **result.summary(schedule)}


def _label_model(model, run: Run):
    names = list(run.info.label_names)
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {name: i for i, name in enumerate(names)}
    return model


def teacher(run: Run, stage_dir: Path, key: dict) -> dict:
    """Stage 1: fine-tune the teacher on the task; keep the checkpoint with the best dev metric."""
    model, _ = load_teacher(run.config.teacher, num_labels=run.info.num_labels)
    _label_model(model, run)
    train_set = run.tokenized["train"]
    steps = max(1, math.ceil(run.profile.teacher_epochs * len(train_set) / run.profile.batch_size))
    schedule = run.schedule("teacher", steps, run.profile.teacher_lr)
    return _fit_and_select(run, stage_dir, model, FineTuning(model), train_set, schedule, "teacher")


def _layer_loss(run: Run, student_config, teacher_config, init_from: Path | None = None):
    mapping = layer_mapping(student_config.num_hidden_layers, teacher_config.num_hidden_layers,
                            run.config.mapping_strategy())
    loss = TransformerDistillationLoss(
        student_config.hidden_size, teacher_config.hidden_size, mapping,
        use_embedding=run.config.embedding_loss, use_attention=run.config.attention_loss,
        use_hidden=run.config.hidden_loss,
    )
    if init_from is not None and (init_from / "projection.pt").is_file():
        # As in the official code, task distillation starts from the general student's projection.
        loss.load_state_dict(torch.load(init_from / "projection.pt", weights_only=True))
    return loss


def _distil_intermediate(run: Run, stage_dir: Path, student, teacher, dataset, schedule, init_from, desc) -> dict:
    layer_loss = _layer_loss(run, student.config, teacher.config, init_from)
    objective = IntermediateDistillation(student, teacher, layer_loss)
    result = train(objective, dataset, run.collate, schedule, run.accelerator, stage_dir / "checkpoint", desc=desc)
    if run.accelerator.is_main_process:
        save_model_atomic(run.accelerator.unwrap_model(student), stage_dir / "model", run.tokenizer)
        torch.save(layer_loss.state_dict(), stage_dir / "projection.pt")
        (stage_dir / "history.json").write_text(json.dumps(result.history))
    return {"final_loss": result.history[-1]["total"], "mapping": layer_loss.mapping, **result.summary(schedule)}


def _corpus_texts(run: Run):
    """General-distillation text: the user's corpus, or BBC bodies without the task's test articles."""
    from .data.corpus import bbc_bodies, load_text_corpus

    if run.config.corpus:
        return load_text_corpus(run.config.corpus)
    return bbc_bodies(exclude_split="test")


def _num_proc(run: Run, rows: int) -> int:
    """Tokenising workers for a corpus of `rows` rows: the machine's cores shared by the training
    processes, and one (no worker start-up) below 10,000 rows, e.g. the BBC bodies."""
    if rows < 10_000:
        return 1
    return max(1, min(8, (os.cpu_count() or 1) // run.accelerator.num_processes))


# the share of the corpus's documents the masked LM never trains on; its recall is measured there
MLM_HELD_OUT = 0.05


def mlm(run: Run, stage_dir: Path, key: dict) -> dict:
    """Stage 2a: the masked LM that proposes replacements for single-piece words (Algorithm 1).

    Offline there is no pretrained MLM head, so the teacher's encoder gets a new tied head and the
    whole model is trained on the corpus, the new head at a higher learning rate than the pretrained
    body (DESIGN.md section 8); held-out articles measure its top-1/top-K recall of content words, each
    hidden from the whole input (one segment).
    """
    from .augment.mlm import build_mlm_from_encoder, masked_word_recall, train_mlm
    from .data.corpus import held_out_split

    train_texts, held_out = held_out_split(_corpus_texts(run), fraction=MLM_HELD_OUT, seed=run.seed_of("mlm"))
    model, tokenizer = build_mlm_from_encoder(resolve_teacher_path(run.config.teacher))
    p = run.profile
    losses = train_mlm(model, tokenizer, train_texts, steps=p.mlm_steps, lr=p.mlm_lr, head_lr=p.mlm_head_lr,
                       batch_size=p.mlm_batch_size, seq_len=p.corpus_seq_len, seed=run.seed_of("mlm"))
    recall = masked_word_recall(model, tokenizer, held_out, k=p.aug_k, seed=run.seed_of("mlm"))
    save_model_atomic(model, stage_dir / "model", tokenizer)
    (stage_dir / "history.json").write_text(json.dumps([{"step": i + 1, "total": v} for i, v in enumerate(losses)]))
    return {"recall": {**recall, "input": "single segment, the word hidden"},
            "final_loss": losses[-1] if losses else None, "steps": p.mlm_steps,
            "examples_seen": p.mlm_steps * p.mlm_batch_size, "peak_lr": {"body": p.mlm_lr, "head": p.mlm_head_lr}}


def general_distillation(run: Run, stage_dir: Path, key: dict) -> dict:
    """Stage 2b (the paper's first stage): intermediate-layer distillation from the pretrained, not
    fine-tuned, teacher on the general corpus (Section 3.3, "General distillation")."""
    from .data.corpus import pack_corpus

    teacher, _ = load_teacher(run.config.teacher)
    student = build_student(run.config.student, teacher.config, seed=run.config.seed)
    # read (memory-mapped), tokenised in parallel and packed by the main process first; the others
    # then load the cached Arrow files (a corpus on disk is never held whole in RAM)
    with run.accelerator.main_process_first():
        texts = _corpus_texts(run)
        corpus = pack_corpus(texts, run.tokenizer, run.profile.corpus_seq_len, limit=run.profile.corpus_limit,
                             num_proc=_num_proc(run, len(texts)))
    schedule = run.schedule("general_distillation", run.profile.gd_steps, run.profile.gd_lr)
    result = _distil_intermediate(run, stage_dir, student, teacher, corpus, schedule, None, "general distillation")
    return {**result, "corpus_sequences": len(corpus)}


def augmentation(run: Run, stage_dir: Path, key: dict) -> dict:
    """Stage 3: Algorithm 1 over the training set (p_t, K, N_a from the profile), with provenance. A
    sentence-pair task has each sentence of a pair augmented in turn, as the official code does
    (`augment.algorithm.augment_pairs`)."""
    from .augment.algorithm import augment_dataset, replacement_counts
    from .augment.mlm import load_pretrained_mlm
    from .augment.wordvectors import WordVectors

    p = run.profile
    mlm, mlm_tokenizer = None, run.tokenizer
    if p.aug_mlm:
        mlm, mlm_tokenizer = load_pretrained_mlm(run.config.mlm or run.stages["mlm"][0] / "model")
    vectors = WordVectors.from_text_file(run.config.glove) if run.config.glove else WordVectors.from_glove_package()
    pair = "text_pair" if run.info.is_pair else None
    augmented = augment_dataset(run.task["train"], "text", "label", text_pair_column=pair, mlm=mlm,
                                tokenizer=mlm_tokenizer, word_vectors=vectors, p=p.aug_p, k=p.aug_k,
                                n_copies=p.aug_copies, seed=run.config.seed, use_mlm=p.aug_mlm,
                                pair_with_original=p.aug_pair_with_original)
    augmented.save_to_disk(str(stage_dir / "dataset"))
    originals = len(run.task["train"])
    return {"examples": len(augmented), "originals": originals, "replacements": replacement_counts(augmented),
            "distinct_copies_mean": round((len(augmented) - originals) / originals, 3)}


def distillation_data(run: Run):
    """The task distillation's training set: augmented (tokenised once, cached) or the original."""
    if "augmentation" not in run.stages:
        return run.tokenized["train"]
    from datasets import DatasetDict, load_from_disk

    stage_dir = run.stages["augmentation"][0]
    augmented = load_from_disk(str(stage_dir / "dataset"))
    augmented = augmented.select_columns([c for c in ("text", "text_pair", "label") if c in augmented.column_names])
    with run.accelerator.main_process_first():
        return tokenize_task(DatasetDict(train=augmented), run.tokenizer, run.profile.max_seq_len,
                             cache_dir=stage_dir / "tokenized")["train"]


def _finetuned_teacher(run: Run):
    from transformers import BertForSequenceClassification

    return load_checkpoint(run.stages["teacher"][0] / "model", BertForSequenceClassification)


def _with_teacher_logits(run: Run, dataset, teacher):
    """`dataset` plus a teacher_logits column: step 2 reads the teacher's logits of every example in
    every epoch, and they never change (the teacher is frozen, in eval mode), so they are computed
    once, N x C floats, instead of one teacher forward per example per epoch."""
    from torch.utils.data import DataLoader

    from .evaluate import predict

    loader = DataLoader(dataset, batch_size=run.profile.eval_batch_size, collate_fn=run.collate)
    logits, _ = predict(teacher, loader, device=run.accelerator.device, progress=False)
    return dataset.add_column("teacher_logits", logits.tolist())


def _student_from(run: Run, *stages: str):
    """The task student, labelled: from the first of `stages` that ran, else from random weights."""
    start = next((run.stages[name][0] / "model" for name in stages if name in run.stages), None)
    return _label_model(_classifier_from(run, start, run.info.num_labels), run)


def task_distillation_1(run: Run, stage_dir: Path, key: dict) -> dict:
    """Stage 4, step 1: intermediate layers from the fine-tuned teacher on the (augmented) task data."""
    gd = run.stages.get("general_distillation")
    schedule = run.schedule("task_distillation_1", key["steps"], run.profile.td1_lr)
    return _distil_intermediate(run, stage_dir, _student_from(run, "general_distillation"), _finetuned_teacher(run),
                                distillation_data(run), schedule, gd[0] if gd else None, "task distillation 1")


def task_distillation_2(run: Run, stage_dir: Path, key: dict) -> dict:
    """Stage 4, step 2: prediction-layer distillation (Eq. 10), dev scored every eval_every steps and the
    best kept. Without step 1 (prediction-only KD) it trains step 1's budget too (see `pipeline.STAGES`)."""
    student = _student_from(run, "task_distillation_1", "general_distillation")
    teacher = _finetuned_teacher(run)
    schedule = run.schedule("task_distillation_2", key["steps"], run.profile.td2_lr)
    objective = PredictionDistillation(student, teacher, run.profile.temperature)
    return _fit_and_select(run, stage_dir, student, objective, _with_teacher_logits(run, distillation_data(run), teacher),
                           schedule, "task distillation 2")


def finetune(run: Run, stage_dir: Path, key: dict) -> dict:
    """Baselines: the student fine-tuned on the labels, from the general student ("w/o TD") or from
    random weights ("no distillation"), for step 1's plus step 2's budget (one stage replaces both)."""
    student = _student_from(run, "general_distillation")
    schedule = run.schedule("finetune", key["steps"], run.profile.finetune_lr)
    return _fit_and_select(run, stage_dir, student, FineTuning(student), distillation_data(run), schedule,
                           "student fine-tuning")
