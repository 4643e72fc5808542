"""Benchmarks of `tinybert_ref`: size, speed and quality, each figure beside its bound (DESIGN.md section 6).

    inference     parameters, FLOPs and CPU latency of BERT-base, TinyBERT4/6, the MiniLM teacher shape and
                  the `small` preset (bound: the FLOP ratio; the paper: 7.5x smaller, 9.4x faster)
    augmentation  Algorithm 1 batched vs word by word (bound: the masked-LM forwards alone)
    steps         distillation step throughput, fp32 and bf16, split into teacher forward, student
                  forward/backward, losses and optimiser (losses should be a small share)
    quality       the laptop run's metrics and the ablation table, collected (never invented)
    corpus_memory peak memory of the general-distillation corpus preparation at 20 MB and 200 MB of text
                  (bound: flat; the token ids alone held in RAM), and its tokens/s
    deploy        a run's teacher and student as PyTorch fp32, ONNX fp32 and ONNX int8: size, test metric,
                  int8/fp32 agreement, latency at batch 1/32 and length 64/128 (bounds: 4x size, 4x int8 arithmetic)
    workshop      (run on its own: `python -m benchmarks.workshop`) the `workshop` profile's quick path, timed
                  from an empty store, with notebook 08's attention distance (target: <= 5 min, <= half the random
                  student's distance after task-distillation step 1)
    attention_transfer  (on its own: `python -m benchmarks.attention_transfer RUN ...`) notebook 08's attention
                  distance and the pattern correlation on the 200 dev headlines at every checkpoint of finished
                  runs, per student layer: does an ablation without the attention loss (Eq. 7) copy the teacher's
                  attention anyway?

Each module's `run(out_dir, tiny=False)` returns its result and writes `out_dir/<name>.json` with the
machine description (`machine.describe`); `tables.write_readme` renders every JSON file there into
`README.md`. `python -m benchmarks` runs them all. Not part of the unit tests: only
`tests/test_benchmarks_smoke.py` runs each one with `tiny=True` sizes in a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BENCHMARKS", "RESULTS_DIR", "ROOT", "write_result"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
BENCHMARKS = ("inference", "augmentation", "steps", "quality", "corpus_memory", "deploy")


def write_result(name: str, result: dict, out_dir: str | Path) -> Path:
    """Write `result` to `out_dir/<name>.json` atomically; returns the path."""
    from tinybert_ref.io import write_json_atomic

    return write_json_atomic(Path(out_dir) / f"{name}.json", result)
