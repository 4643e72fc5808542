"""The two-stage TinyBERT pipeline (paper Section 3.3, Figure 1), one resumable stage at a time.

    teacher fine-tuning -> masked LM -> general distillation -> data augmentation
        -> task distillation step 1 (intermediate layers) -> step 2 (prediction layer)
        -> evaluation, report and export

`STAGES` declares each stage once: its body (in `stages.py`), what its key reads, its seed and whether
it runs on the main process only. Each runs through `runfolder.run_stage` under that key, so it is
cached by what it depends on, resumes after a kill, and is shared by ablation variants. `run(config, out)` is what `tinybert-ref run` calls; the
notebooks call the same function (or single stages) with the `ci` profile.

Several processes (`torchrun` / `accelerate launch`, DESIGN.md section 7) run the same functions: every
process calls every stage; the training stages shard the global batches and the dev/test sets over the
processes, the masked LM and augmentation run on the main process, and only the main process writes
files (run folder, stage records, models, reports). A single process is the smallest case of that path.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import stages
from .config import OMITTED_AT_DEFAULT, RunConfig, check_inputs
from .data.tasks import load_task
from .data.tokenize import collator, tokenize_task
from .models import load_teacher
from .runfolder import claim_run_folder, config_hash, run_stage
from .runtime import seed_everything
from .train import Schedule, make_accelerator

__all__ = ["Run", "Stage", "STAGES", "prepare", "run", "run_stages", "SHARED_SEED", "CODE_VERSION", "stage_key",
           "stage_teacher", "stage_mlm", "stage_general_distillation", "stage_augmentation",
           "stage_task_distillation_1", "stage_task_distillation_2", "stage_finetune"]

log = logging.getLogger(__name__)
# The data split, the fine-tuned teacher and the masked LM are made once, with this seed, and shared by
# every training seed (`--seeds`): a seed's retention is its student over the one teacher.
SHARED_SEED = 42
_TASK_DATA = ("train_limit", "eval_limit", "max_seq_len")
_TASK = ("task", "text_columns")  # what names the task's data (text_columns: in a key only when set)
_LOSSES = ("embedding_loss", "attention_loss", "hidden_loss")
# Every stage key holds this, so a store never serves a stage that older code made under the same settings.
# Bump it with any change to what a stage makes (the training loop, the data order, a stage's body).
# 2: the loop of commit 416c015 (transformers' linear schedule, whose warm-up starts at lr 0, and a
# RandomSampler batch order); stages made before it trained differently under the same keys.
CODE_VERSION = 2


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
        return SHARED_SEED if STAGES[stage].shared_seed else self.config.seed

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


def stage_key(run: Run, name: str) -> dict:
    """The key of stage `name`: the code version, what it reads of the profile and the config (`STAGES`), its
    seed, and its inputs (the keys of the stages it starts from, its resolved step budget)."""
    stage = STAGES[name]
    config = {f: getattr(run.config, f) for f in stage.config_fields}
    config = {f: v for f, v in config.items() if not (f in OMITTED_AT_DEFAULT and v is None)}
    profile = {f: getattr(run.profile, f) for f in stage.profile_fields}
    return {"stage": name, "code": CODE_VERSION, "seed": run.seed_of(name), **profile, **config, **stage.inputs(run)}


def _run_stage(run: Run, name: str) -> tuple[Path, dict]:
    """Stage `name` made (or loaded from the store) under its key. The body starts from RNGs seeded by
    (seed, stage), so a stage gives the same bits whether its predecessors were just trained or loaded."""
    stage, key = STAGES[name], stage_key(run, name)

    def seeded(stage_dir: Path) -> dict:
        seed_everything(int(config_hash([run.seed_of(name), name]), 16) % 2**31)
        return stage.body(run, stage_dir, key)

    run.stages[name] = run_stage(run.store, name, key, seeded, run.accelerator, main_only=stage.main_only)
    return run.stages[name]


def prepare(config: RunConfig, out: str | Path, store: str | Path | None = None, force: bool = False) -> Run:
    """Check every input, set up the accelerator, load the task and the tokenizer, then claim the run
    folder: bad input fails before any folder is made. Tokenises the task (cached in the store)."""
    out = Path(out)
    profile = config.resolved_profile()
    check_inputs(config)
    accelerator = make_accelerator(config.precision)  # fp16 on a CPU fails here
    _, tokenizer = load_teacher(config.teacher, tokenizer_only=True)
    # The data split is fixed (seed 0, the committed manifest); config.seed varies only training.
    info, task = load_task(config.task, **config.task_options())
    task = _limit(task, profile)
    seed_everything(config.seed)
    claim_run_folder(out, config.to_dict(), force=force, write=accelerator.is_main_process)
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


# ------------------------------------------------------- what a stage's key holds beyond what it reads
def _augmentation_inputs(run: Run) -> dict:
    return {"mlm_stage": run.key_of("mlm") if run.profile.aug_mlm and not run.config.mlm else None}


def _student_inputs(run: Run, *budgets: str) -> dict:
    """A task stage's step budget (the sum of `budgets`, "td1"/"td2", over its training set) and the
    keys of the stages its student starts from or learns from."""
    size = len(stages.distillation_data(run))
    return {"steps": sum(run.budget(step, size) for step in budgets),
            **{name: run.key_of(name) for name in ("teacher", "general_distillation", "augmentation")}}


def _td2_inputs(run: Run) -> dict:
    # Without step 1 (prediction-only KD) step 2 trains step 1's budget too: the variant changes what is
    # learned, not how long.
    budgets = ("td2",) if "task_distillation_1" in run.stages else ("td2", "td1")
    return {**_student_inputs(run, *budgets), "td1": run.key_of("task_distillation_1")}


@dataclass(frozen=True)
class Stage:
    """One stage of the recipe: its body, what its key reads, its seed and where it runs.

    A stage's key holds exactly what it reads, so changing step 2's learning rate re-runs step 2 only,
    and another task reuses general distillation and the masked LM."""

    body: Callable[[Run, Path, dict], dict]  # body(run, stage_dir, key) -> its result (DONE.json)
    profile_fields: tuple[str, ...]
    config_fields: tuple[str, ...]
    shared_seed: bool = False  # made once with SHARED_SEED for every training seed (else the run's seed)
    main_only: bool = False  # runs on the main process, the others wait for it (no collective inside)
    inputs: Callable[[Run], dict] = lambda run: {}  # more of its key: predecessors' keys, step budget


STAGES: dict[str, Stage] = {
    "teacher": Stage(stages.teacher,
                     _TASK_DATA + ("batch_size", "teacher_epochs", "teacher_lr", "eval_every"),
                     ("teacher", *_TASK, "precision"), shared_seed=True),
    "mlm": Stage(stages.mlm,
                 ("corpus_seq_len", "mlm_steps", "mlm_batch_size", "mlm_lr", "mlm_head_lr", "aug_k"),
                 ("teacher", "corpus"), shared_seed=True, main_only=True),
    "general_distillation": Stage(stages.general_distillation,
                                  ("corpus_seq_len", "corpus_limit", "batch_size", "gd_steps", "gd_lr"),
                                  ("teacher", "corpus", "student", "mapping", "precision") + _LOSSES),
    "augmentation": Stage(stages.augmentation,
                          ("train_limit", "aug_copies", "aug_p", "aug_k", "aug_mlm", "aug_pair_with_original"),
                          (*_TASK, "mlm", "glove"), main_only=True, inputs=_augmentation_inputs),
    "task_distillation_1": Stage(stages.task_distillation_1,
                                 _TASK_DATA + ("batch_size", "td1_lr"),
                                 (*_TASK, "student", "mapping", "precision") + _LOSSES,
                                 inputs=lambda run: _student_inputs(run, "td1")),
    "task_distillation_2": Stage(stages.task_distillation_2,
                                 _TASK_DATA + ("batch_size", "td2_lr", "temperature", "eval_every"),
                                 (*_TASK, "student", "precision"), inputs=_td2_inputs),
    "finetune": Stage(stages.finetune,
                      _TASK_DATA + ("batch_size", "finetune_lr", "eval_every"),
                      (*_TASK, "student", "precision"), inputs=lambda run: _student_inputs(run, "td1", "td2")),
}


# ------------------------------------------------------------------------------------ the stages
def _stage_function(body: Callable[[Run, Path, dict], dict]) -> Callable[[Run], tuple[Path, dict]]:
    """stage_<name>(run) -> (stage_dir, result): the stage made, or loaded from the store, and recorded in
    run.stages. It carries the body's docstring, and its source (`show_source`) is the body's."""
    def stage(run: Run) -> tuple[Path, dict]:
        return _run_stage(run, body.__name__)

    functools.update_wrapper(stage, body, assigned=("__doc__",))  # and __wrapped__: the source shown
    stage.__name__ = stage.__qualname__ = f"stage_{body.__name__}"
    stage.__signature__ = inspect.signature(stage, follow_wrapped=False)
    return stage


stage_teacher = _stage_function(stages.teacher)
stage_mlm = _stage_function(stages.mlm)
stage_general_distillation = _stage_function(stages.general_distillation)
stage_augmentation = _stage_function(stages.augmentation)
stage_task_distillation_1 = _stage_function(stages.task_distillation_1)
stage_task_distillation_2 = _stage_function(stages.task_distillation_2)
stage_finetune = _stage_function(stages.finetune)


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
