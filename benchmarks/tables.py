"""Render the benchmark JSON files of a folder into its README.md (markdown tables, generated, never edited).

`write_readme(folder)` reads `<name>.json` for every benchmark in `benchmarks.BENCHMARKS` that is
present and writes `folder/README.md`; the project README and notebook 09 show these tables.
Regenerate with `python -m benchmarks.tables [FOLDER]` (default: benchmarks/results).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tinybert_ref.report import markdown_table

from . import BENCHMARKS, RESULTS_DIR
from .machine import cpu_label

__all__ = ["load_results", "render", "write_readme"]

_KIND_NAMES = {"task_step1": "task step 1 (layers)", "task_step2": "task step 2 (logits)",
               "general": "general distillation"}


def load_results(folder: str | Path) -> dict[str, dict]:
    """{benchmark name: its JSON} for the benchmark files present in `folder`."""
    folder = Path(folder)
    return {name: json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
            for name in (*BENCHMARKS, "gpu") if (folder / f"{name}.json").is_file()}


def table(headers: Sequence[str], rows: Sequence[Sequence], right: Sequence[bool] | None = None) -> str:
    """A markdown table (`tinybert_ref.report.markdown_table`): the first column left-aligned, the others
    right-aligned unless `right` says otherwise."""
    return markdown_table(rows, headers, right=right or [False] + [True] * (len(headers) - 1))


def _x(value) -> str | None:
    return None if value is None else f"{value:.1f}x"


def _m(count) -> str | None:
    return None if count is None else f"{count / 1e6:.2f}M"


def _pct(value) -> str | None:
    return None if value is None else f"{100 * value:.1f}%"


def _ms(value) -> str | None:
    return None if value is None else (f"{value:.1f}" if value >= 10 else f"{value:.2f}")


def _load(values) -> str:
    return " / ".join(f"{v:.1f}" for v in values) if values else "—"


def _machine_section(results: dict) -> str:
    first = next(iter(results.values()))["machine"]
    rows = [(name, cpu_label(r["machine"]), f"{r.get('wall_s', 0):.0f}", _load(r["machine"].get("load_average")),
             _load(r.get("load_average_end")), r["machine"].get("torch_threads"), r["machine"].get("time_utc"))
            for name, r in results.items()]
    return (f"Each benchmark ran on the CPU its row names (benchmarks were run at different times, on different "
            f"machines). Versions, from `{next(iter(results))}`: torch {first['torch']}, transformers "
            f"{first['transformers']}, accelerate {first.get('accelerate')}, Python {first['python']}, commit "
            f"{first.get('commit')}. Load average = runnable processes over 1 / 5 / 15 minutes: above the "
            "number of CPUs, other work shared the cores and the timings are slower and noisier than on an "
            "idle machine.\n\n"
            + table(["benchmark", "CPU", "wall s", "load at start", "load at end", "torch threads", "started (UTC)"],
                    rows, [False, False] + [True] * 5))


def _inference_section(r: dict) -> str:
    s, models, ratios = r["settings"], r["models"], r["ratios"]
    batches = [str(b) for b in s["batches"]]
    ref = models[ratios["reference"]]
    rows = []
    for name, m in models.items():
        shape = m["shape"]
        row = [name, f"{shape['num_hidden_layers']}/{shape['hidden_size']}/{shape['intermediate_size']}/"
               f"{shape['num_attention_heads']}", _m(m["params"]["bert_model"]), _pct(m["params"]["embedding_share"]),
               _m(m["params"]["encoder"]), f"{m['flops'] / 1e9:.2f}"]
        row += [_ms(m["latency"][b]["median_ms"]) for b in batches]
        row += [_x(ref["latency"][b]["median_ms"] / m["latency"][b]["median_ms"]) for b in batches]
        rows.append(row)
    headers = ["model", "layers/hidden/FFN/heads", "params (BertModel)", "embeddings share", "encoder params",
               f"GFLOPs/example (L={s['seq_len']})"]
    headers += [f"latency batch {b} (ms)" for b in batches] + [f"speed-up vs {ratios['reference']}, batch {b}"
                                                             for b in batches]
    paper = r["paper"]
    repeats = ", ".join(f"batch {b}: {ref['latency'][b]['repeats']}" for b in batches)
    student = models[ratios["student"]]["params"]
    ratio_rows = [
        ("parameters (BertModel: embeddings + encoder + pooler)", _x(ratios["params"]),
         f"{_x(paper['smaller'])} ({paper['params_m']['bert_base']:.0f}M / {paper['params_m']['tinybert4']}M)"),
        (f"parameters, student + projection W ({student['with_projection'] / 1e6:.2f}M)",
         _x(ratios["params_with_projection"]), _x(paper["smaller"])),
        ("parameters without embeddings (encoder only)", _x(ratios["params_non_embedding"]), None),
        ("FLOPs per example (the latency ratio if every FLOP took the same time)", _x(ratios["flops"]), None),
    ] + [(f"latency, batch {b}", _x(ratios[f"latency_batch_{b}"]), _x(paper["faster"])) for b in batches]
    return (f"Sequence length {s['seq_len']}, {s['threads']} threads, {s['attention']} attention, random weights, "
            f"{s['model_class']} ({s['num_labels']} labels), vocabulary {s['vocab_size']:,}; latency = median of "
            f"interleaved runs ({repeats} repeats)."
            "\n\n" + table(headers, rows) + f"\n\n{ratios['reference']} / {ratios['student']}:\n\n"
            + table(["ratio", "measured", "paper"], ratio_rows)
            + f"\n\nCounting: {ratios['student']} has {_m(student['bert_model'])} parameters as a BertModel, "
            f"{_pct(student['embedding_share'])} of them in the embeddings ({_m(student['word_embeddings'])} "
            f"word embeddings alone); with the {models[ratios['student']]['shape']['hidden_size']} -> 768 "
            f"projection W that the official checkpoints carry ({_m(student['with_projection'])}). "
            f"{ratios['reference']}: {_m(ref['params']['bert_model'])}. " + _counting_note(ratios, paper))


def _counting_note(ratios: dict, paper: dict) -> str:
    """Which parameter counting gives the paper's size ratio (within 0.05)."""
    matches = [label for label, key in (("the BertModel count", "params"), ("the count with W", "params_with_projection"))
               if ratios.get(key) is not None and abs(ratios[key] - paper["smaller"]) < 0.05]
    found = " and ".join(matches) if matches else "neither count"
    return (f"The paper's {paper['smaller']}x ({paper['params_m']['bert_base']:.0f}M / {paper['params_m']['tinybert4']}M) "
            f"matches {found}.")


def _augmentation_section(r: dict) -> str:
    from .augmentation import other_machines_statement  # imports torch: only when this section is rendered

    s, med, bound = r["settings"], r["median_s"], r["bound_s"]
    n = r["sentences"]
    rows = [("Algorithm 1, batched", _ms(med["batched"]), f"{n / med['batched']:.1f}"),
            ("Algorithm 1, word by word (one masked-LM forward per word)", _ms(med["word_by_word"]),
             f"{n / med['word_by_word']:.1f}"),
            (f"bound: masked-LM forwards alone ({r['masked_variants']} masked variants, batched)",
             _ms(bound["mlm_forwards_alone"]), f"{n / bound['mlm_forwards_alone']:.1f}"),
            (f"GloVe neighbour search alone ({r['glove_words']} multi-piece words)", _ms(bound["glove_search_alone"]),
             None)]
    equal = "yes" if r["candidates_equal"] else "no"
    return (f"{n} BBC headlines, K = {s['k']}, N_a = {s['n_copies']}, p_t = {s['p']}, seed {s['seed']}, batch "
            f"{s['batch_size']}, masked LM: {s['mlm']}, GloVe words: {s['glove_words_loaded']:,}; median of "
            f"{s['repeats']} interleaved runs; {r['augmented_examples']} sentences out.\n\n"
            + table(["what", "seconds", "sentences/s"], rows)
            + f"\n\nSpeed-up of the batched path: **{_x(r['speedup'])}** (target >= {_x(r['target_speedup'])}). "
            f"Same candidate sets: **{equal}** ({r['words_equal']}/{r['words']} words identical, "
            f"{r['words_equal_as_sets']}/{r['words']} as sets); same augmented sentences: "
            f"{'yes' if r['outputs_equal'] else 'no'}."
            + "".join(f" `{d['word']}`: batched {', '.join(d['batched'])}; word by word {', '.join(d['word_by_word'])}."
                      for d in r.get("words_differing", []))
            + (f"\n\n{r['statement']}" if "statement" in r else "")  # bf16 and the equal-precision ceiling
            + (f"\n\nThe same benchmark on other CPUs (carried from the files this one replaced): "
               f"{other_machines_statement(r['other_machines'])}" if r.get("other_machines") else ""))


def _steps_section(r: dict) -> str:
    s = r["settings"]
    rows = []
    for row in r["rows"]:
        shares = row["shares"]
        rows.append((row["pairing"], _KIND_NAMES.get(row["kind"], row["kind"]), row["precision"], row["seq_len"],
                     f"{row['examples_per_s']:.1f}", f"{row['step_s']:.2f}", _pct(shares["teacher_forward"]),
                     _pct(shares["student_forward_backward"]), _pct(shares["losses_forward"]),
                     _pct(shares["losses_alone"]), _pct(shares["optimizer"]), f"{row['peak_rss_mib']:.0f}"))
    headers = ["teacher -> student", "step", "precision", "length", "examples/s", "step s", "teacher forward",
               "student forward + backward", "losses forward", "losses forward + backward alone", "optimiser",
               "peak RSS MiB"]
    ref = r["design_reference"]
    return (f"Batch {s['batch_size']}, {s['inputs']}, {s['threads']} threads, median of {s['timed_steps']} timed "
            f"steps after a warm-up step (batch {s['warmup_batch_size']}); shares are of the step time (backward "
            "includes the losses' own backward, measured apart in 'losses forward + backward alone'). "
            f"Teachers: {', '.join(f'{k}: {v}' for k, v in s['teacher_weights'].items())}.\n\n"
            + table(headers, rows, [False, False, False] + [True] * 9)
            + _cached_step2(r["rows"])
            + f"\n\nDESIGN.md section 8 (idle machine): {ref['pairing']} {ref['kind']} at batch {ref['batch_size']}, "
            f"length {ref['seq_len']}: {ref['examples_per_s']:.0f} examples/s.")


def _cached_step2(rows) -> str:
    """Step 2 as the pipeline runs it: the teacher's logits computed once per example, not every epoch."""
    cached = [f"{row['pairing']} {row['precision']} {row['cached_teacher_logits']['examples_per_s']:.1f} examples/s "
              f"({_x(row['cached_teacher_logits']['speedup'])})" for row in rows if "cached_teacher_logits" in row]
    if not cached:
        return ""
    return ("\n\nStep 2 with the teacher's logits computed once per example (as the pipeline runs it; the same "
            "step without its teacher forward): " + "; ".join(cached) + ".")


MADE_BY = ("How the quality files were made: `laptop_metrics.json` is `runs/laptop/metrics.json` of the README's "
           "main job (`tinybert-ref run --out runs/laptop --store runs/laptop/stages`, seed 42, every stage made by the "
           "current code on a 2-core AMD EPYC; the earlier Intel run of the same settings scored the same 0.8500 "
           "test, 0.8450 dev, but its stage names lacked the code version the keys hold now), and "
           "`laptop_small_metrics.json` and `laptop_medium_metrics.json` are seed 42 of `tinybert-ref run --student small` "
           "and `--student medium`, and `laptop_mlm_metrics.json` is seed 42 of the masked-LM comparison run "
           "(`tinybert-ref run --seeds 42,43 --override aug_mlm=true --out runs/laptop-mlm --store runs/laptop/stages`, "
           "the current code on a 2-core AMD EPYC); `quality.json` is collected by `python -m benchmarks --only quality` "
           "from a run folder where there is one (the committed copy from `laptop_metrics.json`: "
           "`quality.run(metrics_paths=[RESULTS_DIR / 'laptop_metrics.json'])`); `mlm_recall.json` by "
           "`python -m benchmarks.mlm_recall --stage runs/laptop/stages/mlm-03c41e1401 --words 500,5000` (the "
           "masked-LM stage as the current code made it on an AMD machine: final loss 4.70333, as again in "
           "`laptop_mlm_metrics.json`, where another session re-made it, with the same 500-word recall); "
           "`teacher_budget.json` by `python -m benchmarks.teacher_budget --epochs 3,10,20 --store runs/laptop/stages` "
           "(its command is in the file); `notebooks.json` by "
           "`python -m benchmarks.notebooks --profile ci|laptop`.")


def _quality_section(r: dict) -> str:
    parts = []
    laptop = r.get("laptop")
    if laptop:
        rows = [(who, laptop[who].get("test_metric"), laptop[who].get("dev_metric"), _m(laptop[who].get("params")),
                 _ms(laptop[who].get("latency_ms"))) for who in ("teacher", "student")]
        rows.append(("TF-IDF + logistic regression", laptop.get("tfidf"), None, None, None))
        rows = [(a, None if t is None else f"{t:.4f}", None if d is None else f"{d:.4f}", p, lat)
                for a, t, d, p, lat in rows]
        parts.append(f"Run `{r['sources']['laptop_metrics']}` (profile {laptop['profile']}, task {laptop['task']}, "
                     f"metric {laptop['metric']}):\n\n"
                     + table(["model", "test", "dev", "params", "latency ms"], rows)
                     + f"\n\nRetention (student / teacher): test {_pct(laptop.get('retention'))}, dev "
                     f"{_pct(laptop.get('dev_retention'))}; paper {_pct(r['targets']['paper_glue_retention'])} (GLUE), "
                     f"design aim {_pct(r['targets']['design_aim_retention'])}.")
    ablation = r.get("ablation")
    if ablation and ablation["rows"] and "test_mean" in ablation["rows"][0]:  # over seeds: the README's table
        from .readme import seeds_table  # imports this module: only when rendering

        parts.append(f"Ablations (`{r['sources']['ablation']}`): "
                     + seeds_table(ablation["rows"], ablation.get("commands", [])))
    elif ablation:  # one seed, the format before step budgets
        rows = [(row["variant"], *(None if row.get(k) is None else f"{row[k]:.4f}"
                                   for k in ("test", "dev", "retention", "vs_full"))) for row in ablation["rows"]]
        parts.append(f"Ablations (`{r['sources']['ablation']}`):\n\n"
                     + table(["variant", "test", "dev", "retention", "vs full"], rows))
        if ablation.get("commands"):
            parts.append("The commands that made the ablation rows:\n\n"
                         + "\n".join(f"- `{c}`" for c in ablation["commands"]))
    parts.append(MADE_BY)
    if r.get("missing"):
        parts.append("Not available yet (no numbers are made up):\n\n" + "\n".join(f"- {m}" for m in r["missing"]))
    return "\n\n".join(parts)


def _corpus_memory_section(r: dict) -> str:
    s, g = r["settings"], r["growth"]
    rows = [(f"{row['text_bytes'] / 1e6:.1f}", row["files"], f"{row['rows']:,}", f"{row['tokens'] / 1e6:.2f}M",
             f"{row['arrow_bytes'] / 2**20:.0f}", f"{row['token_ids_int64_mib']:.0f}", f"{row['load_s']:.1f}",
             f"{row['pack_s']:.1f}", f"{row['tokens_per_s']:,.0f}", f"{row['text_mb_per_s']:.2f}",
             f"{row['anon_ready_mib']:.0f}", f"{row['peak_main_anon_mib']:.0f}", f"{row['peak_rss_mib']:.0f}",
             f"{row['peak_worker_anon_mib']:.0f}", f"{row['peak_tree_anon_mib']:.0f}") for row in r["rows"]]
    headers = ["text MB", "files", "rows", "packed tokens", "Arrow on disk MiB", "token ids as int64 MiB",
               "load s", "tokenise + pack s", "tokens/s", "text MB/s", "anonymous ready MiB",
               "anonymous peak MiB", "RSS peak MiB (with mapped files)", "largest worker, anonymous MiB",
               "process tree, anonymous MiB"]
    return (f"General-distillation corpus preparation in a fresh process per corpus (`load_text_corpus` + "
            f"`pack_corpus`, length {s['seq_len']}, num_proc {s['num_proc']}, {s['cpus']} CPUs), on text the "
            f"benchmark writes itself (lines of {s['words_per_line'][0]}-{s['words_per_line'][1]} words from "
            f"{s['vocabulary_words']:,} vocabulary words); memory sampled every "
            f"{s['sampling_interval_s'] * 1000:.0f} ms. Anonymous = memory the process holds (RssAnon); RSS also "
            "counts pages of the memory-mapped Arrow files it has read (page cache, reclaimable); 'ready' = after "
            "imports and the tokenizer; the tree sums count memory shared by forked workers once per process.\n\n"
            + table(headers, rows)
            + f"\n\nText grew {_x(g['text'])} and the Arrow files on disk {_x(g['arrow_bytes'])}; the anonymous peak "
            f"of the preparing process grew {g['peak_anon']:.2f}x (process tree {g['peak_tree_anon']:.2f}x), its RSS "
            f"with the mapped files {g['peak_rss']:.2f}x.")


_RUNTIME_NAMES = {"pytorch_fp32": "PyTorch fp32", "onnx_fp32": "ONNX fp32", "onnx_int8": "ONNX int8"}


def deploy_section(r: dict) -> str:
    s, models = r["settings"], r["models"]
    keys = list(next(iter(models.values()))["latency"]["pytorch_fp32"])
    metric = (r.get("test_set") or {}).get("metric") or "metric"
    rows = []
    for name, m in models.items():
        for runtime in s["runtimes"]:
            latency = m["latency"][runtime]
            torch_ms = m["latency"]["pytorch_fp32"]
            cells = [f"{_ms(latency[k]['median_ms'])} ({_x(torch_ms[k]['median_ms'] / latency[k]['median_ms'])})"
                     for k in keys]
            test = m.get("test_metric", {}).get(runtime)
            rows.append([name, _RUNTIME_NAMES[runtime], f"{m['bytes'][runtime] / 1e6:.1f}",
                         _x(m["bytes"]["pytorch_fp32"] / m["bytes"][runtime]), None if test is None else f"{test:.4f}",
                         *cells])
    headers = ["model", "runtime", "file MB", "smaller than PyTorch", f"test {metric}"]
    headers += [f"ms, {k.replace('batch_', 'batch ').replace('_len_', ', length ')} (speed-up)" for k in keys]
    agreement = [f"{name}: int8 predicts as fp32 on {_pct(m['agreement']['onnx_int8_vs_onnx_fp32'])} of the "
                 f"{r['test_set']['examples']} test examples (largest logit difference "
                 f"{m['max_abs_logit_difference']['onnx_int8_vs_onnx_fp32']:.3g}); ONNX fp32 vs PyTorch: "
                 f"{_pct(m['agreement']['onnx_fp32_vs_pytorch'])}, largest difference "
                 f"{m['max_abs_logit_difference']['onnx_fp32_vs_pytorch']:.2g}"
                 for name, m in models.items() if "agreement" in m]
    parts = [f"Run `{r['run_dir']}` (teacher and student; test split: {r['test_set'].get('examples')} examples of "
             f"{r['test_set'].get('task')}) and `bert_base` with random weights; {s['threads']} threads in every "
             f"runtime, {s['runtimes'] and 'runtimes interleaved'}, median; latency inputs: {s['latency_inputs']}; "
             f"{s['quantisation']}. Speed-up = PyTorch fp32's latency / this runtime's.",
             table(headers, rows, [False, False] + [True] * (len(headers) - 2))]
    if agreement:
        parts.append("\n".join(f"- {line}" for line in agreement))
    machine = r.get("machine") or {}
    if machine:  # int8 speed depends on the CPU's int8 instructions more than anything else in the table
        vnni = (machine.get("cpu_flags") or {}).get("avx512_vnni")
        parts.append(f"Measured on {machine.get('cpu')}, {machine.get('logical_cpus')} logical CPUs, "
                     + ("with AVX-512 VNNI." if vnni else "without AVX-512 VNNI."))
    parts.append(f"Bounds: size {_x(r['bounds']['size'])} (fp32 weights take 4 bytes, int8 ones 1), int8 arithmetic "
                 f"{_x(r['bounds']['int8_arithmetic'])} (on a CPU with VNNI, 64 int8 multiply-adds per 512-bit instruction "
                 "against 16 fp32 ones); the activations' quantisation at run time and the operations left in fp32 keep "
                 "int8 below it.")
    profiles = [_where_time_goes(name, m["where_time_goes"]) for name, m in models.items() if "where_time_goes" in m]
    if profiles:
        parts.append("Where the time goes (onnxruntime's profiler, per run, summed by operator type; int8 kernels = "
                     "MatMulInteger and its kin with the activations' quantisation; the ceiling is the speed-up over "
                     "ONNX fp32 if those kernels took no time at all):\n\n" + "\n".join(profiles))
    if r.get("missing"):
        parts.append("Not available yet:\n\n" + "\n".join(f"- {m}" for m in r["missing"]))
    return "\n\n".join(parts)


def _where_time_goes(name: str, w: dict) -> str:
    rest = sorted(((op, ms) for op, ms in w["ms_by_op"]["onnx_int8"].items() if op not in w["int8_ops"]), key=lambda item: -item[1])[:4]
    setting = w["setting"].replace("batch_", "batch ").replace("_len_", ", length ")
    return (f"- {name}, {setting}: ONNX fp32 {_ms(w['fp32_total_ms'])} ms ({_ms(w['fp32_matmul_ms'])} in MatMul); "
            f"int8 {_ms(w['int8_total_ms'])} ms = int8 kernels {_ms(w['int8_kernels_ms'])} + operators left in fp32 "
            f"{_ms(w['int8_rest_ms'])} ({_pct(w['int8_rest_ms'] / w['int8_total_ms'])}; largest: "
            + ", ".join(f"{op} {_ms(ms)}" for op, ms in rest)
            + f"); ceiling {_x(w['fp32_total_ms'] / w['int8_rest_ms'])} over ONNX fp32, whose own ratio to PyTorch "
            "is in the table")


_SECTIONS = {
    "inference": ("Size and inference speed", _inference_section),
    "augmentation": ("Data augmentation throughput (Algorithm 1)", _augmentation_section),
    "steps": ("Distillation step throughput", _steps_section),
    "quality": ("Quality", _quality_section),
    "corpus_memory": ("Corpus preparation memory (corpora larger than memory)", _corpus_memory_section),
    "deploy": ("Shipping: ONNX and int8", deploy_section),
}


def render(results: dict[str, dict]) -> str:
    """The README markdown for `results` ({benchmark name: JSON})."""
    lines = ["# Benchmark results", "",
             "Generated by `python -m benchmarks` (or `python -m benchmarks.tables`) from the JSON files in this "
             "folder; do not edit by hand. What each figure measures and the bound it stands beside: the "
             "docstrings of `benchmarks/<name>.py`."]
    if not results:
        return "\n".join(lines + ["", "No results yet: run `python -m benchmarks`."]) + "\n"
    tiny = [name for name, r in results.items() if r.get("tiny")]
    if tiny:
        lines += ["", f"**Tiny smoke-test sizes** ({', '.join(tiny)}): these numbers say nothing about speed."]
    lines += ["", "## Machine", "", _machine_section(results)]
    for name, (title, section) in _SECTIONS.items():
        if name in results:
            lines += ["", f"## {title}", "", section(results[name])]
    from .gpu import readme_section  # imports torch: only when rendering

    lines += ["", readme_section(results.get("gpu")).rstrip("\n")]  # how to run it, even before a GPU result
    return "\n".join(lines) + "\n"


def write_readme(folder: str | Path = RESULTS_DIR) -> Path:
    """Render every benchmark JSON in `folder` into folder/README.md; returns its path."""
    from tinybert_ref.io import write_text_atomic

    return write_text_atomic(Path(folder) / "README.md", render(load_results(folder)))


if __name__ == "__main__":
    write_readme(sys.argv[1] if len(sys.argv) > 1 else RESULTS_DIR)
