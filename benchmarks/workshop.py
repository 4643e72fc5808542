"""The workshop's quick path (issue 14): does a participant who has just cloned see attention transfer in 5 minutes?

    python -m benchmarks.workshop        # writes benchmarks/results/workshop.json

Runs the `workshop` profile (fewer headlines, short corpus blocks, GloVe-only augmentation, short stages)
from an empty stage store and run folder, timed end to end (`pipeline.run`: every stage, evaluation and
export). Then measures notebook 08's figure on notebook 08's four headlines: the mean per-head distance
(MSE of pre-softmax scores, Eq. 7, student layer m against teacher layer g(m), padding left out) at each
checkpoint, `before_gd` being the randomly initialised student.

Targets (issue 14): the run <= 5 minutes on 2 CPU cores, and the distance after task-distillation step 1 at
most half the random student's. `tiny=True` runs the `ci` profile instead (seconds; the smoke test).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from . import RESULTS_DIR, write_result
from .machine import describe, load_average

__all__ = ["run", "SENTENCES", "TARGET_MINUTES", "TARGET_RATIO"]

SENTENCES = ["Oil prices climb as stock markets fall", "Film star wins best actor award",
             "Government plans new tax on fuel", "Chelsea beat Arsenal"]  # notebook 08's batch
TARGET_MINUTES = 5.0
TARGET_RATIO = 0.5  # distance after task-distillation step 1 / the random student's


def attention_distances(run_dir: Path, store: Path) -> dict[str, float]:
    """{checkpoint: mean per-head MSE between student and teacher scores}, as notebook 08 section 5 computes it."""
    from tinybert_ref.snapshots import run_attention, transfer_mse

    return {name: mse.mean().item() for name, mse in transfer_mse(run_attention(run_dir, SENTENCES, store)).items()}


def run(out_dir: str | Path = RESULTS_DIR, tiny: bool = False) -> dict:
    from tinybert_ref.config import RunConfig
    from tinybert_ref.pipeline import run as run_pipeline

    profile = "ci" if tiny else "workshop"
    machine = describe()
    with tempfile.TemporaryDirectory(prefix="tinybert-workshop-") as tmp:
        run_dir, store = Path(tmp) / "run", Path(tmp) / "stages"
        start = time.perf_counter()
        metrics = run_pipeline(RunConfig(profile=profile), run_dir, store=store)
        minutes = (time.perf_counter() - start) / 60
        distances = attention_distances(run_dir, store)
    ratio = distances["after_td1"] / distances["before_gd"]
    result = {
        "benchmark": "workshop", "tiny": tiny, "profile": profile,
        "command": f"tinybert-ref run --profile {profile} (from an empty stage store)",
        "minutes": minutes, "stage_minutes": metrics.get("stage_minutes"),
        "stage_wall_s": {name: stage.get("wall_s") for name, stage in metrics["stages"].items()
                         if isinstance(stage, dict) and "wall_s" in stage},
        "peak_rss_gib": metrics.get("peak_rss_gib"),
        "teacher_test_metric": metrics["teacher"]["test_metric"], "student_test_metric": metrics["student"]["test_metric"],
        "sentences": SENTENCES, "attention_distance": distances, "ratio_after_td1_to_random": ratio,
        "targets": {"minutes": TARGET_MINUTES, "ratio": TARGET_RATIO},
        "met": {"minutes": minutes <= TARGET_MINUTES, "ratio": ratio <= TARGET_RATIO},
        "machine": machine, "load_average_end": load_average(),
    }
    write_result("workshop", result, out_dir)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workshop", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(RESULTS_DIR), help="the folder for workshop.json")
    parser.add_argument("--tiny", action="store_true", help="the ci profile (seconds): a smoke test")
    args = parser.parse_args(argv)
    result = run(args.out, tiny=args.tiny)
    print(f"{result['profile']}: {result['minutes']:.1f} min, attention distance after TD step 1 / random student "
          f"{result['ratio_after_td1_to_random']:.2f} ({result['attention_distance']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
