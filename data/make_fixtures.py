"""Regenerate the small test fixtures under data/fixtures/ (deterministic; the outputs are committed).

    python data/make_fixtures.py

Writes GLUE-format folders (SST-2, CoLA without header, MRPC, STS-B, RTE) with made-up sentences, a
CSV, a TSV and a JSONL table, a sentence-pair CSV, a plain-text corpus folder, and glove_tiny.50d.txt: 200 rows copied from
the packaged GloVe 6B 50-d (the fixtures' own words first, then the most frequent words). Nothing is
downloaded; the same run always writes the same bytes.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent / "fixtures"
log = logging.getLogger("make_fixtures")

SUBJECTS = ["the film", "this book", "the new phone", "the match", "the concert", "her speech",
            "the hotel", "his album", "the game", "the plan"]
GOOD = ["wonderful", "brilliant", "moving", "great", "superb", "charming"]
BAD = ["dull", "awful", "boring", "poor", "terrible", "clumsy"]
TOPICS = {"sports": ["team", "coach", "goal", "league", "match"],
          "tech": ["phone", "software", "internet", "chip", "computer"],
          "politics": ["minister", "election", "party", "vote", "government"]}
CORPUS = {
    "markets.txt": ["Shares rose in early trading as investors welcomed the news from the central bank.",
                    "The bank said growth would slow next year, but prices should stay stable.",
                    "Analysts expect the company to report higher profits for the third quarter."],
    "football.txt": ["The coach praised his team after a late goal won the match.",
                     "Fans travelled across the country to watch the final of the league.",
                     "The captain said the players would rest before the next game."],
    "gadgets.txt": ["A new phone with a faster chip goes on sale next month.",
                    "The software update fixes a security problem found by researchers.",
                    "More people now watch television over the internet than by cable."],
}


def _write(path: Path, rows, header=None, bom=False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] if header else []
    lines += ["\t".join(str(x) for x in row) for row in rows]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")


def _review(rng: random.Random):
    label = rng.randint(0, 1)
    word = rng.choice(GOOD if label else BAD)
    return f"{rng.choice(SUBJECTS)} is {word}", label


def _pair(rng: random.Random):
    subject, word = rng.choice(SUBJECTS), rng.choice(GOOD + BAD)
    same = rng.randint(0, 1)
    other = word if same else rng.choice([w for w in GOOD + BAD if w != word])
    return f"{subject} was {word} .", f"{subject} was {other} , people said .", same


def write_glue(rng: random.Random) -> None:
    glue = ROOT / "glue"
    for split, n in (("train", 40), ("dev", 16)):
        _write(glue / "SST-2" / f"{split}.tsv", [_review(rng) for _ in range(n)], ["sentence", "label"])
        cola = []
        for _ in range(n * 3 // 4):
            sentence, label = _review(rng)
            words = sentence.split() if label else sentence.split()[::-1]  # scrambled = unacceptable
            cola.append(("fx01", label, "" if label else "*", " ".join(words) + " ."))
        _write(glue / "CoLA" / f"{split}.tsv", cola)
        mrpc = [(s, 1000 + i, 2000 + i, a, b) for i, (a, b, s) in enumerate(_pair(rng) for _ in range(n * 3 // 4))]
        _write(glue / "MRPC" / f"{split}.tsv", mrpc, ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
               bom=split == "train")
        stsb = [(i, "main-captions", "MSRvid", "2012test", i, "none", "none", a, b, f"{rng.uniform(0, 5):.3f}")
                for i, (a, b, _) in enumerate(_pair(rng) for _ in range(n * 3 // 4))]
        _write(glue / "STS-B" / f"{split}.tsv", stsb, ["index", "genre", "filename", "year", "old_index",
                                                         "source1", "source2", "sentence1", "sentence2", "score"])
        rte = [(i, a, b, "entailment" if s else "not_entailment")
               for i, (a, b, s) in enumerate(_pair(rng) for _ in range(n * 5 // 8))]
        _write(glue / "RTE" / f"{split}.tsv", rte, ["index", "sentence1", "sentence2", "label"])
    for task in ("SST-2", "CoLA"):  # GLUE test files have no labels (and are ignored by the loader)
        _write(glue / task / "test.tsv", [(i, _review(rng)[0]) for i in range(8)], ["index", "sentence"])


def _headline(rng: random.Random):
    topic = rng.choice(sorted(TOPICS))
    words = rng.sample(TOPICS[topic], 2)
    return f"{words[0]} and {words[1]} make the news", topic


def write_tables(rng: random.Random) -> None:
    rows = [_headline(rng) for _ in range(36)]
    lines = ["text,label"] + [f'"{text}",{label}' for text, label in rows]
    (ROOT / "table.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = [_pair(rng) for _ in range(30)]
    _write(ROOT / "table.tsv", pairs, ["text", "text_pair", "label"])
    splits = ["train"] * 24 + ["validation"] * 6 + ["test"] * 6
    with open(ROOT / "table.jsonl", "w", encoding="utf-8") as out:
        for split in splits:
            text, topic = _headline(rng)
            out.write(json.dumps({"text": text, "label": topic, "split": split}) + "\n")


def write_pair_table() -> None:
    """pairs.csv: a sentence-pair table whose text columns are not called text / text_pair (the command
    line names them with --text-columns sentence1,sentence2). Written after glove_tiny (its own RNG, only
    words the other fixtures hold), so the other fixtures stay byte for byte the same."""
    rng = random.Random(1)
    rows = [_pair(rng) for _ in range(40)]
    lines = ["sentence1,sentence2,label"] + [f'"{a}","{b}",{label}' for a, b, label in rows]
    (ROOT / "pairs.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_corpus() -> None:
    for name, lines in CORPUS.items():
        path = ROOT / "corpus" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _fixture_words() -> list[str]:
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(ROOT.rglob("*")) if p.is_file())
    return sorted(set(re.findall(r"[a-z]+", text.lower())))


def write_glove(size: int = 200) -> None:
    """The first `size` of (fixture words, then the most frequent alphabetic GloVe words), real vectors."""
    import pandas as pd

    from tinybert_ref.assets import glove_files

    matrix_path, index_path = glove_files()
    words = pd.read_parquet(index_path)["index"].tolist()
    row = {w: i for i, w in enumerate(words)}
    frequent = [w for w in words[:2000] if isinstance(w, str) and w.isalpha()]
    chosen = list(dict.fromkeys([w for w in _fixture_words() if w in row] + frequent))[:size]
    matrix = np.load(matrix_path, mmap_mode="r")
    lines = [w + " " + " ".join(f"{v:.5g}" for v in matrix[row[w]]) for w in chosen]
    (ROOT / "glove_tiny.50d.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if ROOT.exists():
        shutil.rmtree(ROOT)
    ROOT.mkdir(parents=True)
    rng = random.Random(0)
    write_glue(rng)
    write_tables(rng)
    write_corpus()
    write_glove()
    write_pair_table()
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    log.info("wrote %d files, %.1f KB, under %s", len(list(ROOT.rglob("*.*"))), total / 1024, ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
