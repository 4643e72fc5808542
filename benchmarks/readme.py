"""The generated blocks of the project README: results, ablations and the notebook timetable.

The README never carries a hand-typed figure. Each block sits between `<!-- begin:NAME -->` and
`<!-- end:NAME -->` and is rendered from the JSON committed in `benchmarks/results/`:

    results    laptop_metrics.json (and laptop_small_metrics.json): teacher vs student, retention,
               size, latency, TF-IDF baseline, wall time of each stage
    ablation   ablation.json (`tinybert-ref ablate`)
    speed      inference.json (`python -m benchmarks --only inference`): the paper's ratios beside ours
    timetable  notebooks.json (`python -m benchmarks.notebooks`)
    pairs      laptop_pairs_metrics.json (`tinybert-ref run --task bbc_pairs`): the sentence-pair task
    deploy     deploy.json (`python -m benchmarks --only deploy`): ONNX and int8 against the issue's targets
    sweep      sweep.json (`tinybert-ref sweep`): learning rates chosen on dev, beside the profile's defaults
    attention  attention_transfer.json (`python -m benchmarks.attention_transfer`): the student's distance to
               the teacher's attention at each checkpoint, with and without the attention loss
    general    general_distillation.json (`python -m benchmarks.general_distillation`): a linear probe of each
               checkpoint and step 1's loss, with and without general distillation

`python -m benchmarks.readme` rewrites the blocks in README.md; `python -m benchmarks.readme --check`
exits 1 when a block is stale (tests/test_readme.py runs the same check, so the README cannot drift
from the files it quotes).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from . import RESULTS_DIR, ROOT
from .quality import TARGETS
from .tables import _x, deploy_section, table

__all__ = ["BLOCKS", "render_blocks", "update_readme", "stale_blocks", "seeds_table", "one_seed_table"]

README = ROOT / "README.md"
BLOCKS = ("results", "ablation", "speed", "timetable", "pairs", "deploy", "sweep", "teacher", "attention",
          "general")
_STAGE_ORDER = ("teacher", "general_distillation", "mlm", "augmentation", "task_distillation_1",
                "task_distillation_2", "finetune")


def _load(folder: Path, name: str) -> dict | None:
    path = folder / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _acc(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def _points(value) -> str:
    """A difference of accuracies in points. Two decimals: one test headline of 400 is 0.25 points, and one
    decimal let float noise print a gap of 0.25 as +0.2 and 2.75 as -2.7, beside prose that says 0.25 and 2.75."""
    return "—" if value is None else f"{100 * value:+.2f}"


def _results(folder: Path) -> str:
    runs = {name: m for name, m in (("tinybert4", _load(folder, "laptop_metrics.json")),
                                    ("medium", _load(folder, "laptop_medium_metrics.json")),
                                    ("small", _load(folder, "laptop_small_metrics.json"))) if m}
    if not runs:
        return ("Not measured yet: run `tinybert-ref run` and copy `runs/laptop/metrics.json` to "
                "`benchmarks/results/laptop_metrics.json`.")
    first = next(iter(runs.values()))
    teacher = first["teacher"]
    rows = [("teacher (MiniLM-L6, fine-tuned)", _acc(teacher["test_metric"]), _acc(teacher["dev_metric"]), "100%",
             f"{teacher['params'] / 1e6:.2f}M", f"{teacher['latency_ms']:.1f}")]
    for m in runs.values():
        s = m["student"]
        rows.append((f"student `{m['config']['student']}`", _acc(s["test_metric"]), _acc(s["dev_metric"]),
                     _pct(m["retention"]), f"{s['params'] / 1e6:.2f}M ({teacher['params'] / s['params']:.1f}x fewer)",
                     f"{s['latency_ms']:.1f} ({m['teacher']['latency_ms'] / s['latency_ms']:.1f}x faster)"))
    tfidf = (first.get("baselines") or {}).get("tfidf") or {}
    rows.append(("TF-IDF + logistic regression", _acc(tfidf.get("metric")), "—", _pct(
        None if tfidf.get("metric") is None else tfidf["metric"] / teacher["test_metric"]), "—", "—"))
    setting = first.get("latency_setting") or {}
    text = [f"Task `{first['task']['name']}` ({first['task']['metric']}; test {first['task']['sizes']['test']} "
            f"headlines), profile `{first['profile']}`, seed {first['config']['seed']}. Retention = student test "
            "accuracy / teacher test accuracy (the paper: TinyBERT4 keeps 96.8% of BERT-base on GLUE). Latency: "
            f"CPU, batch {setting.get('batch')}, length {setting.get('seq_len')}, {setting.get('threads')} threads. "
            "Model selection used the dev split only.", "", table(
                ["model", "test acc.", "dev acc.", "retention", "parameters", "latency ms"], rows)]
    text += _seeds_section(folder, runs)
    stage_rows, names = [], list(runs)

    def minutes(run, stage):
        """This run's own time for a stage; a stage folder shared with the first run counts there."""
        own = runs[run].get("stages", {}).get(stage)
        if own is None:
            return None, "—"
        shared = run != names[0] and runs[run]["stage_dirs"].get(stage) == first["stage_dirs"].get(stage)
        return (0.0, "shared") if shared else (own["wall_s"], f"{own['wall_s'] / 60:.1f}")

    cells = {stage: [minutes(run, stage) for run in names] for stage in _STAGE_ORDER}
    for stage, row in cells.items():
        if any(seconds is not None for seconds, _ in row):
            stage_rows.append((stage, *(shown for _, shown in row)))
    totals = [sum(row[i][0] or 0 for row in cells.values()) for i in range(len(names))]
    stage_rows.append(("**total**", *(f"**{t / 60:.1f}**" for t in totals)))
    text += ["", "Wall time of each stage, minutes, on the course machine (2 CPU cores), from each stage's "
             "`DONE.json`; \"shared\" = the stage folder of the first run, reused through "
             "`--store`:", "", table(["stage", *(f"`{r}` run" for r in names)], stage_rows)]
    augmentation = first.get("stages", {}).get("augmentation", {})
    if "replacements" in augmentation:
        text += ["", _augmentation_line(augmentation, "")]
    # the masked LM of Algorithm 1: the default's, or the comparison run's where the default augments with GloVe alone
    with_mlm = first if first.get("stages", {}).get("mlm") else _load(folder, "laptop_mlm_metrics.json")
    mlm = ((with_mlm or {}).get("stages", {}).get("mlm") or {}).get("recall")
    if mlm:
        words = "content words, each hidden from the whole input" if mlm.get("words") == "content" else "words"
        run = "" if with_mlm is first else " (`--override aug_mlm=true`, `laptop_mlm_metrics.json`)"
        text += ["", f"The masked LM trained on the corpus for augmentation{run}: top-{mlm['k']} recall of masked "
                 f"held-out {words}: {_pct(mlm['topk'])} (top-1 {_pct(mlm['top1'])}, {mlm['n']} words)."]
        more = [row for row in (_load(folder, "mlm_recall.json") or {}).get("rows", []) if row["n"] > mlm["n"]]
        if more:  # the same model on more of its held-out words (python -m benchmarks.mlm_recall)
            row = more[-1]
            text[-1] += (f" The same recipe's model on {row['n']:,} of its held-out words (`mlm_recall.json`, first "
                         f"{mlm['n']} the same): {_pct(row['topk'])}, "
                         f"standard error {_pct(row['se_topk'])} (top-1 {_pct(row['top1'])}).")
        if with_mlm is not first and "replacements" in with_mlm["stages"].get("augmentation", {}):
            text += [_augmentation_line(with_mlm["stages"]["augmentation"], " with it")]
    return "\n".join(text)


def _augmentation_line(augmentation: dict, which: str) -> str:
    r = augmentation["replacements"]
    return (f"Augmentation{which}: {augmentation['originals']:,} headlines -> {augmentation['examples']:,} rows, "
            f"{augmentation['distinct_copies_mean']:.1f} distinct copies a headline; in the copies "
            + (f"{r['mlm']:,} words were replaced by the masked LM, {r['glove']:,} by GloVe" if r["mlm"] else
               f"{r['glove']:,} words were replaced by GloVe (no masked LM)") + f", {r['kept']:,} kept.")


def _mean_sd(mean, sd, percent=False) -> str:
    return f"{100 * mean:.1f}% ± {100 * sd:.1f}" if percent else f"{mean:.4f} ± {sd:.4f}"


def _seeds_section(folder: Path, runs: dict) -> list[str]:
    """Mean ± sd over training seeds (retention_seeds.json), and each preset against its target: the
    mean over seeds when measured, else the one run above."""
    aims = {"tinybert4": TARGETS["design_aim_retention"], "small": TARGETS["small_aim_retention"]}
    floors = {"tinybert4": TARGETS["issue_floor_retention"]}

    def against(name: str, retention: float) -> str:
        text = f"{_pct(aims[name])} ({'reached' if retention >= aims[name] else 'missed'})"
        if name in floors:
            text += f", its floor {_pct(floors[name])} ({'reached' if retention >= floors[name] else 'missed'})"
        return text

    seeds = _load(folder, "retention_seeds.json") or {}
    measured = {name: value for name, value in seeds.items() if isinstance(value, dict) and "per_seed" in value}
    # the presets of the recipe from largest to smallest (retention against size), other recipes after them
    measured = dict(sorted(measured.items(), key=lambda item: ("label" in item[1],
                                                               -item[1].get("student_params", 0))))
    if not measured:
        verdicts = [f"`{name}` {_pct(m['retention'])} (one seed) against {against(name, m['retention'])}"
                    for name, m in runs.items() if name in aims]
        return ["", "Retention against the targets: " + "; ".join(verdicts) + "."]
    rows = [(f"student `{name}`" + (f" ({p['label']})" if p.get("label") else ""), ", ".join(map(str, p["seeds"])), _mean_sd(p["test_metric_mean"], p["test_metric_sd"]),
             _acc(p["teacher_test_metric"]), _mean_sd(p["test_retention_mean"], p["test_retention_sd"], True),
             _mean_sd(p["dev_retention_mean"], p["dev_retention_sd"], True),
             _size(p), "yes" if p["test_metric_mean"] - p["tfidf_test_metric"] > 2 * p["test_metric_sd"] else "no",
             f"{max(r['minutes'] for r in p['per_seed']):.1f}", f"{max(r['peak_rss_gib'] for r in p['per_seed']):.1f}")
            for name, p in measured.items()]
    verdicts = [f"`{name}` {_pct(p['test_retention_mean'])} (mean of {len(p['seeds'])} seeds) against "
                f"{against(name, p['test_retention_mean'])}" for name, p in measured.items() if name in aims]
    if all("command" in p for p in measured.values()):
        made_by = [f"- `{name}`: {_command(p['command'])}" for name, p in measured.items()]
    else:  # a file written before each preset recorded its command
        made_by = [f"- `{seeds['command']}`"]
    return ["", "Over training seeds (the split, the teacher and the masked LM are shared, each seed re-runs "
            "augmentation sampling, general distillation and both task steps): mean ± sd (sample sd). Retention is "
            "each seed's student over the row's own teacher, whose test accuracy is beside it. \"Beats "
            "TF-IDF\" = by more than 2 sd of the student (TF-IDF is deterministic). Minutes and memory: the "
            "slowest seed, every stage counted as if made by that run.", "",
            table(["model", "seeds", "test acc.", "teacher test acc.", "retention", "dev retention", "parameters",
                   "beats TF-IDF", "minutes", "peak GiB"], rows), "", "Made by (`retention_seeds.json`):", "", *made_by, "",
            "Retention against the aims: " + "; ".join(verdicts) + "."]


def _command(text: str) -> str:
    """`command` (what made it, where): the note in parentheses after a command stays out of the code span."""
    command, _, note = text.partition(" (")
    return f"`{command}`" + (f" ({note}" if note else "")


def _size(preset: dict) -> str:
    """The student's parameters and how many times fewer than the teacher's (retention against size)."""
    if "student_params" not in preset:
        return "—"
    return f"{preset['student_params'] / 1e6:.2f}M ({preset['teacher_params'] / preset['student_params']:.1f}x fewer)"


def _ablation(folder: Path) -> str:
    ablation = _load(folder, "ablation.json")
    if not ablation:
        return "Not measured yet: run `tinybert-ref ablate` and copy its `ablation.json` to `benchmarks/results/`."
    if "test_mean" not in ablation["rows"][0]:  # one seed, the format before step budgets
        rows = [(f"`{r['variant']}`", _acc(r["test"]), _acc(r["dev"]), _pct(r["retention"]),
                 _points(r["vs_full"])) for r in ablation["rows"]]
        return table(["variant", "test acc.", "dev acc.", "retention", "vs full (points)"], rows)
    text = seeds_table(ablation["rows"], ablation.get("commands", []))
    # over seeds too: rows the same code made on another machine (`other_cpu`), the rows an older training
    # loop made (`previous_loop`), and the variants with Algorithm 1's masked LM
    for other in filter(None, (ablation.get(key) for key in ("other_cpu", "previous_loop", "masked_lm_recipe"))):
        text += f"\n\n{other['label']}\n\n" + seeds_table(other["rows"], other.get("commands", []))
    if ablation.get("one_seed"):  # loss and mapping rows, one seed each (the issue allows it), labelled
        text += f"\n\n{ablation['one_seed']['label']}\n\n" + one_seed_table(ablation["one_seed"])
    previous = ablation.get("previous_recipe")
    if previous:  # the previous recipe's rows, kept beside the re-made ones and labelled
        rows = [(f"`{r['variant']}`", _acc(r["test"]), _acc(r["dev"]), _pct(r["retention"]),
                 _points(r["vs_full"])) for r in previous["rows"]]
        text += (f"\n\n{previous['label']}\n\n"
                 + table(["variant", "test acc.", "dev acc.", "retention", "vs full (points)"], rows))
    return text


def seeds_table(rows: list[dict], commands: list[str]) -> str:
    """Ablation rows over seeds: mean ± sd, the verdict against `full`, the steps of every stage."""
    stages = [s for s in _STAGE_ORDER if any(s in r["steps"] for r in rows)]
    cells = [(f"`{r['variant']}`", len(r["seeds"]), _mean_sd(r["test_mean"], r["test_sd"]),
              _mean_sd(r["dev_mean"], r["dev_sd"]), _mean_sd(r["retention_mean"], r["retention_sd"], percent=True),
              _points(r.get("vs_full")), r.get("verdict", "—"),
              *(r["steps"].get(s, "—") for s in stages)) for r in rows]
    return ("`" + "`; `".join(commands) + "`. Mean ± sample sd over the seeds; \"verdict\" compares with `full`: a "
            "win is by more than 2 sd (the larger of the two), else a tie.\n\n"
            + table(["variant", "seeds", "test acc.", "dev acc.", "retention", "vs full (points)", "verdict",
                     *(f"steps: {s}" for s in stages)], cells))


def one_seed_table(block: dict) -> str:
    """Variants run over one seed, each beside the `full` row's score on that seed; the verdict's bar is
    the `full` row's sd over its seeds (`benchmarks.ablation.merge_one_seed`)."""
    rows = block["rows"]
    stages = [s for s in _STAGE_ORDER if any(s in r["steps"] for r in rows)]
    cells = [(f"`{r['variant']}`", r["seeds"][0], _acc(r["test_mean"]), _acc(r["dev_mean"]),
              _pct(r["retention_mean"]), _acc(r["full_on_seed"]["test"]), _points(r["vs_full"]), r["verdict"],
              *(r["steps"].get(s, "—") for s in stages)) for r in rows]
    return ("`" + "`; `".join(block["commands"]) + "`.\n\n"
            + table(["variant", "seed", "test acc.", "dev acc.", "retention", "`full` on that seed", "vs full (points)",
                     "verdict", *(f"steps: {s}" for s in stages)], cells))


def _speed(folder: Path) -> str:
    inference = _load(folder, "inference.json")
    if not inference:
        return "Not measured yet: run `python -m benchmarks --only inference`."
    q = inference["ratios"]
    rows = [("parameters", f"{q['params_with_projection']:.1f}x", "7.5x"),
            ("FLOPs per example (the ratio if every FLOP took the same time)", f"{q['flops']:.1f}x", "—"),
            *((f"CPU latency, batch {k.split('_')[-1]}", f"{v:.1f}x", "9.4x (GPU)")
              for k, v in q.items() if k.startswith("latency_batch"))]
    return (f"`{q['reference']}` shape vs `{q['student']}` shape, sequence length 128, random weights "
            f"(`benchmarks/results/inference.json`):\n\n" + table(["ratio", "measured", "paper"], rows))


def _timetable(folder: Path) -> str:
    timings = _load(folder, "notebooks.json")
    if not timings:
        return "Not measured yet: run `python -m benchmarks.notebooks --profile ci --profile laptop`."
    profiles = [p for p in ("ci", "laptop", "paper") if p in timings["profiles"]]
    names = sorted({n for p in profiles for n in timings["profiles"][p]["notebooks"]})

    def cell(profile, name):
        t = timings["profiles"][profile]["notebooks"].get(name)
        if t is None:
            return "—"
        return (f"{t['wall_s'] / 60:.1f}" if t["ok"] else "failed")

    rows = [(f"`{name}`", *(cell(p, name) for p in profiles)) for name in names]
    notes = []
    for p in profiles:
        entry = timings["profiles"][p]
        load = entry.get("load_at_start") or []
        notes.append(f"`{p}`: {entry['machine']['logical_cpus']} CPUs, load average at start "
                     f"{load[0] if load else '—'}" + (", stages of `tinybert-ref run` present"
                                                       if p != "ci" and entry.get("stages_present") else ""))
    return ("Minutes per notebook, top to bottom in a fresh kernel (`python -m benchmarks.notebooks`); "
            + "; ".join(notes) + ".\n\n" + table(["notebook", *(f"`{p}` min" for p in profiles)], rows))


def _pairs(folder: Path) -> str:
    m = _load(folder, "laptop_pairs_metrics.json")
    if not m:
        return ("Not measured yet: run `tinybert-ref run --task bbc_pairs --out runs/laptop-pairs` and copy its "
                "`metrics.json` to `benchmarks/results/laptop_pairs_metrics.json`.")
    task, teacher = m["task"], m["teacher"]
    names = [name for name in teacher["test_metrics"] if name != "metric"]
    rows = [(label, *(_acc(entry["test_metrics"].get(name)) for name in names), _acc(entry["dev_metric"]),
             _pct(entry["test_metric"] / teacher["test_metric"]))
            for label, entry in (("teacher (MiniLM-L6, fine-tuned)", teacher),
                                 (f"student `{m['config']['student']}`", m["student"]))]
    tfidf = (m.get("baselines") or {}).get("tfidf") or {}
    rows.append(("TF-IDF + logistic regression (both texts)", *(_acc(tfidf.get(name)) for name in names), "—",
                 _pct(None if tfidf.get("metric") is None else tfidf["metric"] / teacher["test_metric"])))
    minutes = sum(stage.get("wall_s") or 0 for stage in m.get("stages", {}).values() if isinstance(stage, dict)) / 60
    return (f"`tinybert-ref run --task bbc_pairs` on the course machine (2 CPU cores), profile `{m['profile']}`, one "
            f"seed ({m['config']['seed']}); task `{task['name']}`, {task['sizes']['train']:,} training pairs, test "
            f"{task['sizes']['test']} pairs; the task's metric is `{task['metric']}` (F1 of class 1, as MRPC), and "
            f"retention is on it. Stages {minutes:.1f} minutes in all, the general distillation shared with the "
            "headline run counted as made (`benchmarks/results/laptop_pairs_metrics.json`).\n\n"
            + table(["model", *(f"test {name}" for name in names), f"dev {task['metric']}", "retention"], rows))


# the shipping targets: int8 ONNX against fp32 PyTorch at batch 32, length 128, on the laptop student
DEPLOY_TARGETS = {"speedup": 2.0, "agreement": 0.98, "points_lost": 1.0, "setting": "batch_32_len_128"}


def _deploy(folder: Path) -> str:
    r = _load(folder, "deploy.json")
    if not r or "student" not in r.get("models", {}):
        return "Not measured yet: run `tinybert-ref run`, then `python -m benchmarks --only deploy`."
    student, t = r["models"]["student"], DEPLOY_TARGETS
    speedups = r["ratios"]["student"]["speedup"]["onnx_int8"]
    setting = t["setting"] if t["setting"] in speedups else list(speedups)[-1]  # `--tiny` measures smaller shapes
    speedup = speedups[setting]
    agreement = student["agreement"]["onnx_int8_vs_onnx_fp32"]
    lost = 100 * (student["test_metric"]["pytorch_fp32"] - student["test_metric"]["onnx_int8"])
    shape = setting.replace("batch_", "batch ").replace("_len_", ", length ")
    checks = [(f"int8 ONNX {_x(speedup)} the speed of fp32 PyTorch at {shape}", speedup >= t["speedup"],
               f"{t['speedup']:.0f}x"),
              (f"{_pct(agreement)} of test predictions equal to fp32's", agreement >= t["agreement"], _pct(t["agreement"])),
              (f"test accuracy {-lost:+.2f} points against fp32's", lost <= t["points_lost"],
               f"at most {t['points_lost']:.0f} point lost")]
    verdicts = "; ".join(f"{what} (target {target}: {'met' if ok else 'missed'})" for what, ok, target in checks)
    return (f"The `laptop` student against the targets: {verdicts}. Measured by `python -m benchmarks --only deploy` "
            f"(`benchmarks/results/deploy.json`).\n\n" + deploy_section(r))


def _sweep(folder: Path) -> str:
    """The learning-rate sweep: every setting's dev and test metric, the one chosen on dev, and whether the
    profile's defaults are that setting (read from `tinybert_ref.profiles`, so a changed default shows)."""
    from tinybert_ref.profiles import PROFILES

    r = _load(folder, "sweep.json")
    if not r:
        return ("Not measured yet: run `tinybert-ref sweep --grid td1_lr=3e-4,1e-4 --grid td2_lr=1e-4,3e-5,3e-4` "
                "and copy its `sweep.json` to `benchmarks/results/`.")
    profile, keys, n = PROFILES[r["config"]["profile"]], list(r["grid"]), len(r["seeds"])
    default = ",".join(f"{key}={getattr(profile, key)}" for key in keys)
    best = max(row["dev_mean"] for row in r["rows"])
    tied = [row["setting"] for row in r["rows"] if row["dev_mean"] == best]

    def score(row, split):
        return _acc(row[f"{split}_mean"]) if n == 1 else _mean_sd(row[f"{split}_mean"], row[f"{split}_sd"])

    rows = [(*(f"{row[key]:g}" for key in keys), score(row, "dev"), score(row, "test"),
             ", ".join(w for w, yes in (("best on dev", row["dev_mean"] == best), ("default", row["setting"] == default))
                      if yes) or "—") for row in r["rows"]]
    chosen = (f"the best dev score, {_acc(best)}, is shared by {len(tied)} settings ({'; '.join(tied)})"
              if len(tied) > 1 else f"chosen on dev: `{tied[0]}`")
    verdict = ("is among them" if default in tied and len(tied) > 1 else "is the one chosen" if default in tied
               else "is not the one chosen on dev")
    spread = ((_load(folder, "retention_seeds.json") or {}).get("tinybert4") or {}).get("test_metric_sd")
    caveat = ("" if n > 1 else " One seed: the ranking may change with another seed" + (
        f" (over seeds, the default recipe's test accuracy has sd {spread:.4f})"
        if spread is not None else "") + ", so read it as no evidence against the default, not as a choice.")
    return (f"`{r.get('command', 'tinybert-ref sweep')}`: {len(r['rows'])} settings, seed{'s' if n > 1 else ''} "
            f"{', '.join(map(str, r['seeds']))}, profile `{profile.name}`; picked on the dev split only (test beside "
            f"it for the record). {chosen[0].upper() + chosen[1:]}; the profile's default (`{default}`) {verdict}."
            f"{caveat}\n\n" + table([*keys, "dev acc.", "test acc.", "note"], rows))


def _attention(folder: Path) -> str:
    result = _load(folder, "attention_transfer.json")
    if not result:
        return ("Not measured yet: run `python -m benchmarks.attention_transfer RUN ...` on finished runs (for example "
                "the seed folders of `tinybert-ref ablate --set no_attention_loss`).")
    checkpoints = ("before_gd", "after_gd", "after_td1", "after_td2")
    cells = [(f"`{r['variant']}`", r["seed"],
              ", ".join(loss for loss in ("embedding", "attention", "hidden") if r["losses"][f"{loss}_loss"]),
              ", ".join(map(str, r["mapping"][1:])),
              *(f"{r['checkpoints'][c]['mean']:.2f} ({r['checkpoints'][c]['correlation']:+.2f})" if c in r["checkpoints"]
                else "—" for c in checkpoints),
              _acc(r["test_metric"])) for r in result["rows"]]
    return (f"`{result['command']}`. Each cell: the attention distance, the MSE between the student's pre-softmax "
            "attention scores of layer m and the teacher's of layer g(m) over real (query, key) pairs (Eq. 7's "
            "quantity, notebook 08 section 5), and in brackets the correlation of the two, each query's scores "
            "centred first (softmax ignores a shift; 1 = the teacher's pattern at any scale, 0 = unrelated); both "
            f"the mean over the student's layers and heads, on the {result['n']} {result['split']} headlines, each "
            "checkpoint against the teacher it learned from (pretrained for general distillation, fine-tuned after)."
            "\n\n"
            + table(["variant", "seed", "losses (GD, step 1)", "g(1..M)", "random init", "after GD",
                     "after TD step 1", "after TD step 2", "test acc."], cells))


def _general(folder: Path) -> str:
    result = _load(folder, "general_distillation.json")
    if not result:
        return ("Not measured yet: run `python -m benchmarks.general_distillation RUN ...` on finished runs (for "
                "example `runs/laptop` and a seed folder of `tinybert-ref ablate --set no_gd`).")

    def probe(scores):
        # dev has 200 headlines, test 400: each accuracy exact at 3 and 4 decimals
        return "—" if scores is None else f"{scores['dev']:.3f} / {scores['test']:.4f}"

    def loss(curve, at):
        return "—" if not curve else f"{curve[at]['total']:.3f}"

    def falling(curve):  # general distillation's last two windows: still falling at its end?
        return "—" if not curve or len(curve) < 2 else f"{curve[-2]['total']:.2f} → {curve[-1]['total']:.2f}"

    checkpoints = ("before_gd", "after_gd", "after_td1", "after_td2")
    cells = [(f"`{r['variant']}`", r["seed"], *(probe(r["probe"].get(c)) for c in checkpoints), falling(r.get("gd_loss")),
              loss(r["step1_loss"], 0), loss(r["step1_loss"], -1), _acc(r["test_metric"])) for r in result["rows"]]
    teachers = ", ".join(f"{kind} {probe(scores)}" for kind, scores in result["teachers"].items())
    window = result["window"]
    return (f"`{result['command']}`. Linear probe (`tinybert_ref.probe`): each checkpoint frozen, its mean-pooled "
            f"last hidden states as features, a logistic regression fitted on the {result['n_train']:,} train "
            f"headlines; accuracy on dev / test. The teachers, probed the same way: {teachers}. GD loss: general "
            f"distillation's total loss over the {window} batches before its last {window}, then over its last {window} "
            "(still falling at its end, or flat? A loss on blocks of another length differs in scale). Step 1 loss: the "
            f"total intermediate-layer loss (Eq. 11's layer terms) averaged over step 1's first and last {window} "
            "batches; runs of one seed read the same batches in the same order.\n\n"
            + table(["variant", "seed", "random init", "after GD", "after TD step 1", "after TD step 2",
                     "GD loss, end", f"step 1 loss, first {window}", f"step 1 loss, last {window}", "test acc."], cells))


def _teacher(folder: Path) -> str:
    """The teacher's fine-tuning budget (teacher_budget.json): each epoch count's dev, test and train
    accuracy and how soft its labels are, the one picked on dev, and the profile's default beside it."""
    from tinybert_ref.profiles import PROFILES

    r = _load(folder, "teacher_budget.json")
    if not r:
        return ("Not measured yet: run `python -m benchmarks.teacher_budget --epochs 3,10,20 "
                "--store runs/laptop/stages`.")
    default, choice = PROFILES[r["profile"]].teacher_epochs, r["choice"]

    def note(row):
        marks = (("picked on dev", row["epochs"] == choice["epochs"]), ("default", row["epochs"] == default))
        return ", ".join(word for word, yes in marks if yes) or "—"

    rows = [(f"{row['epochs']:g}", str(row["steps"]), str(row["best_step"]), _acc(row["dev"]["accuracy"]),
             _acc(row["test"]["accuracy"]), _acc(row["train"]["accuracy"]), f"{row['test']['top_prob']:.3f}",
             f"{row['test']['entropy']:.3f}", f"{row['wall_s'] / 60:.1f}", note(row)) for row in r["rows"]]
    near = ", ".join(f"{e:g}" for e in choice["within_one_example"])
    verdict = "is the pick" if choice["epochs"] == default else "is not the pick"
    return (f"`{r['command']}`: the `teacher` stage of profile `{r['profile']}` at each epoch count (the kept "
            f"checkpoint is the best of its dev scores), picked on the dev split only, test beside it for the record. "
            f"Best dev {_acc(choice['best_dev'])}; within one dev headline (1/{choice['dev_size']}) of it: {near} "
            f"epochs; of those the fewest steps: {choice['epochs']:g} epochs. The profile's default, {default:g} "
            f"epochs, {verdict}. "
            "Top-class probability and entropy (nats; ln 5 = 1.61 is uniform over the five topics) are the "
            "test means of the soft labels step 2 copies at temperature 1 (Eq. 10).\n\n"
            + table(["epochs", "steps", "best step", "dev acc.", "test acc.", "train acc.", "test: top-class prob.",
                     "test: entropy", "minutes", "note"], rows))


_RENDER = {"results": _results, "ablation": _ablation, "speed": _speed, "timetable": _timetable, "pairs": _pairs,
           "deploy": _deploy, "sweep": _sweep, "teacher": _teacher, "attention": _attention,
           "general": _general}


def render_blocks(folder: str | Path = RESULTS_DIR) -> dict[str, str]:
    """{block name: markdown} rendered from the JSON files in `folder`."""
    return {name: _RENDER[name](Path(folder)) for name in BLOCKS}


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- begin:{name} -->\n)(.*?)(<!-- end:{name} -->)", re.S)


def _replace(text: str, blocks: dict[str, str]) -> str:
    for name, body in blocks.items():
        pattern = _pattern(name)
        if not pattern.search(text):
            raise ValueError(f"README has no block {name!r}: add '<!-- begin:{name} -->' and "
                             f"'<!-- end:{name} -->' lines where it should go")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(3), text)
    return text


def stale_blocks(readme: str | Path = README, folder: str | Path = RESULTS_DIR) -> list[str]:
    """Names of the README blocks that differ from what the JSON in `folder` renders."""
    text = Path(readme).read_text(encoding="utf-8")
    blocks = render_blocks(folder)
    return [name for name in blocks if _replace(text, {name: blocks[name]}) != text]


def update_readme(readme: str | Path = README, folder: str | Path = RESULTS_DIR) -> Path:
    """Rewrite every generated block of `readme` from `folder`; returns the path."""
    readme = Path(readme)
    readme.write_text(_replace(readme.read_text(encoding="utf-8"), render_blocks(folder)), encoding="utf-8")
    return readme


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        stale = stale_blocks()
        print("stale README blocks: " + ", ".join(stale) if stale else "README blocks are up to date")
        sys.exit(1 if stale else 0)
    print(f"updated {update_readme()}")
