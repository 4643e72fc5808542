"""Tasks: the BBC headline split and its manifest, GLUE folders and the hub path, tables, every error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinybert_ref.assets import BBC_TOPICS
from tinybert_ref.data import bbc
from tinybert_ref.data.glue import GLUE_TASKS, glue_task_name
from tinybert_ref.data.tasks import (
    DataError,
    TaskInfo,
    encode_labels,
    load_glue,
    load_table,
    load_task,
    split_indices,
    task_report,
)

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"
GLUE = FIXTURES / "glue"


def _norm(text):
    return " ".join(text.split()).lower()


@pytest.fixture(scope="module")
def bbc_task():
    return load_task("bbc")


# ------------------------------------------------------------------------------------------ BBC
def test_bbc_split_sizes_and_label_counts(bbc_task):
    info, data = bbc_task
    assert info.label_names == BBC_TOPICS and info.num_labels == 5 and info.metric == "accuracy"
    assert {s: len(data[s]) for s in data} == {"train": 1460, "dev": 200, "test": 400}
    assert data["train"].column_names == ["text", "id", "label"]
    report = task_report(bbc_task)
    everything = {t: sum(report["labels"][s][t] for s in data) for t in BBC_TOPICS}
    for split, size in (("test", 400), ("dev", 200)):  # stratified: each class within one of its share
        for topic in BBC_TOPICS:
            share = size * everything[topic] / 2060
            assert abs(report["labels"][split][topic] - share) < 1


def test_bbc_split_matches_committed_manifest_and_is_reproducible(bbc_task):
    _, data = bbc_task
    manifest = json.loads(bbc.MANIFEST_PATH.read_text())
    for split in ("train", "dev", "test"):
        assert data[split]["id"] == manifest["splits"][split]
    rebuilt = bbc.make_manifest(seed=0)
    assert rebuilt["splits"] == manifest["splits"] and rebuilt["sha256"] == manifest["sha256"]
    assert load_task("bbc", seed=0).data["test"]["id"] == data["test"]["id"]


def test_bbc_no_headline_or_article_in_two_splits(bbc_task):
    _, data = bbc_task
    heads = {s: {_norm(t) for t in data[s]["text"]} for s in data}
    ids = {s: set(data[s]["id"]) for s in data}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not heads[a] & heads[b] and not ids[a] & ids[b]
    bodies = {a.id: _norm(a.body) for a in bbc.read_articles()}
    body_sets = {s: {bodies[i] for i in data[s]["id"]} for s in data}
    assert not body_sets["test"] & (body_sets["train"] | body_sets["dev"])


def test_bbc_other_seed_is_deterministic_and_differs(bbc_task):
    first, second = bbc.bbc_splits(seed=1)[0], bbc.bbc_splits(seed=1)[0]
    assert first == second and first["test"] != bbc_task.data["test"]["id"]
    assert len(first["test"]) == 400 and len(first["dev"]) == 200


def test_bbc_report_counts_duplicates_and_undecodable_file():
    report = bbc.bbc_report()
    assert report["articles"] == 2225 and report["undecodable_files"] == ["sports/199"]
    assert report["repeated_headlines"] == 129 and report["duplicates_removed"] == 165
    assert report["conflicting_removed"] == 0 and report["sizes"]["test"] == 400


def test_deduplicate_groups_and_drops_conflicts():
    articles = (bbc.Article("a/1", "a", "Same Title", "body one"),
                bbc.Article("a/2", "a", "same  title", "body two"),
                bbc.Article("a/3", "a", "Edited title", "body one"),
                bbc.Article("a/4", "a", "Clash", "x"), bbc.Article("b/1", "b", "clash", "y"),
                bbc.Article("b/2", "b", "Alone", "z"))
    out = bbc.deduplicate(articles)
    assert [a.id for a in out["kept"]] == ["a/1", "b/2"]
    assert out["members"]["a/1"] == ["a/1", "a/2", "a/3"]
    assert out["conflicting"] == ["a/4", "b/1"] and out["duplicates"] == ["a/2", "a/3"]


def test_bbc_manifest_mismatch_and_missing_say_rerun_prepare(tmp_path):
    manifest = json.loads(bbc.MANIFEST_PATH.read_text())
    manifest["splits"]["test"][0], manifest["splits"]["train"][0] = (manifest["splits"]["train"][0],
                                                                     manifest["splits"]["test"][0])
    tampered = tmp_path / "m.json"
    tampered.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="no longer matches.*prepare_bbc.py"):
        bbc.load_bbc_headlines(manifest_path=tampered)
    with pytest.raises(DataError, match="missing.*prepare_bbc.py"):
        bbc.load_bbc_headlines(manifest_path=tmp_path / "none.json")


# ----------------------------------------------------------------------------------------- GLUE
@pytest.mark.parametrize("folder, name, pair, metric", [
    ("SST-2", "sst2", False, "accuracy"), ("CoLA", "cola", False, "matthews"),
    ("MRPC", "mrpc", True, "f1"), ("STS-B", "stsb", True, "spearman"), ("RTE", "rte", True, "accuracy")])
def test_glue_folder_layouts(folder, name, pair, metric):
    info, data = load_task(GLUE / folder)
    assert info.name == name and info.metric == metric and info.is_pair == pair
    assert set(data) == {"train", "dev", "test"} and all(len(data[s]) for s in data)
    lines = (GLUE / folder / "dev.tsv").read_text(encoding="utf-8-sig").strip().split("\n")
    assert len(data["test"]) == len(lines) - (folder != "CoLA")  # GLUE dev = our test; CoLA: no header
    columns = ["text", "text_pair", "label"] if pair else ["text", "label"]
    assert data["train"].column_names == columns
    if info.is_regression:
        assert info.num_labels == 1 and isinstance(data["train"][0]["label"], float)
    else:
        assert set(data["train"]["label"]) == {0, 1}
    assert load_glue(name, folder=GLUE / folder).data["dev"]["text"] == data["dev"]["text"]


def test_glue_names_and_hub_path(monkeypatch):
    import datasets

    assert glue_task_name("SST-2") == "sst2" and glue_task_name("sts_b") == "stsb"
    assert glue_task_name("bbc") is None and len(GLUE_TASKS) == 9
    rows = {"premise": ["a cat sat", "it rains", "dogs bark"] * 4, "hypothesis": ["a cat", "dry", "noise"] * 4,
            "label": [0, 2, 1] * 4, "idx": list(range(12))}
    hub = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows),
                                "validation_matched": datasets.Dataset.from_dict(rows)})
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kw: calls.append(args) or hub)
    info, data = load_task("mnli")
    assert calls == [("nyu-mll/glue", "mnli")] and info.label_names[2] == "contradiction"
    assert data["train"].column_names == ["text", "text_pair", "label"] and len(data["test"]) == 12


def test_glue_errors(tmp_path):
    with pytest.raises(DataError, match="unknown GLUE task 'sst3'"):
        load_glue("sst3")
    with pytest.raises(DataError, match="no GLUE folder"):
        load_glue("sst2", folder=tmp_path / "nowhere")
    (tmp_path / "SST-2").mkdir()
    with pytest.raises(DataError, match="missing GLUE file .*train.tsv"):
        load_task(tmp_path / "SST-2")
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataError, match="pass name="):
        load_task(tmp_path / "mine")
    with pytest.raises(DataError, match="no column 'sentence'; columns found"):
        load_task(GLUE / "RTE", name="sst2")


# --------------------------------------------------------------------------------------- tables
def test_table_csv_tsv_jsonl():
    info, data = load_table(FIXTURES / "table.csv")
    assert info.label_names == ("politics", "sports", "tech") and sum(len(data[s]) for s in data) == 36
    info, data = load_table(FIXTURES / "table.tsv", text_pair_column="text_pair")
    assert info.is_pair and info.label_names == ("0", "1") and data["test"].column_names[1] == "text_pair"
    info, data = load_task(FIXTURES / "table.jsonl")  # split column: train / validation / test
    assert {s: len(data[s]) for s in data} == {"train": 24, "dev": 6, "test": 6}
    again = load_table(FIXTURES / "table.csv", seed=0).data
    assert again["test"]["text"] == load_table(FIXTURES / "table.csv").data["test"]["text"]


def test_table_regression_and_given_label_names(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("text,label\n" + "".join(f"s{i},{i / 7:.3f}\n" for i in range(20)))
    info, data = load_table(path, is_regression=True)
    assert info.is_regression and info.num_labels == 1 and info.metric == "spearman"
    with pytest.raises(DataError, match="look continuous"):
        load_table(path)
    ids, names = encode_labels(["b", "a", "b"], label_names=["b", "a"])
    assert ids == [0, 1, 0] and names == ("b", "a")


def test_table_errors(tmp_path):
    two = "".join(f"x{i},{i % 2}\n" for i in range(20))
    cases = [
        (None, {}, "no task file"),
        ("a,b\n", {"suffix": ".parquet"}, "unknown suffix"),
        ("sentence,label\n" + two, {}, r"no column 'text'; columns found: \['sentence', 'label'\]"),
        ("text,y\n" + two, {}, "no column 'label'"),
        ("text,label\n", {}, "has no rows"),
        ("", {}, "cannot read"),
        ("text,label\n" + "".join(f"x{i},1\n" for i in range(20)), {}, "only one class"),
        ("text,label\n" + two + "y,5\n", {"num_labels": 2}, "outside the label set"),
        ("text,label\n" + two + "y,-1\n", {}, "outside the label set"),
        ("text,label\n" + "".join(f"x{i},{'ab'[i % 2]}\n" for i in range(20)), {"label_names": ["a", "c"]},
         r"labels \['b'\] are not in the label set"),
        ("text,label\na,0\nb,1\nc,0\nd,1\n", {}, "split 'dev' is empty"),
        ("text,label\n" + two + ",1\n", {}, "'text' is empty in 1 rows"),
        ("text,label,split\n" + "".join(f"x{i},{i % 2},tr\n" for i in range(20)), {}, "unknown split names"),
    ]
    for number, (body, kw, message) in enumerate(cases):
        path = tmp_path / f"case{number}{kw.pop('suffix', '.csv')}"
        if body is not None:
            path.write_text(body)
        with pytest.raises(DataError, match=message):
            load_table(path, **kw)


def test_load_task_unknown_and_split_helper():
    with pytest.raises(DataError, match="unknown task 'nope/x.csv'"):
        load_task("nope/x.csv")
    parts = split_indices([0] * 30 + [1] * 10, {"test": 8}, seed=3)
    assert len(parts["test"]) == 8 and sum(1 for i in parts["test"] if i >= 30) == 2
    assert parts == split_indices([0] * 30 + [1] * 10, {"test": 8}, seed=3)
    assert TaskInfo("x", ["a", "b"], False, "accuracy").label_names == ("a", "b")
