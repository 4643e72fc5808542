"""Evaluation, figures, report and export of a finished pipeline run (DESIGN.md section 4, "Runs").

Writes RUN_DIR/metrics.json (schema in `report.py`), RUN_DIR/report.md, RUN_DIR/figures/*.png and
the exported checkpoints RUN_DIR/teacher and RUN_DIR/student, which
`transformers.pipeline("text-classification", model=RUN_DIR / "student")` loads.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from .evaluate import (
    evaluate_model,
    measure_latency,
    per_class_report,
    predict,
    tfidf_baseline,
    tfidf_pair_baseline,
)
from .io import save_model_atomic
from .models import count_parameters
from .report import write_metrics, write_report
from .runfolder import peak_rss_gib

__all__ = ["finalize", "STAGE_FIGURES"]

log = logging.getLogger(__name__)
# stages whose loss history is drawn, in pipeline order
STAGE_FIGURES = ("general_distillation", "task_distillation_1", "task_distillation_2")


def _assess(run, model, name: str) -> dict:
    """Dev and test metrics (each process scores its shard; the predictions are gathered in order)."""
    from .stages import split_loader

    out = {"params": count_parameters(model)}
    for split in ("dev", "test"):
        loader = split_loader(run, split)
        out[f"{split}_metrics"] = evaluate_model(model, loader, run.info.metric, device=run.accelerator.device,
                                                 accelerator=run.accelerator)
        out[f"{split}_metric"] = out[f"{split}_metrics"]["metric"]
        if split == "test" and not run.info.is_regression:
            logits, labels = predict(model, loader, device=run.accelerator.device, accelerator=run.accelerator)
            out["per_class"] = per_class_report(logits.argmax(-1), labels, list(run.info.label_names))
    log.info("%s: dev %.4f, test %.4f", name, out["dev_metric"], out["test_metric"])
    return out


def _figures(run, teacher, student, figure_dir: Path) -> list[str]:
    from . import viz

    figure_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stage in STAGE_FIGURES:
        if stage in run.stages and (run.stages[stage][0] / "history.json").is_file():
            history = json.loads((run.stages[stage][0] / "history.json").read_text())
            fig = viz.loss_curves(history, title=stage.replace("_", " "))
            fig.savefig(figure_dir / f"loss_{stage}.png", dpi=90)
            written.append(f"figures/loss_{stage}.png")
    fig = viz.mapping_diagram(run.stages.get("task_distillation_1", (None, {}))[1].get("mapping")
                              or _default_mapping(run, teacher, student), teacher.config.num_hidden_layers)
    fig.savefig(figure_dir / "mapping.png", dpi=90)
    written.append("figures/mapping.png")
    written += _attention_figures(run, teacher, student, figure_dir)
    return written


def _default_mapping(run, teacher, student):
    from .mapping import layer_mapping

    return layer_mapping(student.config.num_hidden_layers, teacher.config.num_hidden_layers,
                         run.config.mapping_strategy())


def _attention_figures(run, teacher, student, figure_dir: Path) -> list[str]:
    """Teacher vs student attention scores of every mapped layer on the first test example."""
    from . import viz
    from .internals import enable_scores, forward_with_internals

    example = run.tokenized["test"][0]
    batch = run.collate([{k: example[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in example}])
    tokens = run.tokenizer.convert_ids_to_tokens(example["input_ids"])
    with torch.no_grad():
        t = forward_with_internals(enable_scores(teacher), **batch)
        s = forward_with_internals(enable_scores(student), **batch)
    mapping = _default_mapping(run, teacher, student)
    written = []
    for m in range(1, len(mapping)):
        fig = viz.teacher_student_attention(t.attention_scores[mapping[m] - 1][0], s.attention_scores[m - 1][0],
                                            tokens, head=0, teacher_layer=mapping[m], student_layer=m)
        fig.savefig(figure_dir / f"attention_layer{m}.png", dpi=90)
        written.append(f"figures/attention_layer{m}.png")
    return written


def finalize(run, final_stage: Path) -> dict:
    """Evaluate teacher and student, draw the figures, write metrics.json and report.md, export both.

    With several processes every process evaluates its share; the main process alone measures latency,
    draws, exports and writes, and the others return the metrics.json it wrote."""
    from transformers import BertForSequenceClassification

    from .models import load_checkpoint

    teacher = load_checkpoint(run.stages["teacher"][0] / "model", BertForSequenceClassification).eval()
    student = load_checkpoint(final_stage / "model", BertForSequenceClassification).eval()
    metrics = {"profile": run.profile.name, "config": run.config.to_dict(), "task": _task_summary(run)}
    metrics["teacher"], metrics["student"] = _assess(run, teacher, "teacher"), _assess(run, student, "student")
    if not run.accelerator.is_main_process:
        run.accelerator.wait_for_everyone()
        return json.loads((run.out / "metrics.json").read_text())
    metrics["retention"] = _ratio(metrics["student"]["test_metric"], metrics["teacher"]["test_metric"])
    metrics["dev_retention"] = _ratio(metrics["student"]["dev_metric"], metrics["teacher"]["dev_metric"])
    metrics["baselines"] = {"tfidf": _tfidf(run)}
    metrics["stages"] = {name: {k: v for k, v in result.items() if k != "mapping"}
                         for name, (_, result) in run.stages.items()}
    walls = [result.get("wall_s", 0.0) for _, result in run.stages.values()]
    metrics["stage_minutes"] = round(sum(walls) / 60, 1)  # every stage as if made by this run alone
    metrics["peak_rss_gib"] = max([result.get("peak_rss_gib", 0.0) for _, result in run.stages.values()]
                                  + [peak_rss_gib()])
    metrics["stage_dirs"] = {name: stage_dir.name for name, (stage_dir, _) in run.stages.items()}
    # where those stage folders are, relative to the run folder (a store can be shared, --store)
    metrics["store"] = os.path.relpath(run.store.resolve(), run.out.resolve())
    metrics["figures"] = _figures(run, teacher, student, run.out / "figures")
    save_model_atomic(student, run.out / "student", run.tokenizer)
    save_model_atomic(teacher, run.out / "teacher", run.tokenizer)
    metrics["latency_setting"] = _latency(run, metrics)
    write_metrics(run.out, metrics)
    write_report(run.out, metrics)
    run.accelerator.wait_for_everyone()
    return metrics


def _latency(run, metrics: dict) -> dict:
    """Latency of the exported models loaded as a user loads them (`from_pretrained`, the default
    attention), not the score-returning attention that training uses."""
    from transformers import BertForSequenceClassification

    models = {name: BertForSequenceClassification.from_pretrained(run.out / name).eval() for name in ("teacher", "student")}
    p = run.profile
    latency = measure_latency(models, p.latency_batch, p.latency_seq_len, repeats=p.latency_repeats)
    for name in models:
        metrics[name]["latency_ms"] = latency[name]["median_ms"]
    return {"batch": p.latency_batch, "seq_len": p.latency_seq_len, "threads": torch.get_num_threads(),
            "attention": models["student"].config._attn_implementation}


def _ratio(a, b):
    return round(a / b, 4) if b else None


def _task_summary(run) -> dict:
    return {"name": run.info.name, "metric": run.info.metric, "labels": list(run.info.label_names),
            "text_columns": list(run.info.text_columns), "sizes": {split: len(run.task[split]) for split in run.task}}


def _tfidf(run) -> dict:
    task = run.task
    if run.info.is_pair:
        return tfidf_pair_baseline(task["train"]["text"], task["train"]["text_pair"], task["train"]["label"],
                                   task["test"]["text"], task["test"]["text_pair"], task["test"]["label"],
                                   metric=run.info.metric, seed=run.config.seed)
    return tfidf_baseline(task["train"]["text"], task["train"]["label"], task["test"]["text"],
                          task["test"]["label"], metric=run.info.metric, seed=run.config.seed)
