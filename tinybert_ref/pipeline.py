"""The two-stage TinyBERT pipeline (paper Section 3.3, Figure 1), one resumable stage at a time.

    teacher fine-tuning -> masked LM -> general distillation -> data augmentation
        -> task distillation step 1 (intermediate layers) -> step 2 (prediction layer)
        -> evaluation, report and export

Each stage runs through `runfolder.run_stage`, so it is cached by what it depends on, resumes after a
kill, and is shared by ablation variants. `run(config, out)` is what `tinybert-ref run` calls; the
notebooks call the same function (or single stages) with the `ci` profile.

Several processes (`torchrun` / `accelerate launch`, DESIGN.md section 7) run the same functions: every
process calls every stage; the training stages shard the global batches and the dev/test sets over the
processes, the masked LM and augmentation run on the main process, and only the main process writes
files (run folder, stage records, models, reports). A single process is the smallest case of that path.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import RunConfig
from .data.tasks import load_task
from .data.tokenize import collator, tokenize_task
from .mapping import layer_mapping
from .models import (
    VocabularyMismatchError,
    build_student,
    check_vocab_compatible,
    load_checkpoint,
    load_teacher,
    resolve_teacher_path,
)
from .objective import (
    FineTuning,
    IntermediateDistillation,
    PredictionDistillation,
    TransformerDistillationLoss,
)
from .runfolder import claim_run_folder, config_hash, run_stage, save_model_atomic
from .runtime import seed_everything
from .train import Schedule, make_accelerator, train

__all__ = ["Run", "prepare", "run", "SHARED_SEED", "STAGE_READS", "stage_key"]

log = logging.getLogger(__name__)
# The data split, the fine-tuned teacher and the masked LM are made once, with this seed, and shared by
# every training seed (`--seeds`): a seed's retention is its student over the one teacher.
SHARED_SEED = 42
_TASK_DATA = ("train_limit", "eval_limit", "max_seq_len")
_LOSSES = ("embedding_loss", "attention_loss", "hidden_loss")
# What each stage reads: (profile fields, run-config fields, seed). Its key holds exactly these, plus
# the keys of the stages it starts from and its resolved step budget, so changing step 2's learning
# rate re-runs step 2 only, and another task reuses general distillation and the masked LM.
STAGE_READS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "teacher": (_TASK_DATA + ("batch_size", "teacher_epochs", "teacher_lr", "eval_every"),
                ("teacher", "task", "precision"), "shared"),
    "mlm": (("corpus_seq_len", "mlm_steps", "mlm_batch_size", "mlm_lr", "mlm_head_lr", "aug_k"),
            ("teacher", "corpus"), "shared"),
    "general_distillation": (("corpus_seq_len", "corpus_limit", "batch_size", "gd_steps", "gd_lr"),
                             ("teacher", "corpus", "student", "mapping", "precision") + _LOSSES, "run"),
    "augmentation": (("train_limit", "aug_copies", "aug_p", "aug_k", "aug_mlm", "aug_pair_with_original"),
                     ("task", "mlm", "glove"), "run"),
    "task_distillation_1": (_TASK_DATA + ("batch_size", "td1_lr"),
                            ("task", "student", "mapping", "precision") + _LOSSES, "run"),
    "task_distillation_2": (_TASK_DATA + ("batch_size", "td2_lr", "temperature", "eval_every"),
                            ("task", "student", "precision"), "run"),
    "finetune": (_TASK_DATA + ("batch_size", "finetune_lr", "eval_every"), ("task", "student", "precision"), "run"),
}


@dataclass
class Run:
    """The state shared by the stages of one run: config, profile, data, tokenizer and stage results."""

    config: RunConfig
    out: Path
    store: Path
    profile: object
    accelerator: object
    info: object
    task: object  # DatasetDict (text)
    tokenized: object  # DatasetDict (token ids)
    tokenizer: object
    collate: object
    stages: dict = field(default_factory=dict)  # name -> (stage_dir, result)

    def key_of(self, name: str) -> str:
        return self.stages[name][0].name if name in self.stages else "none"

    def seed_of(self, stage: str) -> int:
        return SHARED_SEED if STAGE_READS[stage][2] == "shared" else self.config.seed

    def schedule(self, stage: str, steps: int, lr: float) -> Schedule:
        p = self.profile
        return Schedule(max_steps=steps, lr=lr, batch_size=p.batch_size, seed=self.seed_of(stage),
                        checkpoint_every=p.checkpoint_every, eval_every=p.eval_every)

    def budget(self, step: str, n_examples: int) -> int:
        """Optimiser steps of task-distillation step `step` ("td1" or "td2"): its *_steps, or its
        *_epochs over n_examples resolved once (recorded in the stage's key and result)."""
        steps, epochs = getattr(self.profile, f"{step}_steps"), getattr(self.profile, f"{step}_epochs")
        if steps is None and epochs is None:
            raise ValueError(f"profile sets neither {step}_steps nor {step}_epochs; set one "
                             f"(--override {step}_steps=1500)")
        return steps if steps is not None else max(1, math.ceil(epochs * n_examples / self.profile.batch_size))


def stage_key(run: Run, name: str, **more) -> dict:
    """The key of stage `name`: what it reads of the profile and the config, its seed, and `more` (the
    keys of the stages it starts from, its step budget)."""
    fields, config_fields, _ = STAGE_READS[name]
    return {"stage": name, "seed": run.seed_of(name), **{f: getattr(run.profile, f) for f in fields},
            **{f: getattr(run.config, f) for f in config_fields}, **more}


def _run(run: Run, name: str, body, main_only: bool = False, **more):
    """run_stage with the stage's key; the body starts from RNGs seeded by (seed, stage), so a stage gives
    the same bits whether its predecessors were just trained or loaded from the store."""
    def seeded(stage_dir: Path) -> dict:
        seed_everything(int(config_hash([run.seed_of(name), name]), 16) % 2**31)
        return body(stage_dir)

    run.stages[name] = run_stage(run.store, name, stage_key(run, name, **more), seeded, run.accelerator,
                                 main_only=main_only)
    return run.stages[name]


def prepare(config: RunConfig, out: str | Path, store: str | Path | None = None, force: bool = False) -> Run:
    """Claim the run folder, load and tokenise the task, and set up the accelerator."""
    out = Path(out)
    profile = config.resolved_profile()
    accelerator = make_accelerator(config.precision)  # first: a bad --precision fails before any folder is made
    seed_everything(config.seed)
    claim_run_folder(out, config.to_dict(), force=force, write=accelerator.is_main_process)
    _, tokenizer = load_teacher(config.teacher, tokenizer_only=True)
    try:
        check_vocab_compatible(tokenizer, load_teacher(config.teacher, config_only=True))
    except VocabularyMismatchError as error:
        raise VocabularyMismatchError(
            f"teacher {config.teacher!r}: its tokenizer has {len(tokenizer):,} entries but its model's vocabulary "
            f"has {load_teacher(config.teacher, config_only=True).vocab_size:,}; the tokenizer and the weights must "
            "come from the same checkpoint (save both with save_pretrained into one folder)"
        ) from error
    # The data split is fixed (seed 0, the committed manifest); config.seed varies only training.
    info, task = load_task(config.task)
    task = _limit(task, profile)
    store = Path(store) if store else out / "stages"
    with accelerator.main_process_first():  # the main process writes the token cache, the others read it
        tokenized = tokenize_task(task, tokenizer, profile.max_seq_len, cache_dir=store / "cache")
    return Run(config, out, store, profile, accelerator, info, task, tokenized, tokenizer, collator(tokenizer))


def _limit(task, profile):
    """Apply the profile's size limits (the `ci` profile trains on a small, fixed subset)."""
    limits = {"train": profile.train_limit, "dev": profile.eval_limit, "test": profile.eval_limit}
    for split, limit in limits.items():
        if limit is not None and len(task[split]) > limit:
            task[split] = task[split].shuffle(seed=0).select(range(limit))
    return task


def _loader(run: Run, split: str):
    """This process's share of a split (all of it with one process), in batches of eval_batch_size."""
    from torch.utils.data import DataLoader

    from .evaluate import shard

    return DataLoader(shard(run.tokenized[split], run.accelerator), batch_size=run.profile.eval_batch_size,
                      collate_fn=run.collate)


def _dev_score(run: Run, model) -> float:
    """The dev metric, each process scoring its shard and the predictions gathered in dataset order."""
    from .evaluate import evaluate_model

    return evaluate_model(model, _loader(run, "dev"), run.info.metric, device=run.accelerator.device,
                          accelerator=run.accelerator)["metric"]


def _main(run: Run) -> bool:
    """Whether this process writes files (the main process; the only one in a single-process run)."""
    return run.accelerator.is_main_process


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
    if _main(run):
        (stage_dir / "history.json").write_text(json.dumps(result.history))
    best_step = max((row for row in result.history if "dev" in row), key=lambda row: row["dev"])["step"]
    return {"dev_metric": result.best_score, "best_step": best_step, **result.summary(schedule)}


def _label_model(model, run: Run):
    names = list(run.info.label_names)
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {name: i for i, name in enumerate(names)}
    return model


def stage_teacher(run: Run):
    """Stage 1: fine-tune the teacher on the task; keep the checkpoint with the best dev metric."""
    def body(stage_dir: Path) -> dict:
        teacher, _ = load_teacher(run.config.teacher, num_labels=run.info.num_labels)
        _label_model(teacher, run)
        train_set = run.tokenized["train"]
        steps = max(1, math.ceil(run.profile.teacher_epochs * len(train_set) / run.profile.batch_size))
        schedule = run.schedule("teacher", steps, run.profile.teacher_lr)
        return _fit_and_select(run, stage_dir, teacher, FineTuning(teacher), train_set, schedule, "teacher")

    return _run(run, "teacher", body)


def _mapping(run: Run, teacher_layers: int, student_layers: int) -> list[int]:
    return layer_mapping(student_layers, teacher_layers, run.config.mapping_strategy())


def _layer_loss(run: Run, student_config, teacher_config, init_from: Path | None = None):
    mapping = _mapping(run, teacher_config.num_hidden_layers, student_config.num_hidden_layers)
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
    if _main(run):
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


def stage_mlm(run: Run):
    """Stage 2a: the masked LM that proposes replacements for single-piece words (Algorithm 1).

    Offline there is no pretrained MLM head, so the teacher's encoder gets a new tied head and the
    whole model is trained on the corpus, the new head at a higher learning rate than the pretrained
    body (DESIGN.md section 8); held-out articles measure its top-1/top-K recall of content words, each
    hidden from the whole input (one segment).
    """
    from .augment.mlm import build_mlm_from_encoder, masked_word_recall, train_mlm
    from .data.corpus import held_out_split

    def body(stage_dir: Path) -> dict:
        texts = _corpus_texts(run)
        train_texts, held_out = held_out_split(texts, fraction=0.05, seed=SHARED_SEED)
        model, tokenizer = build_mlm_from_encoder(resolve_teacher_path(run.config.teacher))
        p = run.profile
        losses = train_mlm(model, tokenizer, train_texts, steps=p.mlm_steps, lr=p.mlm_lr, head_lr=p.mlm_head_lr,
                           batch_size=p.mlm_batch_size, seq_len=p.corpus_seq_len, seed=SHARED_SEED)
        recall = masked_word_recall(model, tokenizer, held_out, k=p.aug_k, seed=SHARED_SEED)
        save_model_atomic(model, stage_dir / "model", tokenizer)
        (stage_dir / "history.json").write_text(json.dumps([{"step": i + 1, "total": v} for i, v in enumerate(losses)]))
        return {"recall": {**recall, "input": "single segment, the word hidden"},
                "final_loss": losses[-1] if losses else None, "steps": p.mlm_steps,
                "examples_seen": p.mlm_steps * p.mlm_batch_size, "peak_lr": {"body": p.mlm_lr, "head": p.mlm_head_lr}}

    return _run(run, "mlm", body, main_only=True)


def stage_general_distillation(run: Run):
    """Stage 2b (the paper's first stage): intermediate-layer distillation from the pretrained, not
    fine-tuned, teacher on the general corpus (Section 3.3, "General distillation")."""
    from .data.corpus import pack_corpus

    def body(stage_dir: Path) -> dict:
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

    return _run(run, "general_distillation", body)


def stage_augmentation(run: Run):
    """Stage 3: Algorithm 1 over the training set (p_t, K, N_a from the profile), with provenance."""
    from .augment.algorithm import augment_dataset, replacement_counts
    from .augment.mlm import load_pretrained_mlm
    from .augment.wordvectors import WordVectors

    def body(stage_dir: Path) -> dict:
        p = run.profile
        mlm, mlm_tokenizer = None, run.tokenizer
        if p.aug_mlm:
            mlm, mlm_tokenizer = load_pretrained_mlm(run.config.mlm or run.stages["mlm"][0] / "model")
        vectors = WordVectors.from_text_file(run.config.glove) if run.config.glove else WordVectors.from_glove_package()
        augmented = augment_dataset(run.task["train"], "text", "label", mlm=mlm, tokenizer=mlm_tokenizer,
                                    word_vectors=vectors, p=p.aug_p, k=p.aug_k, n_copies=p.aug_copies,
                                    seed=run.config.seed, use_mlm=p.aug_mlm,
                                    pair_with_original=p.aug_pair_with_original)
        augmented.save_to_disk(str(stage_dir / "dataset"))
        originals = len(run.task["train"])
        return {"examples": len(augmented), "originals": originals, "replacements": replacement_counts(augmented),
                "distinct_copies_mean": round((len(augmented) - originals) / originals, 3)}

    return _run(run, "augmentation", body, main_only=True,
                mlm_stage=run.key_of("mlm") if run.profile.aug_mlm and not run.config.mlm else None)


def _distillation_data(run: Run):
    """The task distillation's training set: augmented (tokenised once, cached) or the original."""
    if "augmentation" not in run.stages:
        return run.tokenized["train"]
    from datasets import DatasetDict, load_from_disk

    stage_dir = run.stages["augmentation"][0]
    augmented = load_from_disk(str(stage_dir / "dataset")).select_columns(["text", "label"])
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


def _student_stages(run: Run) -> dict:
    """The keys of the stages a task-stage student starts from or learns from."""
    return {name: run.key_of(name) for name in ("teacher", "general_distillation", "augmentation")}


def stage_task_distillation_1(run: Run):
    """Stage 4, step 1: intermediate layers from the fine-tuned teacher on the (augmented) task data."""
    dataset = _distillation_data(run)
    steps = run.budget("td1", len(dataset))

    def body(stage_dir: Path) -> dict:
        gd = run.stages.get("general_distillation")
        student = _classifier_from(run, gd[0] / "model" if gd else None, run.info.num_labels)
        schedule = run.schedule("task_distillation_1", steps, run.profile.td1_lr)
        return _distil_intermediate(run, stage_dir, _label_model(student, run), _finetuned_teacher(run), dataset,
                                    schedule, gd[0] if gd else None, "task distillation 1")

    return _run(run, "task_distillation_1", body, steps=steps, **_student_stages(run))


def stage_task_distillation_2(run: Run):
    """Stage 4, step 2: prediction-layer distillation (Eq. 10), dev scored every eval_every steps and the
    best kept. Without step 1 (prediction-only KD) it trains step 1's budget too, so the variant
    changes what is learned, not how long."""
    dataset = _distillation_data(run)
    steps = run.budget("td2", len(dataset))
    if "task_distillation_1" not in run.stages:
        steps += run.budget("td1", len(dataset))

    def body(stage_dir: Path) -> dict:
        start = run.stages.get("task_distillation_1") or run.stages.get("general_distillation")
        student = _label_model(_classifier_from(run, start[0] / "model" if start else None, run.info.num_labels), run)
        teacher = _finetuned_teacher(run)
        schedule = run.schedule("task_distillation_2", steps, run.profile.td2_lr)
        objective = PredictionDistillation(student, teacher, run.profile.temperature)
        return _fit_and_select(run, stage_dir, student, objective, _with_teacher_logits(run, dataset, teacher),
                               schedule, "task distillation 2")

    return _run(run, "task_distillation_2", body, steps=steps, td1=run.key_of("task_distillation_1"),
                **_student_stages(run))


def stage_finetune(run: Run):
    """Baselines: the student fine-tuned on the labels, from the general student ("w/o TD") or from
    random weights ("no distillation"), for step 1's plus step 2's budget (one stage replaces both)."""
    dataset = _distillation_data(run)
    steps = run.budget("td1", len(dataset)) + run.budget("td2", len(dataset))

    def body(stage_dir: Path) -> dict:
        gd = run.stages.get("general_distillation")
        student = _label_model(_classifier_from(run, gd[0] / "model" if gd else None, run.info.num_labels), run)
        schedule = run.schedule("finetune", steps, run.profile.finetune_lr)
        return _fit_and_select(run, stage_dir, student, FineTuning(student), dataset, schedule, "student fine-tuning")

    return _run(run, "finetune", body, steps=steps, **_student_stages(run))


def run_stages(run: Run) -> Path:
    """Run the stages the recipe asks for; returns the folder of the final student's stage."""
    c = run.config
    stage_teacher(run)
    if c.distillation and c.intermediate_distillation and c.general_distillation:
        stage_general_distillation(run)
    if c.augmentation:
        if run.profile.aug_mlm and not c.mlm:
            stage_mlm(run)
        stage_augmentation(run)
    if not (c.distillation and c.task_distillation):
        return stage_finetune(run)[0]
    if c.intermediate_distillation:
        stage_task_distillation_1(run)
    return stage_task_distillation_2(run)[0]


def run(config: RunConfig, out: str | Path = "runs/default", store: str | Path | None = None,
        force: bool = False) -> dict:
    """The whole pipeline: stages, evaluation, report and export. Returns the metrics dict."""
    from .summary import finalize

    pipeline_run = prepare(config, out, store=store, force=force)
    final_stage = run_stages(pipeline_run)
    return finalize(pipeline_run, final_stage)
