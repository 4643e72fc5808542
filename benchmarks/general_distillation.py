"""What does general distillation give the student here? A linear probe of each checkpoint, and step 1's loss curve.

    python -m benchmarks.general_distillation runs/laptop runs/laptop-ablate-nogd/no_gd/seed-42

On the embedded default the `no_gd` ablation (task distillation from a randomly initialised student) ties with
the full recipe. Two explanations predict different measurements, and this benchmark takes both:
(1) general distillation taught the student little the task can use: then a linear probe (`tinybert_ref.probe`:
the frozen checkpoint's mean-pooled last hidden states, logistic regression fitted on the 1,460 train headlines)
scores about the same after general distillation as at random initialisation;
(2) it taught something, and task distillation step 1 makes up the difference: then the probe is higher after
general distillation, and step 1's loss curves of the two runs (mean over windows of `--window` batches; both read
the same augmented batches in the same order when they share a seed) start apart and meet.
The pretrained and the fine-tuned teacher are probed too, for scale (not a ceiling: a student after step 1 can
come near the fine-tuned teacher).
Writes `benchmarks/results/general_distillation.json`: {"command", "n_train", "window", "teachers": {kind: {split:
accuracy}}, "rows": [{"run", "variant", "seed", "test_metric", "probe": {checkpoint: {split: accuracy}},
"gd_loss" and "step1_loss": [{"step", "total", term...}] (general distillation's and step 1's curves)}]}.
"""

from __future__ import annotations

from pathlib import Path

from .finished_runs import command_line, parse_runs, runs_parser, variant_of

__all__ = ["loss_curve", "measure_run"]

SPLITS = ("dev", "test")


def loss_curve(history: list[dict], window: int) -> list[dict]:
    """A stage's history (a row per optimiser step) as means over consecutive windows of `window` steps: one
    row per window, at its last step, with every loss term the history holds."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    terms = [key for key in ("total", "embedding", "attention", "hidden") if history and key in history[0]]
    rows = []
    for start in range(0, len(history), window):
        chunk = history[start:start + window]
        rows.append({"step": chunk[-1]["step"], **{t: round(sum(r[t] for r in chunk) / len(chunk), 4) for t in terms}})
    return rows


def _probe(model, tokenizer, task) -> dict[str, float]:
    from tinybert_ref.probe import fit_probe, sentence_features

    train = task.data["train"]
    classifier = fit_probe(model, tokenizer, train["text"], train["label"])  # fitted once, scored on each split
    return {split: round(float(classifier.score(sentence_features(model, tokenizer, task.data[split]["text"]),
                                                list(task.data[split]["label"]))), 4) for split in SPLITS}


def measure_run(run_dir, task, tokenizer, window: int = 100, store=None, teachers: dict | None = None) -> dict:
    """One row: the probe of every checkpoint of `run_dir`, and its loss curves of general distillation (still
    falling at its end, or flat?) and of step 1. A kind of teacher
    ("pretrained", "fine-tuned") not yet in `teachers` is probed into it, from the snapshots already loaded."""
    from tinybert_ref.io import read_json
    from tinybert_ref.snapshots import load_snapshots, stage_history

    run_dir = Path(run_dir)
    metrics = read_json(run_dir / "metrics.json")
    snapshots = load_snapshots(run_dir, store)
    probe = {s.name: _probe(s.student, tokenizer, task) for s in snapshots}
    for s in snapshots if teachers is not None else ():
        if s.teacher_kind not in teachers:
            teachers[s.teacher_kind] = _probe(s.teacher, tokenizer, task)
    curves = {stage: stage_history(run_dir, stage, store) for stage in ("general_distillation", "task_distillation_1")}
    curves = {stage: loss_curve(history, window) if history else None for stage, history in curves.items()}
    return {"run": str(run_dir), "variant": variant_of(metrics["config"], run_dir), "seed": metrics["config"]["seed"],
            "test_metric": metrics.get("student", {}).get("test_metric"), "probe": probe,
            "gd_loss": curves["general_distillation"], "step1_loss": curves["task_distillation_1"]}


def main(argv=None) -> int:
    parser = runs_parser("general_distillation", __doc__)
    parser.add_argument("--window", type=int, default=100, help="steps per point of step 1's loss curve")
    args = parse_runs(parser, argv)
    from tinybert_ref.data.bbc import load_bbc_headlines
    from tinybert_ref.io import write_json_atomic
    from tinybert_ref.snapshots import run_tokenizer

    task, tokenizer = load_bbc_headlines(), run_tokenizer(args.runs[0])
    # the pretrained teacher (compared with the random init) and the fine-tuned one (with step 2's student),
    # probed from the first run that holds them
    teachers, rows = {}, []
    for run in args.runs:
        rows.append(measure_run(run, task, tokenizer, args.window, args.store, teachers))
        print(rows[-1]["variant"], rows[-1]["seed"], rows[-1]["probe"], flush=True)
    print("teachers", teachers, flush=True)
    write_json_atomic(args.out, {"command": command_line(parser, argv), "n_train": len(task.data["train"]),
                                 "window": args.window, "teachers": teachers, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
