"""Ship the student: ONNX export with dynamic axes, the equality check, and int8 dynamic quantisation.

The paper measures TinyBERT in PyTorch (Section 4, Table 1); shipping it means a file that a runtime
without PyTorch loads. `export_run(RUN_DIR)` writes RUN_DIR/export/:

    student.onnx, teacher.onnx             fp32 graphs. Inputs input_ids, attention_mask, token_type_ids
                                           (B, L) int64; output logits (B, C); B and L are dynamic
    student.int8.onnx, teacher.int8.onnx   after onnxruntime's dynamic quantisation: int8 weights, and
                                           activations quantised to uint8 per batch at run time
    tokenizer.json (+ its config files), labels.json (label names in id order), export.json (what was
    written, its sizes, the measured difference to PyTorch, and the task's text_columns: two for a
    sentence-pair task, whose inputs are (text, text_pair) tuples)

`onnx_predict.OnnxClassifier` loads that folder with numpy, tokenizers and onnxruntime only. For measuring
what shipping buys, `run_test_examples` rebuilds the run's test split and `interleaved_latency` times any
runtimes in turn (notebook 11, section 5; `benchmarks/deploy.py`). Taught in notebook 11; `tinybert-ref export
RUN_DIR --onnx [--int8]` calls `run_export`. torch, transformers and onnxruntime are imported inside the
functions, so the command line stays quick to start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["INPUT_NAMES", "OUTPUT_NAMES", "find_checkpoints", "logits_only", "export_onnx", "quantize_int8",
           "onnx_logits", "export_run", "run_test_examples", "interleaved_latency", "quiet_exporters",
           "add_export_parser", "run_export"]

log = logging.getLogger(__name__)
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("logits",)
# Sentences of different lengths for the check that export_run makes after writing each graph.
CHECK_SENTENCES = ("Shares rise as the bank raises its profit forecast",
                   "Striker scores twice in cup final",
                   "New phone maker unveils a cheaper handset for schools and small businesses in Europe")
# ... and sentence pairs (token_type_ids 1 on the second sentence), checked for every model: the graph is
# the same for a single-sentence and a pair task, only the inputs differ.
CHECK_PAIRS = (("Striker scores twice in cup final", "The forward found the net two times as his side won the cup."),
               ("Shares rise as the bank raises its profit forecast", "The band's new album is out on Friday."))
# An exported graph that differs from PyTorch by more than this is not written off as rounding: stop.
MAX_FP32_DIFFERENCE = 1e-3


def _is_checkpoint(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")))


def find_checkpoints(run_dir) -> dict[str, Path | None]:
    """{"student": RUN_DIR/student, "teacher": the fine-tuned teacher or None} of a finished run.

    The teacher is RUN_DIR/teacher (written by `tinybert-ref run`), else the teacher stage's model in the
    run's stage store (metrics.json `stage_dirs`). Raises FileNotFoundError naming RUN_DIR when it holds
    no student.
    """
    run_dir = Path(run_dir)
    student = run_dir / "student"
    if not _is_checkpoint(student):
        where = "does not exist" if not run_dir.is_dir() else f"has no student checkpoint ({student} is missing)"
        raise FileNotFoundError(f"run folder {run_dir} {where}: run `tinybert-ref run --out {run_dir}` first, "
                                "then export its student")
    return {"student": student, "teacher": _find_teacher(run_dir)}


def _find_teacher(run_dir: Path) -> Path | None:
    if _is_checkpoint(run_dir / "teacher"):
        return run_dir / "teacher"
    try:
        from .snapshots import find_store

        metrics = json.loads((run_dir / "metrics.json").read_text())
        folder = find_store(run_dir) / metrics["stage_dirs"]["teacher"] / "model"
    except (FileNotFoundError, KeyError, ValueError) as error:
        log.warning("no fine-tuned teacher found for %s (%s): the teacher is skipped", run_dir, error)
        return None
    if not _is_checkpoint(folder):
        log.warning("the teacher stage of %s holds no model (%s): the teacher is skipped", run_dir, folder)
        return None
    return folder


def logits_only(model):
    """`model` (a BertForSequenceClassification) behind a forward that takes (input_ids, attention_mask,
    token_type_ids), each (B, L), by position and returns the logits (B, C) alone: the graph's signature."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, classifier):
            super().__init__()
            self.classifier = classifier

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.classifier(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids).logits

    return LogitsOnly(model).eval()


@contextlib.contextmanager
def quiet_exporters():
    """The exporter and the quantiser log and warn about things that are not ours to fix (torchvision ops
    absent, axis renaming, "consider pre-processing"): keep them out of the notebooks' outputs."""
    # the root logger too: onnxruntime's quantiser warns through logging.warning
    names = ("torch.onnx", "torch._dynamo", "torch.export", "torch.fx", "onnxscript", "onnx_ir")
    loggers = [logging.getLogger(name) for name in names] + [logging.getLogger()]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export_onnx(model, path, example_length: int = 16):
    """Write `model` (BertForSequenceClassification, eval mode) to `path` as an fp32 ONNX graph.

    torch.onnx.export with dynamo=True (the torch.export-based exporter, the default since torch 2.9; the
    TorchScript one is deprecated), batch B and length L dynamic up to max_position_embeddings, one file
    (weights inside). The example batch is (2, example_length) with padding in its second row, so that
    the traced masking path is the padded one. Returns the path.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    low = 1000 if model.config.vocab_size > 2000 else 0  # past [PAD], [unused], [CLS], [SEP] of a BERT vocabulary
    input_ids = torch.randint(low, model.config.vocab_size, (2, example_length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, example_length // 2:] = 0
    batch = torch.export.Dim("batch", min=1, max=4096)
    length = torch.export.Dim("sequence", min=1, max=model.config.max_position_embeddings)
    dynamic = {name: {0: batch, 1: length} for name in INPUT_NAMES}
    with quiet_exporters(), torch.no_grad():
        torch.onnx.export(logits_only(model), (input_ids, attention_mask, torch.zeros_like(input_ids)), str(path),
                          input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES), dynamic_shapes=dynamic,
                          dynamo=True, external_data=False, optimize=True, verbose=False)
    log.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def quantize_int8(onnx_path, out_path, per_channel: bool = False):
    """onnxruntime's dynamic quantisation of an fp32 graph: the weights of every MatMul/Gemm and the
    embedding tables become int8 (symmetric, one scale per tensor, or per output column with
    per_channel); activations are quantised to uint8 per batch when the graph runs. Returns out_path."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out_path = Path(out_path)
    with quiet_exporters():
        quantize_dynamic(str(onnx_path), str(out_path), weight_type=QuantType.QInt8, per_channel=per_channel)
    log.info("quantised %s -> %s (%.1f MB)", Path(onnx_path).name, out_path.name, out_path.stat().st_size / 1e6)
    return out_path


def onnx_logits(onnx_path, inputs: dict, threads: int | None = None) -> np.ndarray:
    """The graph's logits (B, C) for `inputs` ({name: (B, L) integer array}); extra keys are ignored."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feed = {i.name: np.asarray(inputs[i.name], dtype=np.int64) for i in session.get_inputs()}
    return session.run(None, feed)[0]


def _check_batches(tokenizer, max_length: int) -> list[dict]:
    """Three batches: CHECK_SENTENCES padded together (B = 3), the shortest alone (B = 1), and
    CHECK_PAIRS as sentence pairs (B = 2, segments 0 and 1)."""
    def encode(texts, pairs=None):
        return dict(tokenizer(list(texts), pairs, padding=True, truncation=True, max_length=max_length,
                              return_tensors="np"))

    return [encode(CHECK_SENTENCES), encode(CHECK_SENTENCES[1:2]),
            encode([a for a, _ in CHECK_PAIRS], [b for _, b in CHECK_PAIRS])]


def _max_difference(model, onnx_path, batches) -> float:
    import torch

    worst = 0.0
    for batch in batches:
        with torch.no_grad():
            expected = logits_only(model)(*(torch.as_tensor(batch[name]) for name in INPUT_NAMES)).numpy()
        worst = max(worst, float(np.abs(onnx_logits(onnx_path, batch) - expected).max()))
    return worst


def _max_length(run_dir: Path, model_config) -> int:
    """The run's max_seq_len (what its evaluation truncated to), else the model's position limit."""
    try:
        from .config import RunConfig

        config = json.loads((run_dir / "config.json").read_text())
        config["profile_overrides"] = tuple((config.get("profile_overrides") or {}).items())
        return int(RunConfig(**config).resolved_profile().max_seq_len)
    except (OSError, ValueError, TypeError) as error:
        log.info("no usable %s (%s): truncating at %d positions", run_dir / "config.json", error,
                 model_config.max_position_embeddings)
        return int(model_config.max_position_embeddings)


def _text_columns(run_dir: Path) -> list[str] | None:
    """["text"] or ["text", "text_pair"] (a sentence-pair task: classify (text, text_pair) tuples), from
    the run's metrics.json; None when it does not say."""
    try:
        return json.loads((run_dir / "metrics.json").read_text())["task"]["text_columns"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _export_one(name: str, folder: Path, out: Path, int8: bool, batches: list[dict]) -> dict:
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(folder).eval()  # default attention, as shipped
    graph = export_onnx(model, out / f"{name}.onnx")
    difference = _max_difference(model, graph, batches)
    if difference > MAX_FP32_DIFFERENCE:
        raise RuntimeError(f"{graph} differs from PyTorch by {difference:.3g} (more than {MAX_FP32_DIFFERENCE}): "
                           "the export is wrong; it was not kept")
    entry = {"source": str(folder), "onnx": graph.name, "onnx_bytes": graph.stat().st_size,
             "max_abs_difference_fp32": difference,
             "pytorch_bytes": sum(p.stat().st_size for p in folder.glob("*.safetensors"))}
    if int8:
        quantized = quantize_int8(graph, out / f"{name}.int8.onnx")
        entry.update(int8=quantized.name, int8_bytes=quantized.stat().st_size,
                     max_abs_difference_int8=_max_difference(model, quantized, batches))
    return entry


def export_run(run_dir, onnx: bool = True, int8: bool = False, teacher: bool = True, out=None) -> dict:
    """Export a finished run's student (and its fine-tuned teacher) into RUN_DIR/export (or `out`).

    onnx: the fp32 graphs; int8: also their dynamically quantised copies (made from the fp32 graph, which
    is written too). Each fp32 graph is checked against PyTorch on CHECK_SENTENCES and CHECK_PAIRS
    (RuntimeError above MAX_FP32_DIFFERENCE). The folder also gets the tokenizer files, labels.json and
    export.json. Returns export.json's content. FileNotFoundError when RUN_DIR holds no student (run `tinybert-ref run` first).
    """
    from transformers import AutoConfig, AutoTokenizer

    if not (onnx or int8):
        raise ValueError("nothing to export: pass onnx=True (the fp32 graph) and/or int8=True (its int8 copy)")
    run_dir = Path(run_dir)
    checkpoints = find_checkpoints(run_dir)
    out = Path(out) if out is not None else run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    config = AutoConfig.from_pretrained(checkpoints["student"])
    tokenizer = AutoTokenizer.from_pretrained(checkpoints["student"])
    tokenizer.save_pretrained(out)
    if not (out / "tokenizer.json").is_file():
        raise ValueError(f"the tokenizer of {checkpoints['student']} is not a fast tokenizer (no tokenizer.json), "
                         "which onnx_predict needs; save the student with a fast tokenizer")
    labels = [config.id2label[i] for i in range(config.num_labels)]
    (out / "labels.json").write_text(json.dumps(labels, indent=2))
    max_length = _max_length(run_dir, config)
    batches = _check_batches(tokenizer, max_length)
    names = ["student"] + (["teacher"] if teacher else [])
    manifest = {"run_dir": str(run_dir), "labels": labels, "max_length": max_length,
                "text_columns": _text_columns(run_dir), "inputs": list(INPUT_NAMES),
                "outputs": list(OUTPUT_NAMES), "dynamic_axes": {"0": "batch", "1": "sequence"},
                "check_sentences": list(CHECK_SENTENCES), "check_pairs": [list(p) for p in CHECK_PAIRS],
                "models": {}, "skipped": {}, "versions": _versions()}
    for name in names:
        if checkpoints[name] is None:
            manifest["skipped"][name] = "no fine-tuned teacher found in the run folder or its stage store"
            continue
        manifest["models"][name] = _export_one(name, checkpoints[name], out, int8, batches)
    (out / "export.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def run_test_examples(run_dir) -> dict:
    """The test split a run was scored on: {"texts", "labels", "label_names", "metric", "task"}.

    texts: a list of str, or of (text, text_pair) for sentence-pair tasks; labels: (N,) array. Rebuilt
    from RUN_DIR/config.json as `pipeline.prepare` builds it (the task's fixed split, cut to the profile's
    eval_limit with the same seeded shuffle), so a model's score on it is the run's test metric.
    """
    from .config import RunConfig
    from .data.tasks import load_task

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `tinybert-ref run --out {run_dir}` first")
    values = json.loads(path.read_text())
    values["profile_overrides"] = tuple((values.get("profile_overrides") or {}).items())
    try:
        config = RunConfig(**values)
    except TypeError as error:
        raise ValueError(f"{path} was written by another version of tinybert_ref ({error}); re-run the run") from None
    info, task = load_task(config.task, **config.task_options())
    test, limit = task["test"], config.resolved_profile().eval_limit
    if limit is not None and len(test) > limit:
        test = test.shuffle(seed=0).select(range(limit))  # as pipeline.prepare cuts dev and test
    texts = list(zip(test["text"], test["text_pair"], strict=True)) if "text_pair" in test.column_names \
        else list(test["text"])
    return {"texts": texts, "labels": np.asarray(test["label"]), "label_names": list(info.label_names),
            "metric": info.metric, "task": info.name}


def interleaved_latency(runners: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, dict]:
    """Milliseconds per call of each runner (PyTorch, onnxruntime, anything), the runners taking turns (A, B, C,
    A, B, C, ...) after `warmup` untimed calls each, so that drift of the machine's load hits them alike.
    Returns {name: {"median_ms", "p90_ms", "all_ms"}}. `evaluate.measure_latency` does this for torch models."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for runner in runners.values():
        for _ in range(warmup):
            runner()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner()
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: {"median_ms": statistics.median(t), "p90_ms": float(np.percentile(t, 90)), "all_ms": t}
            for name, t in times.items()}


def _versions() -> dict:
    import onnx
    import onnxruntime
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__}


# ------------------------------------------------------------------------------------------ command line
def add_export_parser(subparsers):
    """Add `export RUN_DIR --onnx [--int8] [--no-teacher] [--out DIR]` to the CLI's subparsers."""
    parser = subparsers.add_parser("export", help="export a run's student (and teacher) to ONNX, optionally int8",
                                   description="Write RUN_DIR/export/: student.onnx (and teacher.onnx) with dynamic "
                                   "batch and length, their int8 copies with --int8, the tokenizer files and "
                                   "labels.json; load it with tinybert_ref.onnx_predict.OnnxClassifier.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder (it holds student/)")
    parser.add_argument("--onnx", action="store_true", help="the fp32 ONNX graphs")
    parser.add_argument("--int8", action="store_true", help="also their int8 copies (dynamic quantisation)")
    parser.add_argument("--no-teacher", dest="teacher", action="store_false", help="export the student only")
    parser.add_argument("--out", default=None, help="export folder (default RUN_DIR/export)")
    return parser


def run_export(args) -> int:
    """The `export` command: 0 on success; 2 with one line on stderr for bad input."""
    import os

    if not (args.onnx or args.int8):
        print("tinybert-ref export: error: nothing to export: pass --onnx (fp32 graphs) and/or --int8",
              file=sys.stderr)
        return 2
    try:
        manifest = export_run(args.run_dir, onnx=args.onnx, int8=args.int8, teacher=args.teacher, out=args.out)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        if os.environ.get("TINYBERT_DEBUG"):
            raise
        print(f"tinybert-ref export: error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.run_dir) / "export"
    for name, entry in manifest["models"].items():
        files = [f"{entry['onnx']} ({entry['onnx_bytes'] / 1e6:.1f} MB)"]
        if "int8" in entry:
            files.append(f"{entry['int8']} ({entry['int8_bytes'] / 1e6:.1f} MB)")
        print(f"{name}: {', '.join(files)}; fp32 graph vs PyTorch: max |difference| "
              f"{entry['max_abs_difference_fp32']:.2g}")
    for name, reason in manifest["skipped"].items():
        print(f"{name}: skipped ({reason})")
    print(f"export folder: {out} (load it with tinybert_ref.onnx_predict.OnnxClassifier)")
    return 0
