"""Size and CPU inference speed: BERT-base vs TinyBERT4/6, the MiniLM teacher shape and `small`.

Measured, per model (random weights; speed does not depend on them): parameters (total, embeddings,
encoder), analytic forward FLOPs per example (`evaluate.count_flops`) and forward latency at sequence
length 128, batch 1 and batch 32, all models interleaved on the same batch with the same number of
threads, median of the repeats (`evaluate.measure_latency`), with `sdpa` attention (the distillation's
score-returning attention is for training only).

Compared to: the paper's claim that TinyBERT4 is 7.5x smaller and 9.4x faster than BERT-base
(109M and 14.5M parameters), and to the FLOP ratio, the bound a latency ratio reaches only when
every model runs its matrix products equally well (small matrices run less efficiently, so the
measured speed-up stays below it).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from transformers import BertConfig

from tinybert_ref.evaluate import count_flops, measure_latency
from tinybert_ref.models import STUDENT_PRESETS, build_student, count_parameters

from . import RESULTS_DIR, write_result
from .machine import describe, load_average

__all__ = ["SHAPES", "PAPER", "run", "build_models", "parameter_counts", "ratios"]

log = logging.getLogger(__name__)

# name -> (layers, hidden, FFN, heads) in BertConfig names; the first is the reference (the teacher)
SHAPES: dict[str, dict] = {
    "bert_base": {"num_hidden_layers": 12, "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
    "tinybert6": dict(STUDENT_PRESETS["tinybert6"]),
    "minilm_teacher": {"num_hidden_layers": 6, "hidden_size": 384, "intermediate_size": 1536,
                       "num_attention_heads": 12},
    "tinybert4": dict(STUDENT_PRESETS["tinybert4"]),
    "small": dict(STUDENT_PRESETS["small"]),
}
TINY_SHAPES: dict[str, dict] = {
    "bert_base": {"num_hidden_layers": 3, "hidden_size": 48, "intermediate_size": 96, "num_attention_heads": 4},
    "tinybert6": {"num_hidden_layers": 2, "hidden_size": 48, "intermediate_size": 96, "num_attention_heads": 4},
    "minilm_teacher": {"num_hidden_layers": 2, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4},
    "tinybert4": {"num_hidden_layers": 1, "hidden_size": 24, "intermediate_size": 48, "num_attention_heads": 4},
    "small": {"num_hidden_layers": 1, "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 4},
}
# Paper (Jiao et al. 2020, Section 4 / Table 1; see shared PAPER_FACTS.md)
PAPER = {"params_m": {"bert_base": 109.0, "tinybert6": 67.0, "tinybert4": 14.5}, "smaller": 7.5, "faster": 9.4}
SETTINGS = {"seq_len": 128, "batches": {1: {"repeats": 20, "warmup": 3}, 32: {"repeats": 5, "warmup": 1}},
            "vocab_size": 30522, "num_labels": 2}
TINY_SETTINGS = {"seq_len": 16, "batches": {1: {"repeats": 3, "warmup": 1}, 4: {"repeats": 2, "warmup": 1}},
                 "vocab_size": 1000, "num_labels": 2}
REFERENCE, STUDENT = "bert_base", "tinybert4"


def build_models(shapes: dict[str, dict], vocab_size: int, num_labels: int) -> dict[str, torch.nn.Module]:
    """BertForSequenceClassification of each shape (BERT vocabulary, 512 positions), eval mode, sdpa."""
    base = BertConfig(vocab_size=vocab_size, max_position_embeddings=512, type_vocab_size=2, pad_token_id=0)
    models = {}
    for seed, (name, shape) in enumerate(shapes.items()):
        model = build_student(shape, base, num_labels=num_labels, seed=seed).eval()
        model.set_attn_implementation("sdpa")
        models[name] = model
    return models


def parameter_counts(model, teacher_hidden: int = 768) -> dict[str, int]:
    """Parameters of a BertForSequenceClassification, split where the counting conventions differ.

    bert_model: encoder + embeddings + pooler (BertModel, what the paper's 109M / 14.5M count);
    embeddings: word + position + type embeddings and their LayerNorm (word_embeddings alone too);
    encoder: the Transformer layers; classifier: the task head; with_projection: bert_model plus the
    student-to-teacher projection W (hidden -> teacher_hidden, Eq. 8/9) that the official TinyBERT
    checkpoints carry as `fit_dense`.
    """
    bert = model.bert
    hidden = model.config.hidden_size
    counts = {
        "total": count_parameters(model),
        "bert_model": count_parameters(bert),
        "embeddings": count_parameters(bert.embeddings),
        "word_embeddings": bert.embeddings.word_embeddings.weight.numel(),
        "encoder": count_parameters(bert.encoder),
        "classifier": count_parameters(model.classifier),
    }
    counts["with_projection"] = counts["bert_model"] + hidden * teacher_hidden + teacher_hidden
    counts["embedding_share"] = counts["embeddings"] / counts["bert_model"]
    return counts


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def ratios(models: dict, reference: str = REFERENCE, student: str = STUDENT) -> dict:
    """reference / student for parameters (three countings), FLOPs and median latency per batch."""
    ref, stu = models[reference], models[student]
    result = {
        "reference": reference,
        "student": student,
        "params": _ratio(ref["params"]["bert_model"], stu["params"]["bert_model"]),
        "params_with_projection": _ratio(ref["params"]["bert_model"], stu["params"]["with_projection"]),
        "params_non_embedding": _ratio(ref["params"]["encoder"], stu["params"]["encoder"]),
        "flops": _ratio(ref["flops"], stu["flops"]),
    }
    for batch, latency in ref["latency"].items():
        result[f"latency_batch_{batch}"] = _ratio(latency["median_ms"], stu["latency"][batch]["median_ms"])
    return result


def run(out_dir: str | Path = RESULTS_DIR, tiny: bool = False) -> dict:
    """Measure every shape; write out_dir/inference.json and return it."""
    shapes, settings = (TINY_SHAPES, TINY_SETTINGS) if tiny else (SHAPES, SETTINGS)
    machine, start = describe(), time.perf_counter()
    threads = torch.get_num_threads()
    built = build_models(shapes, settings["vocab_size"], settings["num_labels"])
    teacher_hidden = shapes[REFERENCE]["hidden_size"]
    models = {name: {"shape": shapes[name], "params": parameter_counts(model, teacher_hidden),
                     "flops": count_flops(model.config, settings["seq_len"]), "latency": {}}
              for name, model in built.items()}
    for batch, timing in settings["batches"].items():
        log.info("latency at batch %d, length %d", batch, settings["seq_len"])
        measured = measure_latency(built, batch_size=batch, seq_len=settings["seq_len"], threads=threads,
                                   repeats=timing["repeats"], warmup=timing["warmup"])
        for name, latency in measured.items():
            models[name]["latency"][str(batch)] = {**latency, "repeats": timing["repeats"], "warmup": timing["warmup"],
                                                   "examples_per_s": batch * 1000 / latency["median_ms"]}
    result = {
        "benchmark": "inference",
        "tiny": tiny,
        "settings": {"seq_len": settings["seq_len"], "batches": list(settings["batches"]), "threads": threads,
                     "attention": "sdpa", "weights": "random", "interleaved": True, "statistic": "median",
                     "model_class": "BertForSequenceClassification", "num_labels": settings["num_labels"],
                     "vocab_size": settings["vocab_size"]},
        "models": models,
        "ratios": ratios(models),
        "paper": PAPER,
        "machine": machine,
        "load_average_end": load_average(),
        "wall_s": time.perf_counter() - start,
    }
    write_result("inference", result, out_dir)
    return result
