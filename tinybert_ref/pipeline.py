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

import dataclasses
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
from .objective import TransformerDistillationLoss
from .runfolder import claim_run_folder, config_hash, run_stage, save_model_atomic
from .runtime import seed_everything
from .train import (
    FineTuning,
    IntermediateDistillation,
    PredictionDistillation,
    Schedule,
    make_accelerator,
    train,
)

__all__ = ["Run", "prepare", "run", "STAGES"]

log = logging.getLogger(__name__)
STAGES = ("teacher", "mlm", "general_distillation", "augmentation", "task_distillation_1",
          "task_distillation_2", "finetune")


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

    @property
    def base_key(self) -> dict:
        return {"teacher": self.config.teacher, "task": self.config.task, "seed": self.config.seed,
                "profile": dataclasses.asdict(self.profile), "precision": self.config.precision}

    def key_of(self, name: str) -> str:
        return self.stages[name][0].name if name in self.stages else "none"

    def steps(self, epochs: float, n_examples: int) -> int:
        return max(1, math.ceil(epochs * n_examples / self.profile.batch_size))

    def schedule(self, epochs: float, n_examples: int, lr: float) -> Schedule:
        return Schedule(max_steps=self.steps(epochs, n_examples), lr=lr, batch_size=self.profile.batch_size,
                        seed=self.config.seed, checkpoint_every=self.profile.checkpoint_every)


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
    """Train `objective`, keeping the model with the best dev score in stage_dir/model."""
    def save_best():
        save_model_atomic(run.accelerator.unwrap_model(model), stage_dir / "model", run.tokenizer)

    result = train(objective, dataset, run.collate, schedule, run.accelerator, stage_dir / "checkpoint",
                   eval_fn=lambda: _dev_score(run, model), on_best=save_best, desc=desc)
    if _main(run):
        (stage_dir / "history.json").write_text(json.dumps(result.history))
    return {"dev_metric": result.best_score, "steps": result.steps}


def _label_model(model, run: Run):
    names = list(run.info.label_names)
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {name: i for i, name in enumerate(names)}
    return model


def stage_teacher(run: Run):
    """Stage 1: fine-tune the teacher on the task; keep the epoch with the best dev metric."""
    def body(stage_dir: Path) -> dict:
        teacher, _ = load_teacher(run.config.teacher, num_labels=run.info.num_labels)
        _label_model(teacher, run)
        train_set = run.tokenized["train"]
        schedule = run.schedule(run.profile.teacher_epochs, len(train_set), run.profile.teacher_lr)
        return _fit_and_select(run, stage_dir, teacher, FineTuning(teacher), train_set, schedule, "teacher")

    run.stages["teacher"] = run_stage(run.store, "teacher", {**run.base_key, "stage": "teacher"}, body,
                                      run.accelerator)
    return run.stages["teacher"]


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
    return {"steps": result.steps, "final_loss": result.history[-1]["total"], "mapping": layer_loss.mapping}


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
    whole model is trained on the corpus; held-out articles measure its top-1/top-K recall.
    """
    from .augment.mlm import build_mlm_from_encoder, masked_word_recall, train_mlm
    from .data.corpus import held_out_split

    def body(stage_dir: Path) -> dict:
        texts = _corpus_texts(run)
        train_texts, held_out = held_out_split(texts, fraction=0.05, seed=run.config.seed)
        model, tokenizer = build_mlm_from_encoder(resolve_teacher_path(run.config.teacher))
        p = run.profile
        losses = train_mlm(model, tokenizer, train_texts, steps=p.mlm_steps, lr=p.mlm_lr,
                           batch_size=16, seq_len=p.corpus_seq_len, seed=run.config.seed)
        recall = masked_word_recall(model, tokenizer, held_out, k=p.aug_k, seed=run.config.seed)
        save_model_atomic(model, stage_dir / "model", tokenizer)
        (stage_dir / "history.json").write_text(json.dumps([{"step": i + 1, "total": v} for i, v in enumerate(losses)]))
        return {"recall": recall, "final_loss": losses[-1] if losses else None}

    key = {**run.base_key, "stage": "mlm", "corpus": run.config.corpus}
    run.stages["mlm"] = run_stage(run.store, "mlm", key, body, run.accelerator, main_only=True)
    return run.stages["mlm"]


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
        schedule = Schedule(max_steps=run.profile.gd_steps, lr=run.profile.gd_lr, batch_size=run.profile.batch_size,
                            seed=run.config.seed, checkpoint_every=run.profile.checkpoint_every)
        result = _distil_intermediate(run, stage_dir, student, teacher, corpus, schedule, None, "general distillation")
        return {**result, "corpus_sequences": len(corpus)}

    c = run.config
    key = {**run.base_key, "stage": "gd", "corpus": c.corpus, "student": c.student, "mapping": c.mapping,
           "losses": [c.embedding_loss, c.attention_loss, c.hidden_loss]}
    run.stages["general_distillation"] = run_stage(run.store, "general_distillation", key, body, run.accelerator)
    return run.stages["general_distillation"]


def stage_augmentation(run: Run):
    """Stage 3: Algorithm 1 over the training set (p_t, K, N_a from the profile), with provenance."""
    from .augment.algorithm import augment_dataset
    from .augment.mlm import load_pretrained_mlm
    from .augment.wordvectors import WordVectors

    def body(stage_dir: Path) -> dict:
        if run.config.mlm:
            mlm, mlm_tokenizer = load_pretrained_mlm(run.config.mlm)
        else:
            mlm, mlm_tokenizer = load_pretrained_mlm(run.stages["mlm"][0] / "model")
        vectors = WordVectors.from_text_file(run.config.glove) if run.config.glove else WordVectors.from_glove_package()
        p = run.profile
        augmented = augment_dataset(run.task["train"], "text", "label", mlm=mlm, tokenizer=mlm_tokenizer,
                                    word_vectors=vectors, p=p.aug_p, k=p.aug_k, n_copies=p.aug_copies,
                                    seed=run.config.seed)
        augmented.save_to_disk(str(stage_dir / "dataset"))
        return {"examples": len(augmented), "originals": len(run.task["train"])}

    key = {**run.base_key, "stage": "augmentation", "mlm": run.config.mlm or run.key_of("mlm"),
           "glove": run.config.glove}
    run.stages["augmentation"] = run_stage(run.store, "augmentation", key, body, run.accelerator, main_only=True)
    return run.stages["augmentation"]


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


def _student_key(run: Run, stage: str, **more) -> dict:
    c = run.config
    return {**run.base_key, "stage": stage, "student": c.student, "mapping": c.mapping,
            "losses": [c.embedding_loss, c.attention_loss, c.hidden_loss], "teacher_stage": run.key_of("teacher"),
            "gd": run.key_of("general_distillation"), "augmentation": run.key_of("augmentation"), **more}


def stage_task_distillation_1(run: Run):
    """Stage 4, step 1: intermediate layers from the fine-tuned teacher on the (augmented) task data."""
    def body(stage_dir: Path) -> dict:
        gd = run.stages.get("general_distillation")
        student = _classifier_from(run, gd[0] / "model" if gd else None, run.info.num_labels)
        dataset = _distillation_data(run)
        schedule = run.schedule(run.profile.td1_epochs, len(dataset), run.profile.td1_lr)
        return _distil_intermediate(run, stage_dir, _label_model(student, run), _finetuned_teacher(run), dataset,
                                    schedule, gd[0] if gd else None, "task distillation 1")

    run.stages["task_distillation_1"] = run_stage(run.store, "task_distillation_1", _student_key(run, "td1"), body,
                                                  run.accelerator)
    return run.stages["task_distillation_1"]


def stage_task_distillation_2(run: Run):
    """Stage 4, step 2: prediction-layer distillation (Eq. 10) with dev-set model selection."""
    def body(stage_dir: Path) -> dict:
        start = run.stages.get("task_distillation_1") or run.stages.get("general_distillation")
        student = _label_model(_classifier_from(run, start[0] / "model" if start else None, run.info.num_labels), run)
        dataset = _distillation_data(run)
        schedule = run.schedule(run.profile.td2_epochs, len(dataset), run.profile.td2_lr)
        objective = PredictionDistillation(student, _finetuned_teacher(run), run.profile.temperature)
        return _fit_and_select(run, stage_dir, student, objective, dataset, schedule, "task distillation 2")

    key = _student_key(run, "td2", td1=run.key_of("task_distillation_1"))
    run.stages["task_distillation_2"] = run_stage(run.store, "task_distillation_2", key, body, run.accelerator)
    return run.stages["task_distillation_2"]


def stage_finetune(run: Run):
    """Baselines: the student fine-tuned on the labels, from the general student ("w/o TD") or from
    random weights ("no distillation")."""
    def body(stage_dir: Path) -> dict:
        gd = run.stages.get("general_distillation")
        student = _label_model(_classifier_from(run, gd[0] / "model" if gd else None, run.info.num_labels), run)
        dataset = _distillation_data(run)
        schedule = run.schedule(run.profile.finetune_epochs, len(dataset), run.profile.finetune_lr)
        return _fit_and_select(run, stage_dir, student, FineTuning(student), dataset, schedule, "student fine-tuning")

    run.stages["finetune"] = run_stage(run.store, "finetune", _student_key(run, "finetune"), body, run.accelerator)
    return run.stages["finetune"]


def run_stages(run: Run) -> Path:
    """Run the stages the recipe asks for; returns the folder of the final student's stage."""
    c = run.config
    stage_teacher(run)
    if c.distillation and c.intermediate_distillation and c.general_distillation:
        stage_general_distillation(run)
    if c.augmentation:
        if not c.mlm:
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


def run_key(config: RunConfig) -> str:
    """A short hash of a configuration (used to name ablation folders)."""
    return config_hash(config.to_dict())
