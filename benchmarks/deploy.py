"""Shipping: PyTorch fp32 vs ONNX fp32 vs ONNX int8, for a run's teacher and student and the BERT-base shape.

Measured, per model and runtime: the file's size; the test metric on the run's test split
(`tinybert_ref.export.run_test_examples`, the split metrics.json was scored on), the agreement of int8's
predictions with fp32's and the largest logit difference; latency at batch 1 and 32, lengths 64 and 128,
with 2 threads in every runtime (torch.set_num_threads, onnxruntime intra_op_num_threads), the three runtimes
interleaved on the same random batch, median of the repeats. `bert_base` has random weights (as in
`inference.py`): size and speed only. The graphs are exported by `tinybert_ref.export` into a temporary
folder (the run folder is left as it is).

Compared to: the size bound, 4x (an fp32 weight takes 4 bytes, an int8 one 1; biases and LayerNorm stay
fp32), and the arithmetic bound of int8 speed, 4x (a 512-bit VNNI instruction does 64 int8 multiply-adds
where an FMA does 16 fp32 ones); the activations' quantisation at run time and the operations left in fp32
(attention's score and weighted-sum products, softmax, LayerNorm, GELU) keep the measured speed-up below it.

    python -m benchmarks --only deploy                       # runs/laptop/seed-42, else runs/laptop
    python -m benchmarks.deploy --run runs/laptop [--tiny] [--out DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tinybert_ref.evaluate import compute_metrics
from tinybert_ref.export import export_onnx, export_run, interleaved_latency, quantize_int8, run_test_examples

from . import RESULTS_DIR, ROOT, write_result
from .inference import SHAPES, TINY_SHAPES, build_models
from .machine import describe, load_average

__all__ = ["RUN_DIR", "RUNTIMES", "SETTINGS", "run"]

log = logging.getLogger(__name__)
RUN_DIR = ROOT / "runs" / "laptop"
# `tinybert-ref run --seeds 42,43,44 --out runs/laptop` puts seed 42's run (the one quality.py reads) here
RUN_DIRS = (RUN_DIR / "seed-42", RUN_DIR)
TINY_RUN_DIR = ROOT / "runs" / "ci"
RUNTIMES = ("pytorch_fp32", "onnx_fp32", "onnx_int8")
SETTINGS = {"threads": 2, "lengths": [64, 128], "batches": {1: {"repeats": 20, "warmup": 3}, 32: {"repeats": 5, "warmup": 1}},
            "eval_batch_size": 64, "profile_runs": 3}
TINY_SETTINGS = {"threads": 2, "lengths": [16], "batches": {1: {"repeats": 2, "warmup": 1}, 4: {"repeats": 2, "warmup": 1}},
                 "eval_batch_size": 64, "profile_runs": 1}
BOUNDS = {"size": 4.0, "int8_arithmetic": 4.0}


def _session(path: Path, threads: int, profile_prefix: str | None = None):
    """An onnxruntime CPU session with `threads` threads; `profile_prefix` turns its profiler on."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    # no spin-waiting between runs: a spinning thread would take a core from the runtime timed next
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix:
        options.enable_profiling, options.profile_file_prefix = True, profile_prefix
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _random_batch(vocab_size: int, batch: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(seed)
    input_ids = generator.integers(1000 if vocab_size > 2000 else 0, vocab_size, (batch, length), dtype=np.int64)
    return {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids), "token_type_ids": np.zeros_like(input_ids)}


class _Runtimes:
    """One model in the three runtimes, each a function from a batch of numpy ids to numpy logits."""

    def __init__(self, model, fp32_path: Path, int8_path: Path, threads: int):
        self.model, self.threads = model.eval(), threads
        self.sessions = {"onnx_fp32": _session(fp32_path, threads), "onnx_int8": _session(int8_path, threads)}

    def logits(self, runtime: str, batch: dict[str, np.ndarray]) -> np.ndarray:
        if runtime == "pytorch_fp32":
            with torch.inference_mode():
                return self.model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
        return self.sessions[runtime].run(None, batch)[0]


def _latency(runtimes: _Runtimes, vocab_size: int, settings: dict) -> dict[str, dict]:
    out: dict[str, dict] = {name: {} for name in RUNTIMES}
    for length in settings["lengths"]:
        for batch_size, timing in settings["batches"].items():
            batch = _random_batch(vocab_size, batch_size, length)
            measured = interleaved_latency({name: (lambda n=name, b=batch: runtimes.logits(n, b)) for name in RUNTIMES},
                                           repeats=timing["repeats"], warmup=timing["warmup"])
            for name, latency in measured.items():
                out[name][f"batch_{batch_size}_len_{length}"] = {**latency, "batch": batch_size, "seq_len": length,
                                                                 **timing}
    return out


# onnxruntime's int8 kernels and the activation quantisation quantize_dynamic inserts before them
_INT8_OPS = ("MatMulInteger", "DynamicQuantizeMatMul", "DynamicQuantizeLinear", "MatMulIntegerToFloat")


def _op_times(path: Path, batch: dict[str, np.ndarray], threads: int, runs: int) -> dict[str, float]:
    """Milliseconds per run spent in each operator type (onnxruntime's own profiler, `runs` runs after one
    warm-up): where an int8 graph's time goes, against the fp32 graph's."""
    import json

    with tempfile.TemporaryDirectory(prefix="tinybert-ort-profile-") as folder:
        session = _session(path, threads, profile_prefix=str(Path(folder) / "profile"))
        for _ in range(runs + 1):
            session.run(None, batch)
        events = json.loads(Path(session.end_profiling()).read_text())
    runs_seen = [e for e in events if e.get("name") == "model_run"]
    total: dict[str, float] = {}
    warmup_end = runs_seen[0]["ts"] + runs_seen[0]["dur"] if runs_seen else 0
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= warmup_end:
            op = event["args"]["op_name"]
            total[op] = total.get(op, 0.0) + event["dur"] / 1000 / runs
    return dict(sorted(total.items(), key=lambda item: -item[1]))


def _where_time_goes(fp32_path: Path, int8_path: Path, vocab_size: int, settings: dict) -> dict:
    """At the largest batch and length: each graph's time by operator type, and int8's split into its int8
    kernels (with the activations' quantisation) and everything left in fp32."""
    batch_size, length = max(settings["batches"]), max(settings["lengths"])
    batch = _random_batch(vocab_size, batch_size, length)
    times = {name: _op_times(path, batch, settings["threads"], runs=settings["profile_runs"])
             for name, path in (("onnx_fp32", fp32_path), ("onnx_int8", int8_path))}
    int8_kernels = sum(ms for op, ms in times["onnx_int8"].items() if op in _INT8_OPS)
    int8_total = sum(times["onnx_int8"].values())
    fp32_matmuls = times["onnx_fp32"].get("MatMul", 0.0) + times["onnx_fp32"].get("FusedMatMul", 0.0)
    return {"setting": f"batch_{batch_size}_len_{length}", "ms_by_op": times, "int8_ops": list(_INT8_OPS),
            "int8_kernels_ms": int8_kernels, "int8_rest_ms": int8_total - int8_kernels, "int8_total_ms": int8_total,
            "fp32_total_ms": sum(times["onnx_fp32"].values()), "fp32_matmul_ms": fp32_matmuls}


def _padded_batches(examples: dict, folder: Path, batch_size: int) -> list[dict[str, np.ndarray]]:
    """The test texts tokenised by the shipped tokenizer (what a deployment runs), in padded batches."""
    from tinybert_ref.onnx_predict import OnnxClassifier

    encoder = OnnxClassifier(folder, "student.onnx")
    texts = examples["texts"]
    return [encoder.encode(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]


def _quality(runtimes: _Runtimes, batches: list[dict], examples: dict) -> dict:
    logits = {name: np.concatenate([runtimes.logits(name, b) for b in batches]) for name in RUNTIMES}
    predictions = {name: value.argmax(-1) for name, value in logits.items()}
    return {
        "test_metric": {name: compute_metrics(predictions[name], examples["labels"], examples["metric"])["metric"]
                        for name in RUNTIMES},
        "agreement": {"onnx_fp32_vs_pytorch": float((predictions["onnx_fp32"] == predictions["pytorch_fp32"]).mean()),
                      "onnx_int8_vs_onnx_fp32": float((predictions["onnx_int8"] == predictions["onnx_fp32"]).mean())},
        "max_abs_logit_difference": {
            "onnx_fp32_vs_pytorch": float(np.abs(logits["onnx_fp32"] - logits["pytorch_fp32"]).max()),
            "onnx_int8_vs_onnx_fp32": float(np.abs(logits["onnx_int8"] - logits["onnx_fp32"]).max())},
    }


def _sizes(pytorch_folder: Path, fp32_path: Path, int8_path: Path) -> dict[str, int]:
    return {"pytorch_fp32": sum(p.stat().st_size for p in pytorch_folder.glob("*.safetensors")),
            "onnx_fp32": fp32_path.stat().st_size, "onnx_int8": int8_path.stat().st_size}


def _run_models(run_dir: Path, work: Path, settings: dict) -> dict:
    """Teacher and student of the run: sizes, test quality, latency."""
    from transformers import BertForSequenceClassification

    manifest = export_run(run_dir, onnx=True, int8=True, out=work / "export")
    examples = run_test_examples(run_dir)
    batches = _padded_batches(examples, work / "export", settings["eval_batch_size"])
    models = {}
    for name, entry in manifest["models"].items():
        log.info("deploy: %s of %s", name, run_dir)
        model = BertForSequenceClassification.from_pretrained(entry["source"]).eval()
        paths = work / "export" / entry["onnx"], work / "export" / entry["int8"]
        runtimes = _Runtimes(model, *paths, settings["threads"])
        models[name] = {"source": entry["source"], "params": sum(p.numel() for p in model.parameters()),
                        "bytes": _sizes(Path(entry["source"]), *paths), **_quality(runtimes, batches, examples),
                        "latency": _latency(runtimes, model.config.vocab_size, settings),
                        "where_time_goes": _where_time_goes(*paths, model.config.vocab_size, settings)}
    return {"models": models, "skipped": manifest["skipped"], "examples": len(examples["labels"]),
            "metric": examples["metric"], "task": examples["task"]}


def _bert_base(work: Path, settings: dict, tiny: bool) -> dict:
    """The paper's teacher shape with random weights: size and speed only."""
    shape = (TINY_SHAPES if tiny else SHAPES)["bert_base"]
    model = build_models({"bert_base": shape}, vocab_size=1000 if tiny else 30522, num_labels=2)["bert_base"]
    model.save_pretrained(work / "bert_base")
    fp32 = export_onnx(model, work / "bert_base.onnx")
    int8 = quantize_int8(fp32, work / "bert_base.int8.onnx")
    runtimes = _Runtimes(model, fp32, int8, settings["threads"])
    return {"source": "random weights", "shape": shape, "params": sum(p.numel() for p in model.parameters()),
            "bytes": _sizes(work / "bert_base", fp32, int8), "latency": _latency(runtimes, model.config.vocab_size, settings),
            "where_time_goes": _where_time_goes(fp32, int8, model.config.vocab_size, settings)}


def _ratios(models: dict) -> dict:
    """fp32 / int8 for size, and PyTorch fp32 / each ONNX runtime for latency, per model and setting."""
    out = {}
    for name, m in models.items():
        sizes = m["bytes"]
        out[name] = {"size_onnx_fp32_over_int8": sizes["onnx_fp32"] / sizes["onnx_int8"],
                     "size_pytorch_over_int8": sizes["pytorch_fp32"] / sizes["onnx_int8"],
                     "speedup": {runtime: {key: m["latency"]["pytorch_fp32"][key]["median_ms"] / value["median_ms"]
                                           for key, value in m["latency"][runtime].items()}
                                 for runtime in ("onnx_fp32", "onnx_int8")}}
    return out


def run(out_dir: str | Path = RESULTS_DIR, tiny: bool = False, run_dir: str | Path | None = None) -> dict:
    """Measure; write out_dir/deploy.json and return it. run_dir: default runs/laptop/seed-42 or runs/laptop,
    the first that holds a student (runs/ci with tiny)."""
    settings = TINY_SETTINGS if tiny else SETTINGS
    if run_dir is None:
        run_dir = TINY_RUN_DIR if tiny else next((d for d in RUN_DIRS if (d / "student").is_dir()), RUN_DIR)
    run_dir = Path(run_dir)
    machine, start, old_threads = describe(), time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(settings["threads"])
    missing, from_run = [], {"models": {}, "skipped": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="tinybert-deploy-") as work:
            if (run_dir / "student").is_dir():
                from_run = _run_models(run_dir, Path(work), settings)
            else:
                missing.append(f"run folder {run_dir} has no student/: run `tinybert-ref run --out {run_dir}` "
                               "(the laptop profile), then this benchmark again")
            models = {**from_run["models"], "bert_base": _bert_base(Path(work), settings, tiny)}
    finally:
        torch.set_num_threads(old_threads)
    result = {
        "benchmark": "deploy",
        "tiny": tiny,
        "run_dir": str(run_dir.resolve().relative_to(ROOT)) if run_dir.resolve().is_relative_to(ROOT) else str(run_dir),
        "settings": {"threads": settings["threads"], "lengths": settings["lengths"], "batches": list(settings["batches"]),
                     "runtimes": list(RUNTIMES), "interleaved": True, "statistic": "median", "pytorch_attention": "sdpa",
                     "onnxruntime_spinning": False,
                     "quantisation": "onnxruntime quantize_dynamic, int8 weights (one scale per tensor), uint8 "
                                     "activations per batch", "latency_inputs": "random ids, no padding"},
        "test_set": {k: from_run.get(k) for k in ("task", "metric", "examples")},
        "models": models,
        "skipped": from_run["skipped"],
        "ratios": _ratios(models),
        "bounds": BOUNDS,
        "missing": missing,
        "machine": machine,
        "load_average_end": load_average(),
        "wall_s": time.perf_counter() - start,
    }
    write_result("deploy", result, out_dir)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help=f"run folder (default {RUN_DIRS[0].relative_to(ROOT)}, else "
                        f"{RUN_DIR.relative_to(ROOT)}; "
                        f"{TINY_RUN_DIR.relative_to(ROOT)} with --tiny)")
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (numbers say nothing)")
    parser.add_argument("--out", default=None, help=f"folder of deploy.json (default {RESULTS_DIR}; a temporary "
                        "folder with --tiny)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = args.out or (tempfile.mkdtemp(prefix="tinybert-bench-") if args.tiny else RESULTS_DIR)
    run(out, tiny=args.tiny, run_dir=args.run)
    from .tables import write_readme

    print(f"results in {Path(out) / 'deploy.json'}, tables in {write_readme(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
