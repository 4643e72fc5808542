"""Corpus preparation for general distillation: peak memory when the corpus grows 10x, and tokens/s.

The benchmark writes two corpora itself into a temporary folder (deleted afterwards): 20 MB and 200 MB
of text by default (`tiny`: 0.2 and 2 MB), each a folder of .txt files of at most 10 MB, made of
"paragraph" lines of 20-200 words drawn with a Zipf-like law from the whole-word entries of the BERT
vocabulary. Each corpus is then prepared in a fresh Python process exactly as general distillation
prepares `--corpus FOLDER`:

    load_text_corpus(folder)            `datasets` text builder -> Arrow files, read memory-mapped
    pack_corpus(corpus, tokenizer, 128, num_proc=N)
                                        tokenised in N worker processes, packed into 128-token blocks

Measured per corpus: wall time of both steps, packed tokens per second, MB of text per second, and the
memory of the preparing process ("main"), of its largest tokenising worker and of the whole process
tree, sampled every 20 ms from outside (/proc/PID/status). Two figures each: the resident set (RSS),
which also counts the pages of the memory-mapped Arrow files the process has read (file-backed pages
of the page cache, shared and dropped by the kernel under pressure: they grow with the corpus by
design), and its anonymous part (RssAnon), the memory the process really holds. "ready" is the main
process after its imports and the tokenizer, before the corpus; the tree sums count memory shared by
forked workers once per process (an upper bound). Beside it, the bound it beats: the token ids alone
held in RAM as int64 (8 bytes per token; Python lists take ~4x more).

Flat memory means: the 10x corpus's anonymous peak is close to the small one's, while the Arrow files on
disk (also reported) grow 10x.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from . import RESULTS_DIR, ROOT, write_result
from .machine import describe, load_average

__all__ = ["SETTINGS", "TINY_SETTINGS", "make_corpus", "prepare", "run"]

log = logging.getLogger(__name__)

SETTINGS = {"sizes_mb": (20, 200), "file_mb": 10, "seq_len": 128, "num_proc": 2, "sample_by": "line",
            "words_per_line": (20, 200), "zipf_exponent": 1.1, "seed": 0, "sampling_interval_s": 0.02}
TINY_SETTINGS = {**SETTINGS, "sizes_mb": (0.2, 2), "file_mb": 1, "num_proc": 1}
MIB = 2**20


def _words(tokenizer) -> list[str]:
    """Whole-word, alphabetic entries of the vocabulary (no ## pieces, no [unused] or punctuation)."""
    return sorted(w for w in tokenizer.get_vocab() if w.isalpha() and w.isascii() and len(w) > 1)


def make_corpus(folder: Path, size_mb: float, words: list[str], settings: dict) -> dict:
    """Write about `size_mb` MB of text into `folder` as .txt files of at most file_mb MB each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(settings["seed"])
    vocab = np.array(words, dtype=object)
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** settings["zipf_exponent"]
    weights /= weights.sum()
    low, high = settings["words_per_line"]
    target, file_limit = int(size_mb * 1e6), int(settings["file_mb"] * 1e6)
    written, files, lines = 0, 0, 0
    while written < target:
        path = folder / f"part-{files:04d}.txt"
        size = 0
        with path.open("w", encoding="utf-8") as handle:
            while size < min(file_limit, target - written):
                left = min(file_limit - size, target - written - size)
                chunk_words = rng.choice(vocab, size=int(min(200_000, max(1_000, left / 7))), p=weights)
                cuts = np.cumsum(rng.integers(low, high + 1, size=len(chunk_words) // low))
                cuts = cuts[cuts < len(chunk_words)]
                text = "\n".join(" ".join(part) for part in np.split(chunk_words, cuts)) + "\n"
                handle.write(text)
                size += len(text.encode("utf-8"))
                lines += len(cuts) + 1
        written += size
        files += 1
    return {"text_bytes": written, "files": files, "lines": lines}


def prepare(folder: Path, cache: Path, seq_len: int, num_proc: int) -> dict:
    """Load and pack one corpus as general distillation does (runs in the measured child process)."""
    from transformers import AutoTokenizer

    from tinybert_ref.assets import minilm_path
    from tinybert_ref.data.corpus import load_text_corpus, pack_corpus
    from tinybert_ref.runtime import configure_logging

    configure_logging(logging.WARNING, quiet_libraries=True)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    ready = _status(os.getpid())
    start = time.perf_counter()
    corpus = load_text_corpus(folder, cache_dir=cache)
    loaded = time.perf_counter()
    blocks = pack_corpus(corpus, tokenizer, seq_len, num_proc=num_proc)
    packed = time.perf_counter()
    return {"rows": len(corpus), "blocks": len(blocks), "tokens": len(blocks) * seq_len,
            "load_s": loaded - start, "pack_s": packed - loaded, "prep_s": packed - start,
            "rss_ready_mib": ready.get("VmRSS", 0) / MIB, "anon_ready_mib": ready.get("RssAnon", 0) / MIB,
            "packed_in_memory": not blocks.cache_files,
            "arrow_bytes": sum(f.stat().st_size for f in cache.rglob("*.arrow"))}


def _status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon and RssFile of a process in bytes, from /proc/PID/status (empty if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "RssAnon", "RssFile")))
    except OSError:
        return {}
    return {key: int(value.split()[0]) * 1024 for key, value in fields.items()}


class _TreeSampler:
    """Peak memory of a process and its descendants: resident set (RSS) and its anonymous part.

    RSS counts the pages of memory-mapped Arrow files the process has read (file-backed, shared with the
    page cache, dropped by the kernel under pressure); RssAnon is the memory the process really holds."""

    KEYS = ("main_rss", "main_anon", "main_file", "worker_rss", "worker_anon", "tree_rss", "tree_anon")

    def __init__(self, pid: int, interval: float):
        import psutil

        self.process, self.interval = psutil.Process(pid), interval
        self.peak = dict.fromkeys(self.KEYS, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        import psutil

        while not self._stop.is_set():
            try:
                children = [_status(c.pid) for c in self.process.children(recursive=True)]
            except psutil.Error:
                children = []
            main = _status(self.process.pid)
            children = [c for c in children if c]
            sample = {"main_rss": main.get("VmRSS", 0), "main_anon": main.get("RssAnon", 0),
                      "main_file": main.get("RssFile", 0),
                      "worker_rss": max([c.get("VmRSS", 0) for c in children], default=0),
                      "worker_anon": max([c.get("RssAnon", 0) for c in children], default=0),
                      "tree_rss": main.get("VmRSS", 0) + sum(c.get("VmRSS", 0) for c in children),
                      "tree_anon": main.get("RssAnon", 0) + sum(c.get("RssAnon", 0) for c in children)}
            self.peak = {key: max(self.peak[key], sample[key]) for key in self.KEYS}
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join()


def _measure(folder: Path, cache: Path, settings: dict) -> dict:
    """Prepare `folder` in a fresh process, sampling its memory from here."""
    command = [sys.executable, "-m", "benchmarks.corpus_memory", "--child", str(folder), str(cache),
               str(settings["seq_len"]), str(settings["num_proc"])]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = _TreeSampler(child.pid, settings["sampling_interval_s"])
    stdout, stderr = child.communicate()
    sampler.stop()
    if child.returncode != 0:
        raise RuntimeError(f"corpus preparation failed ({child.returncode}): {stderr[-2000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    peak = {f"peak_{key}_mib": value / MIB for key, value in sampler.peak.items()}
    return {**result, **peak, "peak_rss_mib": peak["peak_main_rss_mib"],
            "prep_anon_mib": peak["peak_main_anon_mib"] - result["anon_ready_mib"]}


def run(out_dir: str | Path = RESULTS_DIR, tiny: bool = False) -> dict:
    """Make each corpus, prepare it in a fresh process, write out_dir/corpus_memory.json and return it."""
    from transformers import AutoTokenizer

    from tinybert_ref.assets import minilm_path

    settings = TINY_SETTINGS if tiny else SETTINGS
    machine, start = describe(), time.perf_counter()
    words = _words(AutoTokenizer.from_pretrained(minilm_path()))
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinybert-corpus-") as tmp:
        for size_mb in settings["sizes_mb"]:
            folder, cache = Path(tmp) / f"text-{size_mb}", Path(tmp) / f"cache-{size_mb}"
            began = time.perf_counter()
            made = make_corpus(folder, size_mb, words, settings)
            log.info("corpus of %.1f MB written in %.0f s; preparing it", made["text_bytes"] / 1e6,
                     time.perf_counter() - began)
            row = {"target_mb": size_mb, **made, **_measure(folder, cache, settings)}
            row["tokens_per_s"] = row["tokens"] / row["prep_s"]
            row["text_mb_per_s"] = row["text_bytes"] / 1e6 / row["prep_s"]
            row["token_ids_int64_mib"] = row["tokens"] * 8 / MIB
            rows.append(row)
            log.info("%s MB: peak RSS %.0f MiB, anonymous %.0f MiB (ready %.0f), %.0f tokens/s", size_mb,
                     row["peak_rss_mib"], row["peak_main_anon_mib"], row["anon_ready_mib"], row["tokens_per_s"])
            shutil.rmtree(folder)
            shutil.rmtree(cache)
    small, large = rows[0], rows[-1]
    result = {
        "benchmark": "corpus_memory",
        "tiny": tiny,
        "settings": {**settings, "sizes_mb": list(settings["sizes_mb"]),
                     "words_per_line": list(settings["words_per_line"]), "vocabulary_words": len(words),
                     "tokenizer": "MiniLM (BERT uncased WordPiece, fast)", "cpus": os.cpu_count()},
        "rows": rows,
        "growth": {"text": large["text_bytes"] / small["text_bytes"], "tokens": large["tokens"] / small["tokens"],
                   "arrow_bytes": large["arrow_bytes"] / max(small["arrow_bytes"], 1),
                   "peak_rss": large["peak_rss_mib"] / small["peak_rss_mib"],
                   "peak_anon": large["peak_main_anon_mib"] / small["peak_main_anon_mib"],
                   "peak_tree_anon": large["peak_tree_anon_mib"] / small["peak_tree_anon_mib"]},
        "machine": machine,
        "load_average_end": load_average(),
        "wall_s": time.perf_counter() - start,
    }
    write_result("corpus_memory", result, out_dir)
    return result


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("cache", type=Path)
    parser.add_argument("seq_len", type=int)
    parser.add_argument("num_proc", type=int)
    args = parser.parse_args(argv)
    print(json.dumps(prepare(args.folder, args.cache, args.seq_len, args.num_proc)), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        tiny = "--tiny" in sys.argv[1:]
        out = tempfile.mkdtemp(prefix="tinybert-bench-") if tiny else RESULTS_DIR
        print(json.dumps(run(out, tiny=tiny)["growth"]))
