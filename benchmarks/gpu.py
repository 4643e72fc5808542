"""`python -m benchmarks.gpu`: the GPU check anyone with one GPU can run, in under 8 minutes.

    python -m benchmarks.gpu                      # on a CUDA machine: writes benchmarks/results/gpu.json
    python -m benchmarks.gpu --tiny --out X.json  # the same code on the CPU at tiny sizes (seconds; CI)

No packaged asset is needed (the MiniLM teacher and the GloVe package are too large to carry to a
borrowed GPU machine): every model has random weights, and the end-to-end run uses fixtures this
module writes into a temporary folder. Three parts, each recorded in the JSON:

  steps        one optimiser step of general distillation (the step-1 objective at length 128) and of
               task distillation step 1 (embedding, attention and hidden losses) and step 2 (logits), at
               the paper's shapes (a BERT-base-shaped teacher, 12 x 768, -> TinyBERT4, 4 x 312, and ->
               TinyBERT6, 6 x 768; batch 32, random token ids), in fp32, bf16 and fp16 (mixed precision
               through the project's `train.make_accelerator`, fp16 with its loss scaler): examples/s, the
               step split into teacher forward / student forward / losses / backward / optimiser
               (`benchmarks.steps._step`, the calls of the pipeline's objectives), the losses, and the peak
               GPU memory of the timed steps (torch.cuda.max_memory_allocated; models and AdamW state
               included).
  losses       the four losses of `tinybert_ref.losses` (Eq. 7-10) and the layer objective
               (`objective.TransformerDistillationLoss`, mapping 4 -> 12) on CUDA against the CPU, on the
               same random inputs (padded batch, float32-min mask values), values and gradients, in fp32
               with TF32 off: equal within rtol 1e-4 (values) and 1e-4 of the largest gradient entry.
  end_to_end   `pipeline.run` with the `ci` profile on the GPU, on a fixture task: a CSV of three-topic
               sentences, a random 8-layer BERT teacher saved with `save_pretrained` beside a WordPiece
               tokenizer, a .txt general corpus and a small GloVe text file (`--glove`), in fp32 and fp16,
               all stages (teacher, masked LM, general distillation, augmentation, task distillation steps
               1 and 2, evaluation, export): the training stages and the evaluation run through accelerate
               on CUDA; the masked-LM stage and Algorithm 1 keep their model where it loads, on the CPU
               (`augment.mlm` moves nothing to a device). Records the metrics, stages and wall time.

`--tiny` runs the same functions with tiny shapes, fp32 and bf16, and a smaller teacher and shorter
stages end to end: on a machine without a GPU (CI) it runs on the CPU in well under a minute, and
records fp16 and the CUDA-vs-CPU comparison as skipped with the reason (the CPU values of the losses
are still computed). `tests/test_gpu_bench.py` runs it.

What a borrowed GPU machine of this workplace has (/work/.library/device/KINDS.md): Python 3.12 with
torch, transformers, accelerate, pandas, pyarrow, scikit-learn and matplotlib, but NOT `datasets`.
The steps and the losses need only torch, transformers and accelerate. The end-to-end part needs
`datasets` (the pipeline keeps tasks and corpora as `datasets` tables), so without it the JSON records
`end_to_end` as skipped with that reason. Carry the wheels in (device README, "nvidia-h200"): here, in
the repository root,

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \\
        -d .whl datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19

and on the machine, with `.whl` carried, start the command with

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \\
        .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD && python3 -m benchmarks.gpu

(`datasets` 5.2 also needs pyarrow >= 24, fsspec <= 2026.9.0 and huggingface-hub >= 1.31; if the
machine's `pip show pyarrow fsspec huggingface-hub` says otherwise, carry those too.)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import importlib.util
import logging
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tinybert_ref.internals import Internals  # noqa: E402
from tinybert_ref.losses import attention_loss, embedding_loss, hidden_loss, prediction_loss  # noqa: E402
from tinybert_ref.mapping import layer_mapping  # noqa: E402
from tinybert_ref.models import build_student  # noqa: E402
from tinybert_ref.objective import TransformerDistillationLoss  # noqa: E402

from . import RESULTS_DIR, write_result  # noqa: E402
from . import steps as step_bench  # noqa: E402
from .inference import SHAPES, TINY_SHAPES  # noqa: E402
from .machine import describe, load_average  # noqa: E402

__all__ = ["SETTINGS", "TINY_SETTINGS", "PARTS", "run", "main", "measure_steps", "compare_losses",
           "write_fixture", "end_to_end", "cuda_description", "readme_section"]

log = logging.getLogger(__name__)

PARTS = ("steps", "losses", "end_to_end")
PRECISIONS = ("fp32", "bf16", "fp16")
# pairing -> (teacher shape, student shape), BertConfig names
PAIRINGS = {"bert_base->tinybert4": (SHAPES["bert_base"], SHAPES["tinybert4"]),
            "bert_base->tinybert6": (SHAPES["bert_base"], SHAPES["tinybert6"])}
TINY_PAIRINGS = {"bert_base->tinybert4": (TINY_SHAPES["bert_base"], TINY_SHAPES["tinybert4"]),
                 "bert_base->tinybert6": (TINY_SHAPES["bert_base"], TINY_SHAPES["tinybert6"])}
# Tolerances of the CUDA-vs-CPU loss comparison (fp32, TF32 off): reductions run in another order.
LOSS_RTOL, LOSS_ATOL, GRAD_RTOL = 1e-4, 1e-6, 1e-4

SETTINGS = {
    "steps": {**step_bench.SETTINGS, "warmup_steps": 3, "timed_steps": 10, "warmup_batch_size": 32,
              "vocab_size": 30522, "precisions": PRECISIONS},
    "losses": {"batch_size": 8, "seq_len": 128, "padded_rows": 3, "heads": 12, "student_hidden": 312,
               "teacher_hidden": 768, "student_layers": 4, "teacher_layers": 12, "num_labels": 5,
               "temperatures": (1.0, 2.0), "seed": 0},
    "end_to_end": {"profile": "ci", "overrides": (), "precisions": ("fp32", "fp16"), "student": "tinybert4",
                   "teacher": {"num_hidden_layers": 8, "hidden_size": 384, "intermediate_size": 1536,
                               "num_attention_heads": 12},
                   "rows": 320, "corpus_lines": 600, "glove_dim": 16, "seed": 0},
}
TINY_SETTINGS = {
    "steps": {**step_bench.TINY_SETTINGS, "warmup_steps": 1, "timed_steps": 2, "warmup_batch_size": 4,
              "vocab_size": 1000, "precisions": PRECISIONS},  # fp16: skipped, with the reason, without CUDA
    "losses": {"batch_size": 2, "seq_len": 8, "padded_rows": 1, "heads": 4, "student_hidden": 24,
               "teacher_hidden": 48, "student_layers": 2, "teacher_layers": 4, "num_labels": 3,
               "temperatures": (1.0, 2.0), "seed": 0},
    "end_to_end": {"profile": "ci",
                   "overrides": (("train_limit", 48), ("eval_limit", 32), ("teacher_epochs", 1.0),
                                 ("mlm_steps", 2), ("gd_steps", 2), ("corpus_limit", 16), ("td1_steps", 3),
                                 ("td2_steps", 3), ("eval_every", 3), ("checkpoint_every", 3),
                                 ("latency_repeats", 1)),
                   "precisions": ("fp32",), "student": "small",
                   "teacher": {"num_hidden_layers": 4, "hidden_size": 48, "intermediate_size": 96,
                               "num_attention_heads": 12},
                   "rows": 200, "corpus_lines": 200, "glove_dim": 8, "seed": 0},
}


# ------------------------------------------------------------------------------------ machine
def cuda_description() -> dict:
    """The GPU (name, capability, memory, multiprocessors), CUDA/cuDNN versions and TF32 switches;
    {"available": False} without one."""
    if not torch.cuda.is_available():
        return {"available": False}
    props = torch.cuda.get_device_properties(0)
    return {
        "available": True,
        "device_count": torch.cuda.device_count(),
        "name": torch.cuda.get_device_name(0),
        "capability": list(torch.cuda.get_device_capability(0)),
        "memory_gib": round(props.total_memory / 2**30, 1),
        "multiprocessors": props.multi_processor_count,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "bf16_supported": torch.cuda.is_bf16_supported(),
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "accelerate", "datasets", "numpy", "pyarrow", "scikit-learn"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return {"python": platform.python_version(), **found}


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:500]


# -------------------------------------------------------------------------------------- steps
def _pair_models(teacher_shape: dict, student_shape: dict, vocab_size: int, num_labels: int):
    """(teacher, student) BertForSequenceClassification with random weights and the score-returning
    attention; the BERT vocabulary and 512 positions, without the packaged MiniLM config."""
    from transformers import BertConfig

    base = BertConfig(vocab_size=vocab_size, max_position_embeddings=512, type_vocab_size=2, pad_token_id=0)
    teacher = build_student(teacher_shape, base, num_labels=num_labels, seed=1)
    student = build_student(student_shape, teacher.config, num_labels=num_labels, seed=0)
    return teacher.eval().requires_grad_(False), student.train()


def _finite(values) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def measure_steps(name: str, teacher_shape: dict, student_shape: dict, settings: dict) -> list[dict]:
    """Every kind x precision of one pairing: one row each (skipped rows say why, failed rows the error)."""
    teacher, student = _pair_models(teacher_shape, student_shape, settings["vocab_size"], settings["num_labels"])
    mapping = layer_mapping(student.config.num_hidden_layers, teacher.config.num_hidden_layers)
    layer_loss = TransformerDistillationLoss(student.config.hidden_size, teacher.config.hidden_size, mapping)
    common = {"pairing": name, "teacher_layers": teacher.config.num_hidden_layers,
              "teacher_hidden": teacher.config.hidden_size, "student_layers": student.config.num_hidden_layers,
              "student_hidden": student.config.hidden_size, "mapping": mapping,
              "batch_size": settings["batch_size"]}
    rows = []
    for precision in settings["precisions"]:
        if precision == "fp16" and not torch.cuda.is_available():
            rows += [{**common, "kind": kind, "precision": precision, "skipped": "fp16 needs a CUDA device "
                      "(make_accelerator('fp16') refuses the CPU)"} for kind in step_bench.KINDS]
            continue
        done = set()
        try:
            with step_bench._accelerator(precision) as accelerator:
                device = accelerator.device
                for module in (teacher, student, layer_loss):
                    module.to(device)
                trainable = [p for m in (student, layer_loss) for p in m.parameters() if p.requires_grad]
                # prepared, so fp16's loss scaler unscales before clipping and steps through the scaler
                optimizer = accelerator.prepare_optimizer(torch.optim.AdamW(trainable, lr=settings["lr"]))
                parts = {"teacher": teacher, "student": student, "layer_loss": layer_loss,
                         "trainable": trainable, "optimizer": optimizer}
                for kind in step_bench.KINDS:
                    rows.append(_measure_kind(kind, precision, parts, accelerator, settings, common))
                    done.add(kind)
                del optimizer, parts
        except Exception as error:  # one broken precision must not cost the rest of a borrowed machine
            log.exception("%s %s failed", name, precision)
            rows += [{**common, "kind": kind, "precision": precision, "error": _error(error)}
                     for kind in step_bench.KINDS if kind not in done]
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    del teacher, student, layer_loss
    return rows


def _measure_kind(kind: str, precision: str, parts: dict, accelerator, settings: dict, common: dict) -> dict:
    device, seq_len = accelerator.device, settings["seq_len"][kind]
    vocab, batch_size = parts["teacher"].config.vocab_size, settings["batch_size"]
    log.info("%s %s %s: batch %d, length %d", common["pairing"], precision, kind, batch_size, seq_len)
    for step in range(settings["warmup_steps"]):
        warm = step_bench._batch(settings["warmup_batch_size"], seq_len, vocab, device, 1000 + step)
        step_bench._step(kind, parts, warm, accelerator, settings)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    allocated_before = torch.cuda.memory_allocated(device) if cuda else None
    laps, alone, losses = [], [], []
    with step_bench.PeakRss() as rss:
        for step in range(settings["timed_steps"]):
            batch = step_bench._batch(batch_size, seq_len, vocab, device, step + 1)
            lap, loss_s, loss = step_bench._step(kind, parts, batch, accelerator, settings)
            laps.append(lap)
            alone.append(loss_s)
            losses.append(loss)
    summary = step_bench._summary(kind, laps, alone, batch_size)
    return {**common, "kind": kind, "precision": precision, "device": str(device), "seq_len": seq_len,
            "warmup_steps": settings["warmup_steps"], "timed_steps": settings["timed_steps"], **summary,
            "tokens_per_s": summary["examples_per_s"] * seq_len, "loss": losses, "losses_finite": _finite(losses),
            "peak_gpu_memory_mib": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
            "peak_gpu_reserved_mib": torch.cuda.max_memory_reserved(device) / 2**20 if cuda else None,
            "gpu_memory_before_steps_mib": allocated_before / 2**20 if cuda else None,
            "peak_rss_mib": rss.peak / 2**20}


# ------------------------------------------------------------------------------------- losses
def _loss_inputs(s: dict) -> dict:
    """Random student/teacher internals and logits on the CPU: a padded batch whose masked keys hold
    float32 min in the scores, as `transformers` adds them."""
    g = torch.Generator().manual_seed(s["seed"])
    b, length, h = s["batch_size"], s["seq_len"], s["heads"]
    mask = torch.ones(b, length, dtype=torch.long)
    for row in range(s["padded_rows"]):
        mask[b - 1 - row, length - (row + 1) * max(1, length // 8):] = 0
    additive = torch.where(mask[:, None, None, :] == 1, 0.0, torch.finfo(torch.float32).min)

    def states(layers, width):
        return tuple(torch.randn(b, length, width, generator=g) for _ in range(layers + 1))

    def scores(layers):
        return tuple(torch.randn(b, h, length, length, generator=g) * 2.0 + additive for _ in range(layers))

    return {"student": Internals(states(s["student_layers"], s["student_hidden"]), scores(s["student_layers"])),
            "teacher": Internals(states(s["teacher_layers"], s["teacher_hidden"]), scores(s["teacher_layers"])),
            "mask": mask, "student_logits": torch.randn(b, s["num_labels"], generator=g) * 3.0,
            "teacher_logits": torch.randn(b, s["num_labels"], generator=g) * 3.0}


def _to(inputs: dict, device) -> dict:
    def leaf(t):
        return t.detach().to(device).requires_grad_(True)

    def moved(t):
        return t.detach().to(device)

    out = {}
    for key, value in inputs.items():
        make = leaf if key.startswith("student") else moved  # gradients flow into the student side only
        if isinstance(value, Internals):
            out[key] = Internals(tuple(make(t) for t in value.hidden_states),
                                 tuple(make(t) for t in value.attention_scores))
        else:
            out[key] = make(value)
    return out


def _evaluate_losses(inputs: dict, objective: TransformerDistillationLoss, temperatures) -> dict:
    """{name: (value, {gradient name: tensor on the CPU})} for each loss, computed where `inputs` live."""
    stu, tea, mask = inputs["student"], inputs["teacher"], inputs["mask"]
    projection = objective.projection_for("hidden")
    m, n = 1, objective.mapping[1]
    cases = {
        "embedding (Eq. 9)": lambda: embedding_loss(stu.hidden_states[0], tea.hidden_states[0], projection),
        "attention (Eq. 7)": lambda: attention_loss(stu.attention_scores[m - 1], tea.attention_scores[n - 1], mask),
        "hidden (Eq. 8)": lambda: hidden_loss(stu.hidden_states[m], tea.hidden_states[n], projection),
        **{f"prediction (Eq. 10, t={t:g})": (lambda t=t: prediction_loss(inputs["student_logits"],
                                                                        inputs["teacher_logits"], t))
           for t in temperatures},
        "objective total (Eq. 6/11)": lambda: objective(stu, tea, mask)["total"],
    }
    leaves = {"student_hidden": list(stu.hidden_states), "student_scores": list(stu.attention_scores),
              "student_logits": [inputs["student_logits"]], "projection_weight": [projection.weight]}
    out = {}
    for name, compute in cases.items():
        for tensors in leaves.values():
            for t in tensors:
                t.grad = None
        value = compute()
        value.backward()
        grads = {key: [t.grad.detach().cpu() for t in tensors if t.grad is not None]
                 for key, tensors in leaves.items()}
        out[name] = (float(value.detach()), {k: v for k, v in grads.items() if v})
    return out


def compare_losses(settings: dict) -> dict:
    """The losses on the CPU, and on CUDA when there is one, on the same inputs: values, gradients, diffs."""
    s = settings
    inputs = _loss_inputs(s)
    mapping = layer_mapping(s["student_layers"], s["teacher_layers"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s["seed"])
        objective = TransformerDistillationLoss(s["student_hidden"], s["teacher_hidden"], mapping)
    cpu = _evaluate_losses(_to(inputs, "cpu"), objective, s["temperatures"])
    result = {"settings": {**s, "temperatures": list(s["temperatures"]), "mapping": mapping, "dtype": "float32",
                           "inputs": "random, seeded; padded rows with float32-min mask values in the scores"},
              "tolerance": {"value_rtol": LOSS_RTOL, "value_atol": LOSS_ATOL,
                            "gradient_rtol_of_largest_entry": GRAD_RTOL},
              "cpu": {name: value for name, (value, _) in cpu.items()},
              "cpu_finite": _finite([value for value, _ in cpu.values()])}
    if not torch.cuda.is_available():
        return {**result, "compared": False, "skipped": "no CUDA device: the CPU values alone (--tiny or a CPU "
                "machine); the CUDA-vs-CPU comparison runs on a GPU"}
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32 here
    try:
        cuda = _evaluate_losses(_to(inputs, "cuda"), copy.deepcopy(objective).to("cuda"), s["temperatures"])
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    rows = {}
    for name, (cpu_value, cpu_grads) in cpu.items():
        cuda_value, cuda_grads = cuda[name]
        abs_diff = abs(cuda_value - cpu_value)
        grad_diff = {}
        for key, tensors in cpu_grads.items():
            largest = max(float(t.abs().max()) for t in tensors) or 1.0
            worst = max(float((a - b).abs().max()) for a, b in zip(tensors, cuda_grads[key], strict=True))
            grad_diff[key] = worst / largest
        rows[name] = {"cpu": cpu_value, "cuda": cuda_value, "abs_diff": abs_diff,
                      "rel_diff": abs_diff / abs(cpu_value) if cpu_value else None,
                      "max_grad_diff_over_largest": grad_diff,
                      "equal": bool(abs_diff <= LOSS_ATOL + LOSS_RTOL * abs(cpu_value)
                                    and all(d <= GRAD_RTOL for d in grad_diff.values()))}
    return {**result, "compared": True, "cuda": {name: row["cuda"] for name, row in rows.items()},
            "rows": rows, "all_equal": all(row["equal"] for row in rows.values())}


# --------------------------------------------------------------------------------- end to end
_TOPICS = {  # label -> (single-piece words, words the fixture vocabulary splits into pieces)
    "sport": (["striker", "goal", "match", "coach", "team", "league", "cup", "player", "season", "club"],
              ["footballer", "championship", "goalkeeper", "tournament"]),
    "tech": (["phone", "chip", "software", "network", "data", "robot", "screen", "code", "computer", "web"],
             ["smartphone", "processor", "broadband", "algorithm"]),
    "food": (["bread", "cheese", "soup", "chef", "kitchen", "menu", "wine", "salad", "dinner", "recipe"],
             ["restaurant", "vegetables", "chocolate", "breakfast"]),
}
_SHARED = ["new", "big", "late", "first", "city", "week", "report", "people", "local", "best"]
_VERBS = ["says", "shows", "wins", "plans", "faces", "gets", "makes", "opens", "loses", "finds"]
_STOP = ["the", "a", "of", "in", "at", "for", "and", "to", "is", "on", "with"]
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _sentence(rng: np.random.Generator, topic: str) -> str:
    single, multi = _TOPICS[topic]
    pick = lambda words: words[int(rng.integers(len(words)))]  # noqa: E731
    words = [pick(_STOP[:2]), pick(_SHARED), pick(single), pick(_VERBS), pick(_STOP), pick(single + multi),
             pick(_STOP[2:]), pick(_SHARED), pick(single + multi)]
    return " ".join(words[int(rng.integers(2)):])


def write_fixture(folder: str | Path, settings: dict) -> dict:
    """The files of a fixture run, all made here: task.csv (text,label; three topics), corpus.txt (one
    document a line), glove.txt (GloVe text format; topic words near each other) and teacher/ (a random
    BertModel with `save_pretrained` and its WordPiece tokenizer). Returns their paths."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(settings["seed"])
    topics = list(_TOPICS)
    with open(folder / "task.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        for i in range(settings["rows"]):
            writer.writerow([_sentence(rng, topics[i % len(topics)]), topics[i % len(topics)]])
    lines = [" . ".join(_sentence(rng, topics[int(rng.integers(3))]) for _ in range(3))
             for _ in range(settings["corpus_lines"])]
    (folder / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    whole = [w for single, _ in _TOPICS.values() for w in single] + _SHARED + _VERBS + _STOP
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = list(dict.fromkeys(_SPECIAL + whole + letters + ["##" + c for c in letters] + [".", ",", "'"]))

    dim = settings["glove_dim"]
    centres = {topic: rng.normal(size=dim) for topic in topics}
    rows = []
    for topic, (single, multi) in _TOPICS.items():
        rows += [(w, centres[topic] + 0.3 * rng.normal(size=dim)) for w in single + multi]
    rows += [(w, rng.normal(size=dim)) for w in _SHARED + _VERBS + _STOP]
    (folder / "glove.txt").write_text("".join(f"{w} {' '.join(f'{x:.5f}' for x in v)}\n" for w, v in rows),
                                      encoding="utf-8")

    teacher_dir = folder / "teacher"
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    if len(tokenizer) != len(vocab):
        raise RuntimeError(f"the fixture tokenizer has {len(tokenizer)} entries, not {len(vocab)}: this "
                           "transformers version builds WordPiece tokenizers differently")
    config = BertConfig(vocab_size=len(vocab), max_position_embeddings=128, type_vocab_size=2, pad_token_id=0,
                        **settings["teacher"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings["seed"])
        BertModel(config).save_pretrained(teacher_dir)
    tokenizer.save_pretrained(teacher_dir)
    return {"task": folder / "task.csv", "corpus": folder / "corpus.txt", "glove": folder / "glove.txt",
            "teacher": teacher_dir, "vocab_size": len(vocab)}


def _datasets_missing() -> str | None:
    if importlib.util.find_spec("datasets") is None:
        return ("the Python package `datasets` is not installed (the pipeline keeps tasks and corpora as "
                "`datasets` tables): carry its wheels (datasets, dill, multiprocess) as the module docstring "
                "of benchmarks/gpu.py and /work/.library/device/README.md describe")
    return None


def end_to_end(settings: dict, folder: str | Path) -> dict:
    """`pipeline.run` on the fixture, once per precision, sharing one stage store (the masked LM and the
    augmented set are made once; the stages keyed by precision run again)."""
    from tinybert_ref.config import RunConfig

    missing = _datasets_missing()
    if missing:
        log.warning("end_to_end skipped: %s", missing)
        return {"skipped": missing}
    from tinybert_ref.pipeline import run as run_pipeline

    folder = Path(folder)
    fixture = write_fixture(folder / "fixture", settings)
    runs = {}
    for precision in settings["precisions"]:
        if precision == "fp16" and not torch.cuda.is_available():
            runs[precision] = {"skipped": "fp16 needs a CUDA device"}
            continue
        config = RunConfig(profile=settings["profile"], teacher=str(fixture["teacher"]), task=str(fixture["task"]),
                           student=settings["student"], corpus=str(fixture["corpus"]), glove=str(fixture["glove"]),
                           precision=precision, profile_overrides=tuple(settings["overrides"]))
        log.info("end to end, %s: %s", precision, config)
        start = time.perf_counter()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        try:
            with step_bench._accelerator(precision) as accelerator:
                metrics = run_pipeline(config, folder / f"run-{precision}", store=folder / "stages")
                device = str(accelerator.device)
        except Exception as error:
            log.exception("end to end %s failed", precision)
            runs[precision] = {"error": _error(error), "wall_s": time.perf_counter() - start}
            continue
        runs[precision] = {
            "device": device,
            "wall_s": time.perf_counter() - start,
            "teacher_test": metrics["teacher"]["test_metric"], "student_test": metrics["student"]["test_metric"],
            "teacher_dev": metrics["teacher"]["dev_metric"], "student_dev": metrics["student"]["dev_metric"],
            "retention": metrics.get("retention"),
            "stages": {name: {k: stage.get(k) for k in ("wall_s", "final_loss", "steps", "dev_metric", "examples")
                              if k in stage} for name, stage in metrics.get("stages", {}).items()},
            "losses_finite": _finite([stage["final_loss"] for stage in metrics.get("stages", {}).values()
                                      if stage.get("final_loss") is not None]),
            "peak_gpu_memory_mib": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
            "student_exported": (folder / f"run-{precision}" / "student" / "config.json").is_file(),
        }
    return {"where": "training stages and evaluation through accelerate (CUDA when there is one); the masked-LM "
                     "stage and Algorithm 1 on the CPU (augment.mlm keeps the model where it loads)",
            "profile": settings["profile"], "overrides": dict(settings["overrides"]), "student": settings["student"],
            "teacher_shape": settings["teacher"], "fixture": {"rows": settings["rows"],
                                                                "corpus_lines": settings["corpus_lines"],
                                                                "vocab_size": fixture["vocab_size"],
                                                                "glove_dim": settings["glove_dim"],
                                                                "labels": list(_TOPICS)},
            "runs": runs}


# -------------------------------------------------------------------------------------- run
def run(out: str | Path | None = None, tiny: bool = False, parts=PARTS) -> dict:
    """Run the chosen parts; write the JSON to `out` (a .json path, or a folder for gpu.json) and return it."""
    if not tiny and not torch.cuda.is_available():
        raise RuntimeError("no CUDA device: `python -m benchmarks.gpu` is the GPU check; run it where "
                           "torch.cuda.is_available() is True, or use --tiny for the CPU smoke run")
    settings = TINY_SETTINGS if tiny else SETTINGS
    start, machine = time.perf_counter(), describe()
    result = {"benchmark": "gpu", "tiny": tiny, "device": "cuda" if torch.cuda.is_available() else "cpu",
              "cuda": cuda_description(), "versions": _versions(), "parts": list(parts),
              "settings": {k: _jsonable(v) for k, v in settings.items()}}
    if "steps" in parts:
        rows = []
        for name, (teacher_shape, student_shape) in (TINY_PAIRINGS if tiny else PAIRINGS).items():
            rows += measure_steps(name, teacher_shape, student_shape, settings["steps"])
        result["steps"] = {"rows": rows}
    if "losses" in parts:
        result["losses"] = compare_losses(settings["losses"])
    if "end_to_end" in parts:
        with tempfile.TemporaryDirectory(prefix="tinybert-gpu-e2e-") as folder:
            result["end_to_end"] = end_to_end(settings["end_to_end"], folder)
    result.update(machine=machine, load_average_end=load_average(), wall_s=time.perf_counter() - start)
    result["summary"] = summary_lines(result)
    if out is not None:
        path = Path(out)
        if path.suffix == ".json":
            write_result(path.stem, result, path.parent)
        else:
            write_result("gpu", result, path)
    return result


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def summary_lines(r: dict) -> list[str]:
    """One line per measured thing, for the console and the README section."""
    lines = []
    for row in r.get("steps", {}).get("rows", []):
        head = f"{row['pairing']} {row['kind']} {row['precision']}"
        if "skipped" in row or "error" in row:
            lines.append(f"{head}: {'skipped: ' + row['skipped'] if 'skipped' in row else 'ERROR ' + row['error']}")
            continue
        memory = f", peak GPU memory {row['peak_gpu_memory_mib']:,.0f} MiB" if row["peak_gpu_memory_mib"] else ""
        lines.append(f"{head}: {row['examples_per_s']:,.1f} examples/s (batch {row['batch_size']}, length "
                     f"{row['seq_len']}){memory}, loss {row['loss'][-1]:.4g}")
    losses = r.get("losses")
    if losses:
        if losses.get("compared"):
            worst = max(row["rel_diff"] or 0.0 for row in losses["rows"].values())
            lines.append(f"losses CUDA vs CPU: {'all equal' if losses['all_equal'] else 'NOT ALL EQUAL'} within rtol "
                         f"{LOSS_RTOL:g} (largest relative difference {worst:.1e})")
        else:
            lines.append(f"losses CUDA vs CPU: skipped ({losses['skipped']}); CPU values finite: {losses['cpu_finite']}")
    e2e = r.get("end_to_end")
    if e2e:
        if "skipped" in e2e:
            lines.append(f"end to end: skipped ({e2e['skipped']})")
        for precision, one in e2e.get("runs", {}).items():
            if "skipped" in one or "error" in one:
                lines.append(f"end to end {precision}: {one.get('skipped') or 'ERROR ' + one['error']}")
            else:
                lines.append(f"end to end {precision} on {one['device']}: {one['wall_s']:.0f} s, teacher test "
                             f"{one['teacher_test']:.3f}, student test {one['student_test']:.3f}")
    return lines


DOWNLOAD = ("python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "
            "--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 "
            "-d .whl datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19")
COMMAND = ("python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "
           ".whl/*.whl && export PYTHONPATH=/tmp/site:$PWD && PYTHONUNBUFFERED=1 python3 -m benchmarks.gpu "
           "--out $OUT/gpu.json 2>&1 | tee $OUT/gpu.log")


def readme_section(result: dict | None = None) -> str:
    """Markdown for benchmarks/results/README.md: how to run the GPU check, and its results if any."""
    text = [
        "## GPU check (`python -m benchmarks.gpu`)",
        "",
        "One command for whoever has a CUDA GPU, under 8 minutes, no packaged assets (random weights; fixtures "
        "written to a temporary folder): general and task distillation steps of BERT-base -> TinyBERT4 / "
        "TinyBERT6 in fp32, bf16 and fp16 with examples/s and peak GPU memory, the four losses on CUDA equal to "
        f"the CPU (rtol {LOSS_RTOL:g}), and a `ci`-sized `pipeline.run` on a fixture task on the GPU, in fp32 "
        "and fp16. What each part measures: the docstring of `benchmarks/gpu.py`.",
        "",
        "On a machine with a GPU and this project installed (`pip install -e .`), from the repository root:",
        "",
        "    python -m benchmarks.gpu                 # writes benchmarks/results/gpu.json",
        "",
        "On a borrowed device machine of this workplace (torch, transformers and accelerate are there, "
        "`datasets` is not): first, here, in the repository root (`.whl/` is git-ignored),",
        "",
        "    " + DOWNLOAD,
        "",
        "then run, with `carry: [\".whl\"]` and `timeout_s: 600`,",
        "",
        "    " + COMMAND,
        "",
        "and copy `gpu.json` from the returned files to `benchmarks/results/gpu.json`. Without the wheels the "
        "steps and the losses still run and the JSON records the end-to-end part as skipped, with the reason. "
        "`python -m benchmarks.gpu --tiny --out /tmp/gpu.json` runs the same code on the CPU at tiny sizes "
        "(fp16 and the CUDA comparison recorded as skipped); `tests/test_gpu_bench.py` runs it in CI. "
        "`--only steps,losses,end_to_end` picks parts.",
    ]
    if result is None:
        text += ["", "No GPU result committed yet."]
    else:
        cuda = result.get("cuda", {})
        text += ["", f"Measured on {cuda.get('name', 'the CPU (tiny)')}, torch {result['versions']['torch']}, "
                 f"CUDA {cuda.get('cuda')}, {result['machine'].get('time_utc')}:", ""]
        text += [f"- {line}" for line in result.get("summary", [])]
    return "\n".join(text) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on the CPU (seconds; numbers say nothing)")
    parser.add_argument("--out", default=None, help="the JSON file (or a folder for gpu.json); default "
                        f"{RESULTS_DIR / 'gpu.json'}, with --tiny a temporary file")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated subset of " + ",".join(PARTS))
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    out = args.out or (Path(tempfile.mkdtemp(prefix="tinybert-gpu-")) / "gpu.json" if args.tiny
                       else RESULTS_DIR / "gpu.json")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    with contextlib.suppress(ImportError):
        import transformers

        transformers.logging.set_verbosity_error()
    try:
        result = run(out, tiny=args.tiny, parts=parts)
    except RuntimeError as error:
        print(f"python -m benchmarks.gpu: error: {error}", file=sys.stderr)
        return 2
    for line in result["summary"]:
        print(line)
    print(f"total {result['wall_s']:.0f} s; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
