"""The configuration of one pipeline run: what to distil, with which recipe, at which profile.

`RunConfig` is a frozen dataclass and the one source of the run's settings: the CLI builds its options
from the fields (help texts from the field metadata, choices from `PROFILES`), and the Python API builds
it the same way. The recipe switches reproduce the paper's ablations (Tables 2-4): they remove stages or
loss terms, and `variant(name)` gives the named ablation settings used by `tinybert-ref ablate`.

Bad settings fail fast: `RunConfig(...)` checks what it can without reading a file (profile, precision,
student preset, mapping syntax); `check_inputs(config)` reads the teacher's config, the GloVe and corpus
files, and is called before any folder of a run is made (`pipeline.prepare`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .mapping import STRATEGIES
from .profiles import PROFILES, STUDENT_PRESETS, Profile, get_profile, override

__all__ = ["RunConfig", "ABLATIONS", "PRECISIONS", "OMITTED_AT_DEFAULT", "check_inputs", "variant"]

PRECISIONS = ("fp32", "bf16", "fp16")
# Fields added after stage stores and run folders were made: left out of config.json (`to_dict`) and of
# the stage keys (`pipeline.stage_key`) while at their default (None), so those stay valid.
OMITTED_AT_DEFAULT = ("text_columns",)


def _option(default, help: str, **argparse_settings):
    """A RunConfig field with its command-line help (and e.g. choices) in the metadata."""
    return field(default=default, metadata={"help": help, **argparse_settings})


@dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on. Defaults = the embedded default, full TinyBERT recipe."""

    profile: str = _option("laptop", "sizes and step counts (on the command line the default is "
                           "$TINYBERT_PROFILE, else laptop)", choices=tuple(PROFILES))
    teacher: str = _option("minilm", "'minilm' (packaged, offline), a local BERT folder or a hub name (online)")
    task: str = _option("bbc", "'bbc' (headline topics), 'bbc_pairs' (does a headline belong to a lead "
                        "paragraph: a sentence-pair task), a GLUE name (sst2, mrpc, ...; online), a GLUE TSV "
                        "folder or a CSV/TSV/JSONL file")
    text_columns: str | None = _option(None, "the text columns of a CSV/TSV/JSONL --task file, TEXT,TEXT_PAIR "
                                       "for a sentence-pair task (e.g. question,answer), or one name "
                                       "(default: the column 'text')", metavar="TEXT,TEXT_PAIR")
    student: str = _option("tinybert4", f"student preset: {', '.join(STUDENT_PRESETS)}")
    mapping: str = _option("uniform", f"{' | '.join(STRATEGIES)} | teacher layers, e.g. 2,4,5,6")
    precision: str = _option("fp32", "fp32, or mixed precision: bf16 autocast (CPU and GPU) or fp16 autocast "
                             "with loss scaling (GPU only; an error on a CPU). The distillation losses are always "
                             "computed in fp32 (attention scores carry float32-min mask values). Use this, not "
                             "accelerate's --mixed_precision", choices=PRECISIONS)
    seed: int = _option(42, "training seed (student init, data order, augmentation sampling)")
    mlm: str | None = _option(None, "a pretrained masked LM for augmentation (e.g. bert-base-uncased); "
                              "default: one trained on the corpus")
    glove: str | None = _option(None, "a GloVe text file (default: packaged GloVe 6B 50-d)")
    corpus: str | None = _option(None, "general-distillation corpus: a .txt file, a folder of them, or (online) a "
                                 "hub dataset NAME[:CONFIG] with a 'text' column, e.g. wikimedia/wikipedia:20231101.en; "
                                 "read memory-mapped through `datasets`, never whole in RAM (default: BBC bodies)")
    # recipe switches (the paper's ablations); the command line has --no-<switch>
    general_distillation: bool = _option(True, "general distillation (the student starts from random weights, "
                                         "'w/o GD')")
    augmentation: bool = _option(True, "augmentation (task distillation on the original train set, 'w/o DA')")
    task_distillation: bool = _option(True, "task distillation (the general student is fine-tuned on the labels, "
                                      "'w/o TD')")
    intermediate_distillation: bool = _option(True, "intermediate-layer distillation (prediction-layer KD only: "
                                              "no general distillation, no task step 1)")
    embedding_loss: bool = _option(True, "the embedding loss (Eq. 9)")
    attention_loss: bool = _option(True, "the attention loss (Eq. 7)")
    hidden_loss: bool = _option(True, "the hidden-state loss (Eq. 8)")
    distillation: bool = _option(True, "distillation altogether (the student is plainly fine-tuned, no teacher)")
    profile_overrides: tuple = ()  # ((key, value), ...) applied to the profile; the command line's --override

    def __post_init__(self):
        get_profile(self.profile)  # fails early, naming the valid profiles
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose {', '.join(PRECISIONS)}")
        if self.student not in STUDENT_PRESETS:
            raise ValueError(f"unknown student preset {self.student!r}; choose one of {', '.join(STUDENT_PRESETS)}")
        self.mapping_strategy()
        if self.text_columns is not None:
            from .data.base import parse_text_columns

            object.__setattr__(self, "text_columns", ",".join(parse_text_columns(self.text_columns)))
        if not (self.embedding_loss or self.attention_loss or self.hidden_loss):
            raise ValueError("all intermediate losses are switched off; use intermediate_distillation=False")

    def resolved_profile(self) -> Profile:
        return override(get_profile(self.profile), **dict(self.profile_overrides))

    def mapping_strategy(self):
        """The mapping as tinybert_ref.mapping takes it: a strategy name or a list of teacher layers."""
        if self.mapping in STRATEGIES:
            return self.mapping
        try:
            return [int(x) for x in self.mapping.split(",")]
        except ValueError:
            raise ValueError(
                f"mapping {self.mapping!r} is neither {'/'.join(STRATEGIES)} nor a comma-separated list of "
                "teacher layers such as 2,4,5,6"
            ) from None

    def to_dict(self) -> dict:
        """The fields as JSON-able values; fields added later (`OMITTED_AT_DEFAULT`) only when set, so
        the config.json of a run made before them is still the same configuration."""
        data = dataclasses.asdict(self)
        data["profile_overrides"] = dict(self.profile_overrides)
        for name in OMITTED_AT_DEFAULT:
            if data[name] is None:
                del data[name]
        return data

    def task_options(self) -> dict:
        """The keyword arguments `data.tasks.load_task(self.task, ...)` takes from this config."""
        return {"text_columns": self.text_columns} if self.text_columns is not None else {}


def check_inputs(config: RunConfig) -> None:
    """Check what the run will read, before it makes anything: the teacher (a folder's config and
    tokenizer, or a hub name's, which needs the network unless cached), the mapping against the teacher's
    depth, the GloVe file and the corpus. Each problem raises one error that names it and the fix."""
    from .mapping import layer_mapping
    from .models import VocabularyMismatchError, check_vocab_compatible, load_teacher

    profile = config.resolved_profile()  # --override / --batch-size values
    if config.mlm and not profile.aug_mlm:
        raise ValueError(f"--mlm {config.mlm} is read only when augmentation takes masked-LM candidates, and the "
                         f"{profile.name} profile augments with GloVe alone (aug_mlm=false); add --override "
                         "aug_mlm=true to use it")
    teacher_config = load_teacher(config.teacher, config_only=True)
    _, tokenizer = load_teacher(config.teacher, tokenizer_only=True)
    try:
        check_vocab_compatible(tokenizer, teacher_config)
    except VocabularyMismatchError:
        raise VocabularyMismatchError(
            f"teacher {config.teacher!r}: its tokenizer has {len(tokenizer):,} entries but its model's vocabulary "
            f"has {teacher_config.vocab_size:,}; the tokenizer and the weights must come from the same checkpoint "
            "(save both with save_pretrained into one folder)") from None
    student_layers = STUDENT_PRESETS[config.student]["num_hidden_layers"]
    try:
        layer_mapping(student_layers, teacher_config.num_hidden_layers, config.mapping_strategy())
    except ValueError as error:
        raise ValueError(f"mapping {config.mapping!r} for the {config.student} student ({student_layers} layers) "
                         f"and the teacher ({teacher_config.num_hidden_layers} layers): {error}") from None
    if config.glove:
        from .augment.wordvectors import check_text_file

        check_text_file(config.glove)
    if config.corpus:
        from .data.corpus import check_corpus

        check_corpus(config.corpus)


# name -> changes to the full recipe (paper Table 3: stages, Table 4: objectives, Table 5: mappings)
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
