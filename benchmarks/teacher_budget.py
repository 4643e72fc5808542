"""The teacher's fine-tuning budget, chosen on dev: the teacher stage at several epoch counts, scored.

    python -m benchmarks.teacher_budget --epochs 3,10,20 --store runs/laptop/stages

Runs (or reuses from `--store`) the `teacher` stage of `--profile` with `teacher_epochs` set to each value,
exactly as `tinybert-ref run --override teacher_epochs=E` would, and scores each kept checkpoint on the
train, dev and test splits: accuracy, the mean probability of its top class and the mean entropy of its
softmax (in nats; ln 5 = 1.61 for five uniform classes). Those soft labels at temperature 1 are what task
distillation step 2 copies (Eq. 10). Picks on dev only: the best dev score, and among settings within
one dev example of it the cheapest (fewest steps). Writes `benchmarks/results/teacher_budget.json`:
{"command", "profile", "choice", "rows": [{"epochs", "steps", "best_step", "wall_s", "stage", "dev_curve",
"<split>": {"accuracy", "top_prob", "entropy"}}], "machine"}; wall_s is the stage's own time where it was
made. A classification task's profile (the embedded default); about 1.3 minutes of fine-tuning per 3 epochs
on 2 cores (`laptop`), plus under a minute of scoring per setting.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

from tinybert_ref.io import write_json_atomic

from . import RESULTS_DIR
from .machine import describe

__all__ = ["measure", "soft_label_stats", "choose"]

SPLITS = ("train", "dev", "test")


def soft_label_stats(logits, labels) -> dict:
    """Accuracy, mean top-class probability and mean softmax entropy (nats) of (N, C) logits."""
    import torch

    from tinybert_ref.evaluate import compute_metrics

    logits = torch.as_tensor(logits, dtype=torch.float32)
    probs = logits.softmax(-1)
    entropy = -(probs * logits.log_softmax(-1)).sum(-1)
    accuracy = compute_metrics(logits.argmax(-1).numpy(), labels, "accuracy")["metric"]
    return {"accuracy": float(accuracy), "top_prob": float(probs.max(-1).values.mean()),
            "entropy": float(entropy.mean())}


def choose(rows: list[dict], dev_size: int) -> dict:
    """The setting picked on dev: the fewest steps among those within one dev example of the best."""
    best = max(row["dev"]["accuracy"] for row in rows)
    near = [row for row in rows if row["dev"]["accuracy"] >= best - 1 / dev_size - 1e-9]
    pick = min(near, key=lambda row: row["steps"])
    return {"epochs": pick["epochs"], "best_dev": best, "dev_size": dev_size,
            "within_one_example": [row["epochs"] for row in near]}


def measure(epochs: list[float], profile: str = "laptop", store: str | Path | None = None,
            overrides: dict | None = None) -> dict:
    """Each epoch count's teacher stage (made or reused in `store`) scored on every split; `overrides`:
    more profile fields, as `--override` (the tests checkpoint less often than `ci` does)."""
    from transformers import AutoModelForSequenceClassification

    from tinybert_ref import pipeline
    from tinybert_ref.config import RunConfig
    from tinybert_ref.evaluate import predict
    from tinybert_ref.stages import split_loader

    rows, dev_size = [], 0
    with tempfile.TemporaryDirectory() as scratch:
        for n in epochs:
            config = RunConfig(profile=profile, profile_overrides=(*(overrides or {}).items(), ("teacher_epochs", float(n))))
            run = pipeline.prepare(config, Path(scratch) / f"epochs-{n:g}", store=store)
            stage_dir, done = pipeline.stage_teacher(run)
            history = json.loads((stage_dir / "history.json").read_text())
            model = AutoModelForSequenceClassification.from_pretrained(stage_dir / "model")
            row = {"epochs": float(n), "steps": history[-1]["step"], "best_step": done["best_step"],
                   "wall_s": done["wall_s"], "stage": stage_dir.name,
                   "dev_curve": [[h["step"], h["dev"]] for h in history if "dev" in h]}
            for split in SPLITS:
                logits, labels = predict(model, split_loader(run, split), progress=False)
                row[split] = soft_label_stats(logits, labels)
            dev_size = len(run.tokenized["dev"])
            rows.append(row)
    return {"profile": profile, "rows": rows, "choice": choose(rows, dev_size)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.teacher_budget", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", default="3,10,20", help="comma-separated teacher_epochs values")
    parser.add_argument("--profile", default="laptop")
    parser.add_argument("--store", type=Path, default=None, help="a stage store to reuse and fill (runs/laptop/stages)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "teacher_budget.json")
    args = parser.parse_args(argv)
    result = measure([float(x) for x in args.epochs.split(",")], args.profile, args.store)
    result = {"command": "python -m benchmarks.teacher_budget " + shlex.join(sys.argv[1:] if argv is None else argv),
              **result, "machine": describe()}
    write_json_atomic(args.out, result)
    for row in result["rows"]:
        print(f"{row['epochs']:g} epochs ({row['steps']} steps): dev {row['dev']['accuracy']:.4f}, "
              f"test {row['test']['accuracy']:.4f}, test top prob {row['test']['top_prob']:.3f}, "
              f"entropy {row['test']['entropy']:.3f} nats, {row['wall_s'] / 60:.1f} min")
    print(f"picked on dev: {result['choice']['epochs']:g} epochs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
