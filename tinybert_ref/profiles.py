"""Run profiles: `ci`, `workshop`, `laptop` (default) and `paper`. A profile changes sizes and step
counts (DESIGN.md section 3), and one recipe choice: where augmentation takes single-piece replacements
(`aug_mlm`). `laptop` and `workshop` use GloVe for every word, because offline the masked LM is one the
pipeline trains on 2,225 articles and GloVe-only scored higher on dev over 3 seeds
(benchmarks/results/retention_seeds.json); `ci` keeps the masked LM so that the tests cover Algorithm 1's
whole path, and `paper` keeps it as the paper does. The student presets (model sizes) live here too.

Pick one with `get_profile(name)`; `None` reads the `TINYBERT_PROFILE` environment variable and falls
back to `laptop`. Profiles are frozen dataclasses; `override(profile, **changes)` checks the keys.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

__all__ = ["Profile", "PROFILES", "STUDENT_PRESETS", "get_profile", "override", "parse_overrides", "DEFAULT_PROFILE"]

DEFAULT_PROFILE = "laptop"
# Student shapes in BertConfig names (TinyBERT, Section 4.2). "small" is a CPU preset: >= 4.5x fewer
# parameters than the MiniLM teacher (22.7M); "medium" (4 x 192) sits between it and tinybert4, so the
# README can show retention against size. `tinybert_ref.models.build_student` builds them.
STUDENT_PRESETS: dict[str, dict] = {
    "tinybert4": {"num_hidden_layers": 4, "hidden_size": 312, "intermediate_size": 1200, "num_attention_heads": 12},
    "tinybert6": {"num_hidden_layers": 6, "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
    "small": {"num_hidden_layers": 4, "hidden_size": 120, "intermediate_size": 480, "num_attention_heads": 12},
    "medium": {"num_hidden_layers": 4, "hidden_size": 192, "intermediate_size": 768, "num_attention_heads": 12},
}
# fields that count examples or steps per batch, evaluation or checkpoint: a 0 would divide by zero later
_AT_LEAST_ONE = ("batch_size", "eval_batch_size", "mlm_batch_size", "checkpoint_every", "eval_every", "max_seq_len",
                 "corpus_seq_len")


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
    eval_every: int = 50  # optimiser steps between dev scores where a stage keeps its best (teacher, step 2)
    # stage 1: teacher fine-tuning (shared by every seed and variant)
    # 10 epochs scores higher on dev (benchmarks.teacher_budget), but its students do not (README, "The recipe")
    teacher_epochs: float = 3.0
    teacher_lr: float = 5e-5
    # stage 2: masked LM for augmentation (offline: trained on the corpus; shared by every seed)
    mlm_steps: int = 150
    mlm_batch_size: int = 32
    mlm_lr: float = 2e-4  # the pretrained encoder
    mlm_head_lr: float = 2e-3  # the new head starts from random weights: it needs ~10x the body's rate
    # stage 3: general distillation (intermediate layers)
    gd_steps: int = 300
    gd_lr: float = 3e-4
    # stage 4: data augmentation (Algorithm 1)
    aug_copies: int = 20  # N_a, as the paper
    aug_p: float = 0.4  # p_t
    aug_k: int = 15  # K
    aug_mlm: bool = True  # False: GloVe neighbours for every word (no masked LM)
    aug_pair_with_original: bool = False  # the official "[CLS] masked [SEP] original [SEP]" input
    # stage 5: task distillation. Budgets are optimiser steps, so an ablation that trains on less data
    # (no augmentation) trains as long as the full recipe; *_epochs, when set, resolve to steps instead.
    td1_steps: int | None = 1500  # step 1: intermediate layers on augmented data
    td1_epochs: float | None = None
    td1_lr: float = 3e-4
    td2_steps: int | None = 1500  # step 2: prediction layer
    td2_epochs: float | None = None
    td2_lr: float = 1e-4  # ties for best on dev in `tinybert-ref sweep` (README); the paper's 3e-5 is for BertAdam
    temperature: float = 1.0  # t in Eq. 10
    # student fine-tuning baselines (no_td, finetune_only): step 1's plus step 2's budget
    finetune_lr: float = 1e-4
    # evaluation
    latency_batch: int = 1
    latency_seq_len: int = 64
    latency_repeats: int = 20

    def __post_init__(self):
        for key in _AT_LEAST_ONE:
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                flag = "--batch-size N" if key == "batch_size" else f"--override {key}=N"
                raise ValueError(f"profile key {key} must be a whole number >= 1, got {getattr(self, key)!r}; "
                                 f"pass {flag} with N >= 1")


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
        eval_every=4,
        teacher_epochs=3.0,
        mlm_steps=4,
        mlm_batch_size=16,
        gd_steps=4,
        aug_copies=2,
        aug_k=5,
        td1_steps=12,
        td2_steps=12,
        latency_repeats=3,
    ),
    # a workshop's quick path: attention visibly transferred within 5 minutes on 2 cores (GUIDE.md). Fewer
    # headlines, short corpus blocks, GloVe-only augmentation (no masked-LM stage) and short stages
    "workshop": Profile(
        name="workshop",
        train_limit=480,
        eval_limit=200,
        corpus_seq_len=64,
        batch_size=16,
        eval_every=25,
        teacher_epochs=3.0,
        gd_steps=150,
        aug_copies=4,
        aug_mlm=False,
        td1_steps=200,
        td2_steps=100,
    ),
    # meaningful results on a CPU: one run (one seed) in under 30 minutes on 2 cores
    # augmentation GloVe-only: dev 0.840 +- 0.015 vs 0.820 +- 0.009 with the trained masked LM (3 seeds,
    # benchmarks/results/retention_seeds.json); `--override aug_mlm=true` restores Algorithm 1's masked LM
    "laptop": Profile(name="laptop", aug_mlm=False),
    # the paper's hyperparameters, for a GPU (Section 4.2 / official code)
    "paper": Profile(
        name="paper",
        corpus_seq_len=128,
        batch_size=32,
        teacher_epochs=3.0,
        teacher_lr=2e-5,
        eval_every=100,
        mlm_steps=2000,
        gd_steps=20000,
        gd_lr=1e-4,
        aug_copies=20,
        aug_pair_with_original=True,
        td1_steps=None,
        td1_epochs=10.0,
        td1_lr=5e-5,
        td2_steps=None,
        td2_epochs=3.0,
        td2_lr=3e-5,
        finetune_lr=2e-5,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """Return the named profile; `None` reads TINYBERT_PROFILE, default `laptop`."""
    name = name or os.environ.get("TINYBERT_PROFILE") or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return PROFILES[name]


def _field_types() -> dict[str, tuple[type, bool]]:
    """field -> (its type, whether None is allowed), read from the annotations ("int | None")."""
    kinds = {"int": int, "float": float, "bool": bool, "str": str}
    types = {}
    for f in dataclasses.fields(Profile):
        names = [part.strip() for part in str(f.type).split("|")]
        types[f.name] = (kinds[next(n for n in names if n != "None")], "None" in names)
    return types


def override(profile: Profile, **changes) -> Profile:
    """A copy of `profile` with `changes`; an unknown key or a wrong type fails and lists the valid keys."""
    types = _field_types()
    for key, value in changes.items():
        if key not in types or key == "name":
            raise ValueError(f"unknown profile key {key!r}; valid keys: {', '.join(k for k in types if k != 'name')}")
        kind, optional = types[key]
        ok = (value is None and optional) or isinstance(value, kind) or (kind is float and isinstance(value, int))
        if not ok or (kind is not bool and isinstance(value, bool)):
            raise TypeError(f"profile key {key!r} takes {kind.__name__}{' or None' if optional else ''}, got {value!r}")
    return dataclasses.replace(profile, **changes)


def parse_overrides(items) -> tuple[tuple[str, object], ...]:
    """("key=value", ...) from the command line -> ((key, typed value), ...), checked as `override` checks.

    Values take the field's type: 3e-4 for a float, 1500 for an int, true/false for a bool, none for an
    optional field. A malformed item or value raises ValueError naming the key and the valid keys."""
    types, parsed = _field_types(), []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"--override {item!r}: write key=value, e.g. td2_lr=1e-4")
        if key not in types or key == "name":
            raise ValueError(f"--override {item!r}: unknown profile key {key!r}; valid keys: "
                             f"{', '.join(k for k in types if k != 'name')}")
        kind, optional = types[key]
        text = text.strip()
        try:
            if optional and text.lower() == "none":
                value = None
            elif kind is bool:
                value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[text.lower()]
            else:
                value = kind(text)
        except (KeyError, ValueError):
            raise ValueError(f"--override {item!r}: {key} takes {kind.__name__}{' or none' if optional else ''}, "
                             f"got {text!r}") from None
        parsed.append((key, value))
    override(PROFILES[DEFAULT_PROFILE], **dict(parsed))
    return tuple(parsed)
