"""Teacher loading, student presets, vocabulary checks and checked checkpoint loading.

TinyBERT (Jiao et al., 2020) distils a BERT teacher into a smaller BERT student of the same family:
TinyBERT4 is 4 layers, hidden 312, FFN 1200, 12 heads (14.5M parameters, section 4.2); TinyBERT6 is
6 / 768 / 3072 / 12. The student shares the teacher's WordPiece vocabulary, so both read the same
token ids and the embedding loss (Eq. 9) compares the same positions. Taught in notebooks 03 and 05.

Teacher and student are standard `transformers` models: every checkpoint saves and loads with
`save_pretrained`/`from_pretrained`. Loaded models use `internals.ATTN_IMPLEMENTATION` (outputs equal
eager attention) so that `forward_with_internals` works on them; that choice is never saved.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
from pathlib import Path

import torch
from torch import nn
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

from .assets import OFFLINE_TEACHER, minilm_path
from .internals import ATTN_IMPLEMENTATION
from .profiles import STUDENT_PRESETS

__all__ = [
    "STUDENT_PRESETS",
    "CheckpointError",
    "CheckpointNotFoundError",
    "VocabularyMismatchError",
    "build_student",
    "check_checkpoint",
    "check_vocab_compatible",
    "count_parameters",
    "load_checkpoint",
    "load_teacher",
    "resolve_teacher_path",
    "student_config",
]

log = logging.getLogger(__name__)

_SHAPE_KEYS = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads")
_OPTIONAL_KEYS = ("hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range",
                  "layer_norm_eps", "classifier_dropout")
_FROM_TEACHER = ("vocab_size", "max_position_embeddings", "type_vocab_size", "pad_token_id")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
# Keys a fresh classification head may lack; anything else missing means a broken or foreign checkpoint.
_NEW_HEAD_KEYS = ("classifier.", "pooler.", "bert.pooler.")


class CheckpointError(ValueError):
    """A model folder is missing, incomplete or not a BERT checkpoint; the message says how to fix it."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint path does not exist (both a CheckpointError and a FileNotFoundError)."""


class VocabularyMismatchError(ValueError):
    """Teacher and student do not share one vocabulary."""


def resolve_teacher_path(name_or_path: str | Path = OFFLINE_TEACHER) -> str | Path:
    """"minilm" -> the packaged MiniLM folder; an existing folder -> itself; a hub name such as
    "bert-base-uncased" or "google-bert/bert-base-uncased" -> the name (online path, str).
    A path that does not exist raises CheckpointNotFoundError (a FileNotFoundError)."""
    if str(name_or_path) == OFFLINE_TEACHER:
        return minilm_path()
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    text = str(name_or_path)
    if isinstance(name_or_path, str) and _HUB_NAME.match(text) and ".." not in text:
        return text
    raise CheckpointNotFoundError(
        f"teacher folder {text!r} does not exist: pass an existing folder saved with save_pretrained, "
        f"{OFFLINE_TEACHER!r} for the packaged MiniLM, or a hub name such as 'bert-base-uncased' (online)"
    )


def _safetensors_problem(file: Path) -> str | None:
    """Why a .safetensors file cannot be read (truncated, bad header), or None. Reads only the header."""
    size = file.stat().st_size
    try:
        with file.open("rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > size - 8:
                return f"{file.name} is {size:,} bytes, too short for its {header_size:,}-byte header"
            header = json.loads(handle.read(header_size))
        tensors = [entry for key, entry in header.items() if key != "__metadata__"]
        end = max((entry["data_offsets"][1] for entry in tensors), default=0)
    except (struct.error, ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError, IndexError) as error:
        return f"{file.name} has no valid safetensors header ({type(error).__name__}: {error})"
    if size != 8 + header_size + end:
        return (f"{file.name} is {size:,} bytes but its header describes {8 + header_size + end:,}: "
                "the file was cut short (an interrupted copy or download)")
    return None


def _weights_problem(folder: Path) -> str | None:
    present = [name for name in _WEIGHT_FILES if (folder / name).is_file()]
    if not present:
        return f"no weights file ({', '.join(_WEIGHT_FILES[::2])})"
    shards = [folder / "model.safetensors"] if "model.safetensors" in present else []
    if not shards and "model.safetensors.index.json" in present:
        try:
            index = json.loads((folder / "model.safetensors.index.json").read_text())
            shards = [folder / name for name in sorted(set(index["weight_map"].values()))]
        except (ValueError, KeyError) as error:
            return f"model.safetensors.index.json is not a valid shard index ({error})"
    for shard in shards:
        if not shard.is_file():
            return f"shard {shard.name} listed in the index is missing"
        problem = _safetensors_problem(shard)
        if problem:
            return problem
    return None


def _read_config(folder: Path) -> BertConfig:
    try:
        raw = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{folder}/config.json cannot be read as JSON ({error}): re-save the model "
                              "with model.save_pretrained(folder)") from error
    model_type = raw.get("model_type", "bert") if isinstance(raw, dict) else type(raw).__name__
    if model_type != "bert":
        raise CheckpointError(
            f"{folder} holds a {model_type!r} model, not BERT: TinyBERT's losses read BERT's attention "
            "and hidden states, so pass a BERT checkpoint (model_type 'bert', e.g. 'minilm' or bert-base-uncased)"
        )
    try:
        return BertConfig.from_pretrained(folder)
    except Exception as error:  # any library error becomes one clear message
        raise CheckpointError(f"{folder}/config.json is not a valid BERT config ({error}): re-save the "
                              "model with model.save_pretrained(folder)") from error


def check_checkpoint(path: str | Path) -> BertConfig:
    """Check a model folder before loading it and return its BertConfig.

    Raises CheckpointNotFoundError (missing path) or CheckpointError (not a folder, no config.json, not
    BERT, no or truncated weights), each naming the folder, the problem and the fix.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise CheckpointNotFoundError(f"checkpoint folder {folder} does not exist: check the path, or "
                                      "create it with model.save_pretrained(folder)")
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is a file: pass the folder that holds config.json and the weights")
    if not (folder / "config.json").is_file():
        nested = sorted(p.parent for p in folder.glob("*/config.json"))
        hint = f"; did you mean {nested[0]}?" if nested else "; save a model there with model.save_pretrained"
        raise CheckpointError(f"{folder} has no config.json, so it is not a saved model{hint}")
    config = _read_config(folder)
    problem = _weights_problem(folder)
    if problem:
        raise CheckpointError(f"{folder}: {problem}; re-save the model with model.save_pretrained(folder) "
                              "or copy the folder again")
    return config


def _fix_for(source) -> str:
    if isinstance(source, Path):
        return "check that the folder was saved with save_pretrained and copied completely"
    offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
    return (f"{source!r} is no local folder, so it was read as a hub name, which needs the network{offline}: go "
            f"online, or save the model with save_pretrained and pass its folder, or use {OFFLINE_TEACHER!r}")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def _from_pretrained(model_class, source, allow_new_head: bool, **kwargs) -> nn.Module:
    """from_pretrained with every library failure turned into a CheckpointError naming `source`."""
    try:
        model, info = model_class.from_pretrained(source, output_loading_info=True, **kwargs)
    except Exception as error:
        raise CheckpointError(
            f"cannot load {model_class.__name__} from {source} ({_first_line(error)}); {_fix_for(source)}"
        ) from error
    allowed = _NEW_HEAD_KEYS if allow_new_head else ()
    missing = sorted(key for key in info["missing_keys"] if not key.startswith(allowed))
    if missing:
        raise CheckpointError(
            f"{source} lacks {len(missing)} weights of {model_class.__name__} (e.g. {missing[:3]}): it was "
            "saved from a different model class; pass num_labels to add a new classification head"
        )
    return model


def _load_tokenizer(source):
    try:
        return AutoTokenizer.from_pretrained(source)
    except Exception as error:
        fix = "save it beside the model with tokenizer.save_pretrained(folder)" if isinstance(source, Path) \
            else _fix_for(source)
        raise CheckpointError(f"cannot load a tokenizer from {source} ({_first_line(error)}); {fix}") from error


def load_teacher(name_or_path: str | Path = OFFLINE_TEACHER, num_labels: int | None = None, *,
                 attn_implementation: str = ATTN_IMPLEMENTATION, tokenizer_only: bool = False,
                 config_only: bool = False):
    """The teacher and its tokenizer: `(model, tokenizer)`.

    name_or_path: "minilm" (packaged, offline), a folder, or a hub name (see `resolve_teacher_path`).
    BertModel when num_labels is None, else BertForSequenceClassification with a new head of
    num_labels outputs. tokenizer_only=True returns `(None, tokenizer)`; config_only=True returns
    just the BertConfig (no weights read). Errors: CheckpointNotFoundError / CheckpointError.
    """
    source = resolve_teacher_path(name_or_path)
    config = check_checkpoint(source) if isinstance(source, Path) else None
    if config_only:
        return config if config is not None else _hub_config(source)
    tokenizer = _load_tokenizer(source)
    if tokenizer_only:
        return None, tokenizer
    if num_labels is None:
        model = _from_pretrained(BertModel, source, False, attn_implementation=attn_implementation)
    else:
        resized = config is not None and config.num_labels != num_labels  # a fine-tuned head of another size
        model = _from_pretrained(BertForSequenceClassification, source, True, num_labels=num_labels,
                                 ignore_mismatched_sizes=resized, attn_implementation=attn_implementation)
    if len(tokenizer) > model.config.vocab_size:  # a padded embedding matrix (vocab_size > len) is fine
        raise VocabularyMismatchError(
            f"the tokenizer of {source} has {len(tokenizer):,} entries but the model's embedding matrix only "
            f"{model.config.vocab_size:,}: save the teacher's own tokenizer beside it"
        )
    return model, tokenizer


def _hub_config(name: str) -> BertConfig:
    try:
        return BertConfig.from_pretrained(name)
    except Exception as error:
        raise CheckpointError(f"cannot load the config of {name} ({_first_line(error)}); {_fix_for(name)}") \
            from error


def load_checkpoint(path: str | Path, model_class=BertModel, num_labels: int | None = None, *,
                    attn_implementation: str = ATTN_IMPLEMENTATION) -> nn.Module:
    """Load a saved student or teacher folder as `model_class` (BertModel, BertForSequenceClassification).

    num_labels: for a classifier, the size of a new head when the folder holds an encoder only (or a
    head of another size); None keeps the saved head. Runs `check_checkpoint` first.
    """
    folder = Path(path).expanduser()
    config = check_checkpoint(folder)
    kwargs = {"attn_implementation": attn_implementation}
    new_head = num_labels is not None and num_labels != config.num_labels
    if num_labels is not None:
        kwargs.update(num_labels=num_labels, ignore_mismatched_sizes=new_head)
    return _from_pretrained(model_class, folder, num_labels is not None, **kwargs)


def student_config(preset_or_dict: str | dict, teacher_config, num_labels: int | None = None) -> BertConfig:
    """The student's BertConfig: shape from a preset name or dict (BertConfig names), and the
    teacher's vocab_size, max_position_embeddings, type_vocab_size and pad_token_id."""
    if isinstance(preset_or_dict, str):
        if preset_or_dict not in STUDENT_PRESETS:
            raise ValueError(f"unknown student preset {preset_or_dict!r}: choose one of "
                             f"{', '.join(STUDENT_PRESETS)} or pass a dict with keys {', '.join(_SHAPE_KEYS)}")
        shape = dict(STUDENT_PRESETS[preset_or_dict])
    else:
        shape = dict(preset_or_dict)
        unknown = sorted(set(shape) - set(_SHAPE_KEYS) - set(_OPTIONAL_KEYS))
        missing = [key for key in _SHAPE_KEYS if key not in shape]
        if unknown or missing:
            raise ValueError(f"student shape dict: unknown keys {unknown}, missing keys {missing}; valid "
                             f"keys are {', '.join(_SHAPE_KEYS + _OPTIONAL_KEYS)}")
    if shape["hidden_size"] % shape["num_attention_heads"]:
        raise ValueError(f"student hidden size {shape['hidden_size']} is not divisible by "
                         f"{shape['num_attention_heads']} heads: choose a head count that divides it")
    teacher_config = getattr(teacher_config, "config", teacher_config)  # a model is accepted too
    config = BertConfig(**shape, **{key: getattr(teacher_config, key) for key in _FROM_TEACHER},
                        attn_implementation=ATTN_IMPLEMENTATION)
    if num_labels is not None:
        config.num_labels = num_labels
        if getattr(teacher_config, "num_labels", None) == num_labels:  # keep the task's label names
            config.id2label = {int(i): name for i, name in teacher_config.id2label.items()}
            config.label2id = {name: i for i, name in config.id2label.items()}
    return config


def build_student(preset_or_dict: str | dict, teacher_config, num_labels: int | None = None,
                  seed: int = 0) -> nn.Module:
    """A randomly initialised student (BertModel, or BertForSequenceClassification if num_labels).

    Initialisation is seeded without touching the global random state.
    """
    config = student_config(preset_or_dict, teacher_config, num_labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config) if num_labels is None else BertForSequenceClassification(config)
    log.info("student %s: %s parameters", preset_or_dict, f"{count_parameters(model):,}")
    return model


def _vocab_size(obj) -> int:
    """len(tokenizer), or vocab_size of a config or a model's config."""
    if hasattr(obj, "get_vocab"):
        return len(obj)
    config = getattr(obj, "config", obj)
    if not hasattr(config, "vocab_size"):
        raise TypeError(f"expected a tokenizer, config or model, got {type(obj).__name__}")
    return config.vocab_size


def check_vocab_compatible(teacher, student) -> None:
    """Raise VocabularyMismatchError unless teacher and student (tokenizers, configs or models) share
    one vocabulary: the student must read the teacher's token ids, so it uses the teacher's tokenizer."""
    teacher_size, student_size = _vocab_size(teacher), _vocab_size(student)
    if teacher_size != student_size:
        raise VocabularyMismatchError(
            f"teacher vocabulary has {teacher_size:,} entries but the student's has {student_size:,}: the "
            "student must use the teacher's tokenizer; build it with build_student(..., teacher.config)"
        )
    if hasattr(teacher, "get_vocab") and hasattr(student, "get_vocab") and teacher.get_vocab() != student.get_vocab():
        raise VocabularyMismatchError(
            f"teacher and student tokenizers both have {teacher_size:,} entries but map tokens to different "
            "ids: the student must use the teacher's tokenizer"
        )


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (tied tensors counted once), optionally only those with requires_grad."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
