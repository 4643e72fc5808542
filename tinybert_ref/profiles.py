"""Run profiles: `ci`, `laptop` (default) and `paper`. A profile changes sizes and step counts only,
never the code path (DESIGN.md section 3).

Pick one with `get_profile(name)`; `None` reads the `TINYBERT_PROFILE` environment variable and falls
back to `laptop`. Profiles are frozen dataclasses; `override(profile, **changes)` checks the keys.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

__all__ = ["Profile", "PROFILES", "get_profile", "override", "DEFAULT_PROFILE"]

DEFAULT_PROFILE = "laptop"


@dataclass(frozen=True)
class Profile:
    """Sizes and step counts of one run. Hyperparameters named as in the paper where it names them."""

    name: str
    seed: int = 42
    # data
    train_limit: int | None = None  # keep only this many training examples (None = all)
    eval_limit: int | None = None  # keep only this many dev/test examples
    max_seq_len: int = 64  # task sequences (headlines are ~5 words; padding is dynamic per batch)
    corpus_seq_len: int = 128  # general-corpus sequences (packed to fixed length)
    corpus_limit: int | None = None  # number of packed corpus sequences used (None = all)
    batch_size: int = 32
    checkpoint_every: int = 100  # optimiser steps between atomic checkpoints of a training stage
    eval_batch_size: int = 64
    # stage 1: teacher fine-tuning
    teacher_epochs: float = 3.0
    teacher_lr: float = 5e-5
    # stage 2: masked LM for augmentation (offline: trained on the corpus)
    mlm_steps: int = 150
    mlm_lr: float = 1e-4
    # stage 3: general distillation (intermediate layers)
    gd_steps: int = 300
    gd_lr: float = 3e-4
    # stage 4: data augmentation (Algorithm 1)
    aug_copies: int = 10  # N_a; the paper uses 20
    aug_p: float = 0.4  # p_t
    aug_k: int = 15  # K
    # stage 5: task distillation
    td1_epochs: float = 3.0  # step 1: intermediate layers on augmented data
    td1_lr: float = 3e-4
    td2_epochs: float = 3.0  # step 2: prediction layer
    td2_lr: float = 3e-5
    temperature: float = 1.0  # t in Eq. 10
    # student fine-tuning baseline (ablation "no distillation")
    finetune_epochs: float = 6.0
    finetune_lr: float = 1e-4
    # evaluation
    latency_batch: int = 1
    latency_seq_len: int = 64
    latency_repeats: int = 20


PROFILES: dict[str, Profile] = {
    # every notebook in well under 3 minutes, the whole pipeline in under 3 minutes, on 2 CPU cores
    "ci": Profile(
        name="ci",
        train_limit=96,
        eval_limit=64,
        corpus_seq_len=64,
        corpus_limit=64,
        batch_size=16,
        checkpoint_every=2,
        teacher_epochs=3.0,
        mlm_steps=4,
        gd_steps=4,
        aug_copies=2,
        aug_k=5,
        td1_epochs=1.0,
        td2_epochs=1.0,
        finetune_epochs=1.0,
        latency_repeats=3,
    ),
    # meaningful results on a CPU in under 45 minutes
    "laptop": Profile(name="laptop"),
    # the paper's hyperparameters, for a GPU (Section 4.2 / official code)
    "paper": Profile(
        name="paper",
        corpus_seq_len=128,
        batch_size=32,
        teacher_epochs=3.0,
        teacher_lr=2e-5,
        mlm_steps=2000,
        gd_steps=20000,
        gd_lr=1e-4,
        aug_copies=20,
        td1_epochs=10.0,
        td1_lr=5e-5,
        td2_epochs=3.0,
        td2_lr=3e-5,
        finetune_epochs=3.0,
        finetune_lr=2e-5,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """Return the named profile; `None` reads TINYBERT_PROFILE, default `laptop`."""
    name = name or os.environ.get("TINYBERT_PROFILE") or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return PROFILES[name]


def override(profile: Profile, **changes) -> Profile:
    """A copy of `profile` with `changes`; an unknown key or a wrong type fails and lists the valid keys."""
    fields = {f.name: f for f in dataclasses.fields(Profile)}
    for key, value in changes.items():
        if key not in fields:
            raise ValueError(f"unknown profile key {key!r}; valid keys: {', '.join(fields)}")
        default = getattr(PROFILES["laptop"], key)
        if default is not None and value is not None and not isinstance(value, (type(default), int)):
            raise TypeError(f"profile key {key!r} takes {type(default).__name__}, got {value!r}")
    return dataclasses.replace(profile, **changes)
