"""`python -m benchmarks [--only inference,augmentation,steps,quality,corpus_memory,deploy] [--tiny] [--out DIR]`.

Runs the chosen benchmarks (all by default, about 10 minutes on an idle 2-core CPU), writes
DIR/<name>.json, regenerates DIR/README.md and prints a short summary. --tiny uses smoke-test sizes
(seconds) and, unless --out is given, a temporary folder, so the committed results stay untouched.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import tempfile
import time

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")

from . import BENCHMARKS, RESULTS_DIR  # noqa: E402
from .tables import write_readme  # noqa: E402


def _summary(name: str, r: dict) -> str:
    if name == "inference":
        q = r["ratios"]
        latency = ", ".join(f"{k.split('_')[-1]}: {v:.1f}x" for k, v in q.items() if k.startswith("latency_batch"))
        return (f"{q['reference']}/{q['student']}: params {q['params']:.2f}x ({q['params_with_projection']:.2f}x with W), "
                f"FLOPs {q['flops']:.1f}x, latency by batch {latency} (paper: 7.5x smaller, 9.4x faster)")
    if name == "augmentation":
        return (f"batched {r['sentences_per_s']['batched']:.1f} sentences/s vs word by word "
                f"{r['sentences_per_s']['word_by_word']:.1f}: {r['speedup']:.1f}x; masked-LM forwards alone "
                f"{r['bound_s']['mlm_forwards_alone']:.2f} s of {r['median_s']['batched']:.2f} s; candidates_equal "
                f"{r['candidates_equal']}")
    if name == "steps":
        return "; ".join(f"{row['pairing']} {row['kind']} {row['precision']}: {row['examples_per_s']:.1f} ex/s"
                         for row in r["rows"])
    if name == "corpus_memory":
        return "; ".join(f"{row['text_bytes'] / 1e6:.0f} MB: peak anonymous {row['peak_main_anon_mib']:.0f} MiB, "
                         f"{row['tokens_per_s']:,.0f} tokens/s" for row in r["rows"])
    if name == "deploy":
        if r["missing"]:
            return "missing: " + "; ".join(r["missing"])
        parts = []
        for who, m in r["models"].items():
            key = next(iter(m["latency"]["onnx_int8"]))
            speed = r["ratios"][who]["speedup"]["onnx_int8"][key]
            quality = f", int8 agrees {m['agreement']['onnx_int8_vs_onnx_fp32']:.1%}" if "agreement" in m else ""
            parts.append(f"{who}: int8 {r['ratios'][who]['size_onnx_fp32_over_int8']:.1f}x smaller, "
                         f"{speed:.1f}x PyTorch's speed at {key}{quality}")
        return "; ".join(parts)
    if name == "quality":
        return "missing: " + "; ".join(r["missing"]) if r["missing"] else "laptop metrics and ablations collected"
    return ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[2])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset of " + ",".join(BENCHMARKS))
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds; numbers say nothing)")
    parser.add_argument("--out", default=None, help=f"folder for the JSON and README.md (default {RESULTS_DIR}; "
                        "a temporary folder with --tiny)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    out = args.out or (tempfile.mkdtemp(prefix="tinybert-bench-") if args.tiny else RESULTS_DIR)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    start = time.perf_counter()
    for name in names:
        begin = time.perf_counter()
        result = importlib.import_module(f"benchmarks.{name}").run(out_dir=out, tiny=args.tiny)
        print(f"[{name}] {time.perf_counter() - begin:.0f} s: {_summary(name, result)}", flush=True)
    readme = write_readme(out)
    print(f"total {time.perf_counter() - start:.0f} s; results in {out}, tables in {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
