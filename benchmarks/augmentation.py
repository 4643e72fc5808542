"""Data augmentation throughput: Algorithm 1 batched (`augment.algorithm`) vs word by word (`augment.reference`).

Measured, on the same BBC headlines, masked LM, GloVe vectors and seed: sentences/s of the whole
Algorithm 1 (candidates + sampling of N_a copies) for both implementations, interleaved, median of
the repeats; whether both give the same candidate sets and the same augmented sentences; and the
bound DESIGN.md section 6 asks for, the time of the masked-LM forwards alone over the same masked
variants (batched, as `masked_topk` runs them), beside the GloVe neighbour search alone.

The word-by-word path runs the whole masked LM once per single-piece word (full logits, as the
official code); the batched path one forward per batch of masked variants, its last layer and the MLM
head at the masked rows only (`mlm._hidden_at_masks`: the other positions' last-layer outputs are never
read). Target: >= 10x, both sides at the same precision (fp32). The masked LM is the MiniLM encoder
with a new, untrained tied MLM head (`build_mlm_from_encoder`): its candidates are noise, its cost is
the trained model's.

The bound, stated in the result (`bound`, `statement`): the batched path cannot take less time than
its masked-LM forwards, so at equal precision its speed-up over word by word cannot exceed
word-by-word time / masked-LM forwards alone (`speedup_ceiling_equal_precision`); the padding share
of the batched forwards says how much of that time dynamic padding wastes. When the ceiling is below
the target, only fewer FLOPs per forward (shorter inputs, a smaller masked LM) or a lower precision
can reach it.

A lower precision is measured apart, never mixed into the equal-precision speed-up: the batched path
with the masked LM under bf16 autocast (`torch.autocast("cpu", torch.bfloat16)`; hardware bf16 when
the CPU has avx512_bf16 / amx_bf16, emulated and slower otherwise, recorded in `bf16.hardware`), its
gain over batched fp32, its own bound (the masked-LM forwards alone in bf16), and its agreement with
fp32: the share of masked variants whose top-K id sets are identical, and the share of
masked-LM words whose candidate sets (after the candidate filter) are identical.

The speed-up depends on the CPU (8.4x on a 2-core AMD EPYC with AVX2, about 10x on a 2-core Intel Xeon
with AVX-512 and AMX), so the file keeps the headline figures of every other CPU it was run on
(`other_machines`): a run carries them, and the replaced file's own, from the file it replaces, one entry
per CPU model and instruction set, the CPU measured now left out.

Run it on an idle machine (timings on a shared one are only as good as its load):
`python -m benchmarks --only augmentation` (about 50 s with 5 repeats on the 2-core Intel machine, where bf16
runs in hardware; about 3 minutes on the 2-core AMD one, where it is emulated).
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import time
from pathlib import Path

import torch

from tinybert_ref.augment.algorithm import augment, candidate_sets, masked_input, split_sentences, word_route
from tinybert_ref.augment.mlm import masked_topk
from tinybert_ref.augment.reference import augment_word_by_word, candidate_sets_word_by_word

from . import RESULTS_DIR, write_result
from .machine import describe, load_average, present_flags

__all__ = ["SETTINGS", "TINY_SETTINGS", "run", "masked_variants", "compare_candidates", "topk_agreement",
           "padding_share", "bound_statement", "other_machines", "other_machines_statement"]

log = logging.getLogger(__name__)

SETTINGS = {"sentences": 64, "k": 15, "n_copies": 20, "p": 0.4, "seed": 0, "batch_size": 64, "repeats": 5,
            "glove_limit": None, "mlm": "minilm encoder + new tied MLM head (untrained)"}
TINY_SETTINGS = {"sentences": 6, "k": 5, "n_copies": 2, "p": 0.4, "seed": 0, "batch_size": 4, "repeats": 1,
                 "glove_limit": 20_000, "mlm": "random 1-layer BertForMaskedLM, hidden 32"}
TARGET_SPEEDUP = 10.0


def _headlines(n: int) -> list[str]:
    from tinybert_ref.data import load_task

    _, data = load_task("bbc")
    return list(data["train"]["text"][:n])


def _masked_lm(tiny: bool):
    """(masked LM, tokenizer): MiniLM + new tied head, or a tiny random one with the MiniLM tokenizer, both seeded."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from tinybert_ref.augment.mlm import build_mlm_from_encoder
    from tinybert_ref.models import load_teacher

    if not tiny:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the new head's initialisation: the same head, and candidates, in every run
            model, tokenizer = build_mlm_from_encoder("minilm")
        return model.eval(), tokenizer
    _, tokenizer = load_teacher("minilm", tokenizer_only=True)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=64, initializer_range=0.2)  # wide logits: no near-ties in the top K
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return BertForMaskedLM(config).eval(), tokenizer


def masked_variants(sentences, mlm, tokenizer) -> tuple[list, list[str]]:
    """The masked inputs the batched path sends to the masked LM (one per single-piece word), and the
    multi-piece words it sends to GloVe, built with the rules `algorithm.candidate_sets` uses."""
    words, pieces = split_sentences(sentences, tokenizer)
    variants, glove_words = [], set()
    for sentence_words, sentence_pieces in zip(words, pieces, strict=True):
        for position, (word, word_pieces) in enumerate(zip(sentence_words, sentence_pieces, strict=True)):
            route = word_route(word, word_pieces)
            if route == "mlm":
                variant = masked_input(sentence_pieces, position, tokenizer, True, mlm.config.max_position_embeddings)
                if variant is not None:
                    variants.append(variant)
            elif route == "glove":
                glove_words.add(word)
    return variants, sorted(glove_words)


def compare_candidates(batched, word_by_word) -> dict:
    """Exact equality of two candidate-set lists, and the share of words whose candidates agree
    exactly (same order) and as sets (a near-tie in the masked LM's logits can swap two neighbours);
    the first five words that differ, with both candidate lists, so a difference can be looked at."""
    pairs = [(a, b) for sa, sb in zip(batched, word_by_word, strict=True) for a, b in zip(sa, sb, strict=True)]
    same = sum(a == b for a, b in pairs)
    same_set = sum(a.word == b.word and set(a.candidates) == set(b.candidates) for a, b in pairs)
    differing = [{"word": a.word, "batched": list(a.candidates), "word_by_word": list(b.candidates)}
                 for a, b in pairs if a != b][:5]
    return {"candidates_equal": batched == word_by_word, "words": len(pairs),
            "words_equal": same, "words_equal_as_sets": same_set, "words_differing": differing}


def topk_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Share of rows of two (N, K) top-K id tensors whose K ids are the same set."""
    if len(a) == 0:
        return 1.0
    return sum(set(x) == set(y) for x, y in zip(a.tolist(), b.tolist(), strict=True)) / len(a)


def mlm_candidate_agreement(a, b) -> dict:
    """Words routed to the masked LM (in either list) whose candidate sets are identical, as sets."""
    pairs = [(x, y) for sa, sb in zip(a, b, strict=True) for x, y in zip(sa, sb, strict=True)
             if "mlm" in (x.source, y.source)]
    same = sum(set(x.candidates) == set(y.candidates) for x, y in pairs)
    return {"mlm_words": len(pairs), "identical_sets": same, "share": same / len(pairs) if pairs else 1.0}


def padding_share(variants, batch_size: int) -> float:
    """Share of the batched forwards' token positions that are padding (`masked_topk` sorts the variants
    by length and pads each batch to its longest)."""
    lengths = sorted(len(ids) for ids, _, _ in variants)
    padded = sum(max(chunk) * len(chunk) for chunk in (lengths[i:i + batch_size]
                                                       for i in range(0, len(lengths), batch_size)))
    return 1 - sum(lengths) / padded if padded else 0.0


@contextlib.contextmanager
def _bf16():
    """The masked LM under bf16 autocast on the CPU (Algorithm 1's other work does not use torch)."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yield


def bound_statement(r: dict) -> str:
    """One paragraph: the speed-up at equal precision, the bound that limits it, the bf16 gain apart."""
    med, bound, b16 = r["median_s"], r["bound"], r["bf16"]
    verdict = ("the target is within the bound" if bound["target_reachable_at_equal_precision"] else
               f"{r['target_speedup']:.0f}x is out of reach at equal precision: the masked-LM forwards bound it, "
               "and only fewer FLOPs per forward (shorter inputs, a smaller masked LM) or a lower precision can "
               "move it")
    rounds = r["speedup_per_round"]
    return (f"Batched Algorithm 1 is {r['speedup']:.1f}x word by word (per interleaved round "
            f"{min(rounds):.1f}-{max(rounds):.1f}x), both in fp32 (target "
            f"{r['target_speedup']:.0f}x). Bound: its masked-LM forwards alone take {bound['mlm_forwards_s']:.3g} s "
            f"of its {med['batched']:.3g} s ({bound['batched_over_mlm_forwards']:.2f}x the bound; padding "
            f"{bound['padding_share']:.0%} of the batched tokens), so at equal precision the speed-up cannot "
            f"exceed {med['word_by_word']:.3g} s / {bound['mlm_forwards_s']:.3g} s = "
            f"{bound['speedup_ceiling_equal_precision']:.1f}x: {verdict}. Apart, at lower precision: with the "
            f"masked LM under bf16 autocast ({'hardware' if b16['hardware'] else 'emulated, no bf16 instructions'}) "
            f"the batched path takes {b16['median_s']:.3g} s, {b16['gain_over_batched_fp32']:.2f}x batched fp32 and "
            f"{b16['speedup_vs_word_by_word_fp32']:.1f}x word by word in fp32 (its bound: forwards alone "
            f"{b16['mlm_forwards_s']:.3g} s); {b16['topk_sets_identical_share']:.1%} of the top-{r['settings']['k']} "
            f"sets are identical to fp32 ({b16['candidates']['share']:.1%} of the masked-LM words' candidate sets).")


def _cpu_key(machine: dict) -> tuple:
    """What makes two machines the same CPU for this benchmark: its model name and instruction-set flags."""
    return machine.get("cpu"), tuple(sorted(present_flags(machine)))


def _summary(r: dict) -> dict:
    """The figures of one full-size result worth keeping once another CPU's result replaces its file."""
    b16 = r["bf16"]
    return {"machine": {key: r["machine"].get(key) for key in ("cpu", "cpu_flags", "logical_cpus", "time_utc", "commit")},
            "speedup": r["speedup"], "speedup_per_round": r["speedup_per_round"], "median_s": r["median_s"],
            "speedup_ceiling_equal_precision": r["bound"]["speedup_ceiling_equal_precision"],
            "bf16": {"hardware": b16["hardware"], "gain_over_batched_fp32": b16["gain_over_batched_fp32"],
                     "topk_sets_identical_share": b16["topk_sets_identical_share"]}}


def other_machines(previous: dict | None, machine: dict) -> list[dict]:
    """The same benchmark on other CPUs: the file this run replaces (and what that file carried), one
    entry per CPU, the latest kept; none from a --tiny result, nor for the CPU measured now, whose new
    figures replace them. So a speed-up measured on one CPU is not silently lost when another measures."""
    if previous is None or previous.get("tiny"):
        return []
    by_cpu = {_cpu_key(m["machine"]): m for m in [*previous.get("other_machines", []), _summary(previous)]}
    by_cpu.pop(_cpu_key(machine), None)
    return list(by_cpu.values())


def other_machines_statement(machines: list[dict]) -> str:
    """One sentence per other CPU: its equal-precision speed-up, per-round range, ceiling and bf16 gain."""
    lines = []
    for m in machines:
        flags = "AVX-512" if "avx512f" in present_flags(m["machine"]) else "AVX2, no AVX-512"
        rounds, b16 = m["speedup_per_round"], m["bf16"]
        lines.append(f"On {m['machine']['cpu']} ({m['machine']['logical_cpus']} cores, {flags}; "
                     f"{m['machine']['time_utc'][:10]}, commit "
                     f"{m['machine']['commit']}): {m['speedup']:.1f}x (per round {min(rounds):.1f}-{max(rounds):.1f}x), "
                     f"ceiling {m['speedup_ceiling_equal_precision']:.1f}x; bf16 "
                     f"{'hardware' if b16['hardware'] else 'emulated'} {b16['gain_over_batched_fp32']:.2f}x batched "
                     f"fp32, {b16['topk_sets_identical_share']:.1%} of top-K sets identical.")
    return " ".join(lines)


def _timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def run(out_dir: str | Path = RESULTS_DIR, tiny: bool = False) -> dict:
    """Time both implementations and the bound; write out_dir/augmentation.json and return it."""
    from tinybert_ref.augment.wordvectors import WordVectors

    settings = TINY_SETTINGS if tiny else SETTINGS
    machine, start = describe(), time.perf_counter()
    sentences = _headlines(settings["sentences"])
    mlm, tokenizer = _masked_lm(tiny)
    vectors = WordVectors.from_glove_package(limit=settings["glove_limit"])
    parts = {"mlm": mlm, "tokenizer": tokenizer, "word_vectors": vectors, "k": settings["k"], "progress": False}
    sampling = {"p": settings["p"], "n_copies": settings["n_copies"], "seed": settings["seed"]}

    # first round: candidates of both paths (also warms the GloVe unit vectors and the allocator)
    first_batched_s, batched_sets = _timed(candidate_sets, sentences, batch_size=settings["batch_size"], **parts)
    first_wbw_s, wbw_sets = _timed(candidate_sets_word_by_word, sentences, **parts)
    equality = compare_candidates(batched_sets, wbw_sets)
    with _bf16():  # the lower precision, apart: its candidates (and a warm-up of the bf16 kernels)
        bf16_sets = candidate_sets(sentences, batch_size=settings["batch_size"], **parts)

    # timed rounds, interleaved: the whole Algorithm 1 (candidates + N_a copies)
    times = {"batched": [], "word_by_word": [], "batched_bf16": []}
    for _ in range(settings["repeats"]):
        seconds, batched_out = _timed(augment, sentences, batch_size=settings["batch_size"], **parts, **sampling)
        times["batched"].append(seconds)
        seconds, wbw_out = _timed(augment_word_by_word, sentences, **parts, **sampling)
        times["word_by_word"].append(seconds)
        with _bf16():
            seconds, _ = _timed(augment, sentences, batch_size=settings["batch_size"], **parts, **sampling)
        times["batched_bf16"].append(seconds)

    # the bounds: masked-LM forwards alone over the same masked variants (fp32, bf16), GloVe search alone
    variants, glove_words = masked_variants(sentences, mlm, tokenizer)
    mlm_alone, mlm_alone_bf16 = [], []
    for _ in range(settings["repeats"]):
        seconds, top_fp32 = _timed(masked_topk, mlm, variants, settings["k"], batch_size=settings["batch_size"])
        mlm_alone.append(seconds)
        with _bf16():
            seconds, top_bf16 = _timed(masked_topk, mlm, variants, settings["k"], batch_size=settings["batch_size"])
        mlm_alone_bf16.append(seconds)
    glove_alone = [_timed(vectors.neighbours_many, glove_words, settings["k"])[0] for _ in range(settings["repeats"])]

    n = len(sentences)
    median = {name: statistics.median(values) for name, values in times.items() if name != "batched_bf16"}
    bf16_median, mlm_s, mlm_bf16_s = (statistics.median(times["batched_bf16"]), statistics.median(mlm_alone),
                                      statistics.median(mlm_alone_bf16))
    flags = machine.get("cpu_flags", {})
    result = {
        "benchmark": "augmentation",
        "tiny": tiny,
        "settings": {**settings, "glove_words_loaded": len(vectors), "pair_with_original": True,
                     "threads": machine["torch_threads"]},
        "sentences": n,
        "masked_variants": len(variants),
        "glove_words": len(glove_words),
        "augmented_examples": len(batched_out),
        "first_round_s": {"batched_candidates": first_batched_s, "word_by_word_candidates": first_wbw_s},
        "times_s": times,
        "median_s": median,
        "sentences_per_s": {name: n / seconds for name, seconds in median.items()},
        "precision": "fp32 (both paths)",
        "speedup": median["word_by_word"] / median["batched"],
        # each round times both paths back to back: its ratio is spared the drifts of a shared machine's speed
        "speedup_per_round": [w / b for b, w in zip(times["batched"], times["word_by_word"], strict=True)],
        "target_speedup": TARGET_SPEEDUP,
        "bound_s": {"mlm_forwards_alone": mlm_s,
                    "glove_search_alone": statistics.median(glove_alone),
                    "mlm_forwards_all": mlm_alone, "glove_search_all": glove_alone},
        "bound": {"mlm_forwards_s": mlm_s,
                  "batched_over_mlm_forwards": median["batched"] / mlm_s,
                  "speedup_ceiling_equal_precision": median["word_by_word"] / mlm_s,
                  "target_reachable_at_equal_precision": median["word_by_word"] / mlm_s >= TARGET_SPEEDUP,
                  "padding_share": padding_share(variants, settings["batch_size"]),
                  "what": "the batched path's masked-LM forwards alone over the same masked variants; the "
                          "equal-precision speed-up cannot exceed word-by-word time / this"},
        "bf16": {"autocast": "torch.autocast('cpu', dtype=torch.bfloat16) around the masked LM",
                 "hardware": bool(flags.get("avx512_bf16") or flags.get("amx_bf16")),
                 "times_s": times["batched_bf16"], "median_s": bf16_median,
                 "sentences_per_s": n / bf16_median,
                 "gain_over_batched_fp32": median["batched"] / bf16_median,
                 "speedup_vs_word_by_word_fp32": median["word_by_word"] / bf16_median,
                 "mlm_forwards_s": mlm_bf16_s, "mlm_forwards_all": mlm_alone_bf16,
                 "speedup_ceiling_vs_word_by_word_fp32": median["word_by_word"] / mlm_bf16_s,
                 "topk_sets_identical_share": topk_agreement(top_fp32, top_bf16),
                 "candidates": mlm_candidate_agreement(batched_sets, bf16_sets)},
        **equality,
        "outputs_equal": batched_out == wbw_out,
        "machine": machine,
        "load_average_end": load_average(),
        "wall_s": time.perf_counter() - start,
    }
    previous = Path(out_dir) / "augmentation.json"
    result["other_machines"] = [] if tiny else other_machines(
        json.loads(previous.read_text()) if previous.is_file() else None, machine)
    result["statement"] = bound_statement(result)
    log.info("%s", result["statement"])
    write_result("augmentation", result, out_dir)
    return result
