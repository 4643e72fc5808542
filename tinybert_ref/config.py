"""The configuration of one pipeline run: what to distil, with which recipe, at which profile.

`RunConfig` is a frozen dataclass; the CLI and the Python API build it the same way. The recipe
switches reproduce the paper's ablations (Tables 2-4): they remove stages or loss terms, and
`variant(name)` gives the named ablation settings used by `tinybert-ref ablate`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .profiles import Profile, get_profile, override

__all__ = ["RunConfig", "ABLATIONS", "variant"]


@dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on. Defaults = the embedded default, full TinyBERT recipe."""

    profile: str = "laptop"
    teacher: str = "minilm"  # "minilm" (packaged), a local folder, or a hub name (online)
    task: str = "bbc"  # "bbc", a GLUE name, a GLUE-format folder, or a CSV/TSV/JSONL file
    student: str = "tinybert4"  # a preset of tinybert_ref.models.STUDENT_PRESETS
    mapping: str = "uniform"  # uniform | top | bottom | comma-separated teacher layers "2,4,5,6"
    precision: str = "fp32"  # fp32 | bf16 | fp16 (GPU)
    seed: int = 42
    mlm: str | None = None  # a pretrained masked LM (e.g. bert-base-uncased); None = train one
    glove: str | None = None  # a GloVe text file; None = the packaged GloVe 6B 50-d
    corpus: str | None = None  # text file(s)/folder for general distillation; None = BBC bodies
    # recipe switches (the paper's ablations)
    general_distillation: bool = True  # False: student starts from random weights ("w/o GD")
    augmentation: bool = True  # False: task distillation on the original train set ("w/o DA")
    task_distillation: bool = True  # False: GD student fine-tuned on the labels ("w/o TD")
    intermediate_distillation: bool = True  # False: prediction-layer KD only (no GD, no TD step 1)
    embedding_loss: bool = True
    attention_loss: bool = True
    hidden_loss: bool = True
    distillation: bool = True  # False: the student is plainly fine-tuned (no teacher at all)
    profile_overrides: tuple = ()  # ((key, value), ...) applied to the profile

    def __post_init__(self):
        get_profile(self.profile)  # fails early, naming the valid profiles
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"unknown precision {self.precision!r}; choose fp32, bf16 or fp16")
        if not (self.embedding_loss or self.attention_loss or self.hidden_loss):
            raise ValueError("all intermediate losses are switched off; use intermediate_distillation=False")

    def resolved_profile(self) -> Profile:
        return override(get_profile(self.profile), **dict(self.profile_overrides))

    def mapping_strategy(self):
        """The mapping as tinybert_ref.mapping takes it: a strategy name or a list of teacher layers."""
        if self.mapping in ("uniform", "top", "bottom"):
            return self.mapping
        try:
            return [int(x) for x in self.mapping.split(",")]
        except ValueError:
            raise ValueError(
                f"mapping {self.mapping!r} is neither uniform/top/bottom nor a comma-separated list of "
                "teacher layers such as 2,4,5,6"
            ) from None

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["profile_overrides"] = dict(self.profile_overrides)
        return data


# name -> changes to the full recipe (paper Tables 2-4 and the mapping study of Table 5/Section 4.5)
ABLATIONS: dict[str, dict] = {
    "full": {},
    "no_gd": {"general_distillation": False},
    "no_da": {"augmentation": False},
    "no_td": {"task_distillation": False},
    "no_embedding_loss": {"embedding_loss": False},
    "no_attention_loss": {"attention_loss": False},
    "no_hidden_loss": {"hidden_loss": False},
    "prediction_only_kd": {"intermediate_distillation": False},
    "finetune_only": {"distillation": False, "general_distillation": False, "augmentation": False},
    "mapping_top": {"mapping": "top"},
    "mapping_bottom": {"mapping": "bottom"},
}


def variant(config: RunConfig, name: str) -> RunConfig:
    """`config` with the named ablation applied."""
    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; valid: {', '.join(ABLATIONS)}")
    return dataclasses.replace(config, **ABLATIONS[name])
