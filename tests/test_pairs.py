"""Sentence pairs end to end (issue 13, part 2): the offline `bbc_pairs` task, its split and its guarantee
that no test text reaches general distillation or the masked LM, `--text-columns`, the stage keys of
single-sentence runs left as they were, and a pair task through the `ci` pipeline, export and inference.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tinybert_ref.config import RunConfig
from tinybert_ref.data import bbc, bbc_pairs
from tinybert_ref.data.tasks import DataError, load_task

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"


def _norm(text):
    return " ".join(text.split()).lower()


@pytest.fixture(scope="module")
def pairs():
    return load_task("bbc_pairs")


# ------------------------------------------------------------------------------------------ the task
def test_bbc_pairs_is_balanced_with_hard_negatives(pairs):
    info, data = pairs
    assert info.is_pair and info.label_names == ("other_article", "same_article")
    assert info.metric == "f1" and info.metrics == ("f1", "accuracy")
    assert data["train"].column_names == ["text", "text_pair", "id", "pair_id", "label"]
    by_id = {a.id: a for a in bbc.read_articles()}
    for split in ("train", "dev", "test"):
        rows = data[split]
        assert Counter(rows["label"]) == {0: len(rows) // 2, 1: len(rows) // 2}  # balanced
        # every headline once in each class, every lead once in each class: neither text alone tells the label
        for column in ("id", "pair_id"):
            for label in (0, 1):
                ids = [i for i, y in zip(rows[column], rows["label"], strict=True) if y == label]
                assert len(ids) == len(set(ids)) == len(rows) // 2, (split, column, label)
        for row in rows:
            headline, lead = by_id[row["id"]], by_id[row["pair_id"]]
            assert row["text"] == headline.headline and row["text_pair"] == bbc_pairs.lead_paragraph(lead.body)
            assert len(row["text_pair"].split()) >= bbc_pairs.MIN_LEAD_WORDS
            assert (row["id"] == row["pair_id"]) == (row["label"] == 1)
            if row["label"] == 0:  # a hard negative: another article of the same topic, another lead
                assert lead.topic == headline.topic and _norm(row["text_pair"]) != _norm(
                    bbc_pairs.lead_paragraph(headline.body))


def test_bbc_pairs_split_is_the_headline_split(pairs):
    _, data = pairs
    splits = json.loads(bbc.MANIFEST_PATH.read_text())["splits"]
    for split in ("train", "dev", "test"):
        assert set(data[split]["id"]) | set(data[split]["pair_id"]) <= set(splits[split])
    manifest = json.loads(bbc_pairs.PAIRS_MANIFEST_PATH.read_text())
    dropped = {i for ids in manifest["dropped"].values() for i in ids}
    for split in ("train", "dev", "test"):  # every headline article is here, unless a rule dropped it
        assert set(data[split]["id"]) == set(splits[split]) - dropped
    assert {s: len(data[s]) for s in data} == manifest["sizes"] == {"train": 2918, "dev": 400, "test": 792}


def test_no_test_text_reaches_general_distillation_or_the_masked_lm(pairs):
    """The stages `general_distillation` and `mlm` read `stages._corpus_texts(run)`: with the default corpus
    it holds no test article and no text of any test pair (headline or lead), not even inside a body."""
    from tinybert_ref.stages import _corpus_texts

    _, data = pairs
    corpus = _corpus_texts(SimpleNamespace(config=RunConfig(profile="ci", task="bbc_pairs")))
    test_ids = set(data["test"]["id"]) | set(data["test"]["pair_id"])
    assert not test_ids & set(corpus["id"])
    everything = "\n".join(_norm(text) for text in corpus["text"])
    leaked = [t for t in set(data["test"]["text"]) | set(data["test"]["text_pair"]) if _norm(t) in everything]
    assert leaked == []
    # the rule that makes this hold: test articles whose lead a train story repeats are dropped
    manifest = json.loads(bbc_pairs.PAIRS_MANIFEST_PATH.read_text())
    assert manifest["dropped"]["test_lead_in_corpus"] == ["sports/237", "sports/424", "sports/425", "tech/049"]


def test_bbc_pairs_manifest_is_reproducible_and_checked(tmp_path, pairs):
    committed = json.loads(bbc_pairs.PAIRS_MANIFEST_PATH.read_text())
    assert bbc_pairs.make_pairs_manifest(seed=0) == committed
    first, second = bbc_pairs.load_bbc_pairs(seed=1), bbc_pairs.load_bbc_pairs(seed=1)
    assert first.data["test"]["pair_id"] == second.data["test"]["pair_id"]
    assert first.data["test"]["id"] != pairs.data["test"]["id"]
    tampered = json.loads(json.dumps(committed))
    (a, b), (c, d) = list(tampered["negatives"]["train"].items())[:2]
    tampered["negatives"]["train"][a], tampered["negatives"]["train"][c] = d, b  # swap two negatives
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(tampered))
    with pytest.raises(DataError, match="no longer matches.*prepare_bbc.py"):
        bbc_pairs.load_bbc_pairs(pairs_manifest_path=path)
    tampered["negatives"]["test"][next(iter(tampered["negatives"]["test"]))] = a  # a train lead in test
    path.write_text(json.dumps(tampered))
    with pytest.raises(DataError, match="another split"):
        bbc_pairs.load_bbc_pairs(pairs_manifest_path=path)
    with pytest.raises(DataError, match="missing.*prepare_bbc.py"):
        bbc_pairs.load_bbc_pairs(pairs_manifest_path=tmp_path / "none.json")


def test_pair_tokenisation_has_two_segments(pairs, teacher_tokenizer):
    from datasets import DatasetDict

    from tinybert_ref.data.tokenize import tokenize_task

    _, data = pairs
    small = DatasetDict({s: data[s].select(range(4)) for s in data})
    tokenized = tokenize_task(small, teacher_tokenizer, max_seq_len=40)
    row, text = tokenized["test"][0], data["test"][0]
    expected = teacher_tokenizer(text["text"], text["text_pair"], truncation=True, max_length=40)
    assert row["input_ids"] == expected["input_ids"] and len(row["input_ids"]) <= 40
    assert row["token_type_ids"] == expected["token_type_ids"] and set(row["token_type_ids"]) == {0, 1}
    assert row["input_ids"].count(teacher_tokenizer.sep_token_id) == 2


def test_tfidf_pair_baseline_sees_the_overlap(pairs):
    """Each headline and each lead is once in each class, so features of one text alone are at chance;
    the pair baseline's product and cosine features are not."""
    from tinybert_ref.evaluate import tfidf_baseline, tfidf_pair_baseline

    _, data = pairs
    train, test = data["train"], data["test"]
    pair = tfidf_pair_baseline(train["text"], train["text_pair"], train["label"], test["text"], test["text_pair"],
                               test["label"], metric="f1")
    assert pair["model"] == "tfidf-pair+logreg" and set(pair) >= {"metric", "f1", "accuracy", "description"}
    assert pair["accuracy"] > 0.75 and pair["f1"] == pair["metric"] > 0.75
    alone = tfidf_baseline(train["text"], train["label"], test["text"], test["label"])
    assert alone["accuracy"] < 0.55  # the headline alone says nothing
    with pytest.raises(ValueError, match="one second sentence per pair"):
        tfidf_pair_baseline(["a", "b"], ["c"], [0, 1], ["a"], ["c"], [0])


# ------------------------------------------------------------------------------- --text-columns, keys
def test_text_columns_option(tmp_path):
    from tinybert_ref.cli import _config, build_parser

    args = build_parser().parse_args(["run", "--task", "x.csv", "--text-columns", "question, answer"])
    assert _config(args).text_columns == "question,answer"  # normalised
    assert RunConfig().to_dict() == {k: v for k, v in RunConfig(text_columns="a,b").to_dict().items()
                                     if k != "text_columns"}
    assert "text_columns" not in RunConfig().to_dict()  # run folders made before the option stay valid
    assert RunConfig(text_columns="a").task_options() == {"text_columns": "a"}
    for bad in ("a,b,c", "a,", "a,a", ""):
        with pytest.raises(DataError, match="two different names"):
            RunConfig(text_columns=bad)
    csv = tmp_path / "pairs.csv"
    csv.write_text("question,answer,label\n" + "".join(f"q{i},a{i},{i % 2}\n" for i in range(30)))
    info, data = load_task(csv, text_columns="question,answer")
    assert info.is_pair and data["train"].column_names == ["text", "text_pair", "label"]
    with pytest.raises(DataError, match="not a file"):
        load_task("bbc", text_columns="a,b")


# The stage folders of the laptop profile's full recipe (they name hours of cached CPU work in
# runs/laptop/stages): new config fields must not change them. Change this table only together with a
# change of the stage keys that is meant (the last: pipeline.CODE_VERSION 2, the training loop of 416c015).
LAPTOP_STAGES = {"teacher": "teacher-12a6118887", "mlm": "mlm-03c41e1401",
                 "general_distillation": "general_distillation-5bbd9c9a9d",
                 "augmentation": "augmentation-13b9b2e3a5", "task_distillation_1": "task_distillation_1-d0bab40b81",
                 "task_distillation_2": "task_distillation_2-3b308251a0"}
# the laptop default since GloVe-only augmentation won on dev (aug_mlm = False): no masked-LM input to augmentation
LAPTOP_GLOVE_STAGES = {**LAPTOP_STAGES, "augmentation": "augmentation-cf0748de9c",
                       "task_distillation_1": "task_distillation_1-7acc2eae64",
                       "task_distillation_2": "task_distillation_2-66b4d87531"}
CI_STAGES = {"teacher": "teacher-d70b47bbe4", "mlm": "mlm-83dbaa789c",
             "general_distillation": "general_distillation-2d71f207a6", "augmentation": "augmentation-d6a449dba1",
             "task_distillation_1": "task_distillation_1-b5e49858db",
             "task_distillation_2": "task_distillation_2-52b789c3c0"}


def _stage_dirs(config: RunConfig, train_size: int) -> dict:
    """The stage folder names of the full recipe under `config`, computed from the keys alone."""
    from tinybert_ref import pipeline
    from tinybert_ref.runfolder import config_hash

    run = pipeline.Run(config, Path("out"), Path("store"), config.resolved_profile(), None, None, None,
                       {"train": range(train_size)}, None, None)
    dirs = {}
    for name in LAPTOP_STAGES:
        key = pipeline.stage_key(run, name)
        run.stages[name] = (Path(f"{name}-{config_hash(key)}"), {})
        dirs[name] = run.stages[name][0].name
    return dirs


def test_single_sentence_stage_keys_are_unchanged(monkeypatch):
    from tinybert_ref import stages

    monkeypatch.setattr(stages, "distillation_data", lambda run: run.tokenized["train"])  # no data on disk here
    # LAPTOP_STAGES: the masked-LM + GloVe recipe, the laptop default before GloVe alone won on dev
    assert _stage_dirs(RunConfig(profile="laptop", profile_overrides=(("aug_mlm", True),)), 1460) == LAPTOP_STAGES
    assert _stage_dirs(RunConfig(profile="laptop"), 1460) == LAPTOP_GLOVE_STAGES
    assert _stage_dirs(RunConfig(profile="ci"), 96) == CI_STAGES
    # a pair file named by --text-columns keys every stage that reads the task, and only those
    plain = _stage_dirs(RunConfig(profile="ci", task="x.csv"), 96)
    named = _stage_dirs(RunConfig(profile="ci", task="x.csv", text_columns="q,a"), 96)
    differ = {name for name in plain if plain[name] != named[name]}
    assert differ == {"teacher", "augmentation", "task_distillation_1", "task_distillation_2"}


def test_code_version_is_in_every_stage_key(monkeypatch):
    """A store must not serve a stage that older code made under the same settings: bumping
    CODE_VERSION (a change to what a stage makes) gives every stage a new folder."""
    from tinybert_ref import pipeline, stages

    monkeypatch.setattr(stages, "distillation_data", lambda run: run.tokenized["train"])
    before = _stage_dirs(RunConfig(profile="ci"), 96)
    monkeypatch.setattr(pipeline, "CODE_VERSION", pipeline.CODE_VERSION + 1)
    after = _stage_dirs(RunConfig(profile="ci"), 96)
    assert all(before[name] != after[name] for name in before)


# ---------------------------------------------------------------------------------- the pipeline
# The `ci` profile cut further for pairs (the code path is the same; only sizes change): 32 training pairs,
# 32 dev and test pairs, 4 + 4 task-distillation steps, no resumable checkpoint (test_pipeline tests those).
PAIR_OVERRIDES = ("train_limit=32", "eval_limit=32", "td1_steps=4", "td2_steps=4", "checkpoint_every=1000")


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory):
    """`tinybert-ref run --profile ci --task bbc_pairs` (in this process), in the notebooks' shared stage
    store: general distillation and the masked LM do not depend on the task, so a `ci` run made before
    lends them."""
    from tinybert_ref.cli import main
    from tinybert_ref.notebook import stage_store
    from tinybert_ref.profiles import get_profile

    out = tmp_path_factory.mktemp("pairs") / "run"
    overrides = [arg for item in PAIR_OVERRIDES for arg in ("--override", item)]
    code = main(["run", "--profile", "ci", "--task", "bbc_pairs", "--out", str(out), "--store",
                 str(stage_store(get_profile("ci"))), *overrides])
    assert code == 0
    return json.loads((out / "metrics.json").read_text()), out


def test_pair_run_records_f1_and_accuracy(pair_run):
    metrics, out = pair_run
    assert metrics["task"]["name"] == "bbc_pairs" and metrics["task"]["text_columns"] == ["text", "text_pair"]
    assert metrics["task"]["sizes"] == {"train": 32, "dev": 32, "test": 32}
    for who in ("teacher", "student"):
        scores = metrics[who]["test_metrics"]
        assert set(scores) == {"metric", "f1", "accuracy"} and scores["metric"] == scores["f1"]
        assert 0.0 <= scores["accuracy"] <= 1.0 and set(metrics[who]["per_class"]) >= {"other_article",
                                                                                      "same_article"}
    assert metrics["baselines"]["tfidf"]["model"] == "tfidf-pair+logreg"
    assert "both sentences" in (out / "report.md").read_text()
    expected = {"teacher", "mlm", "general_distillation", "augmentation", "task_distillation_1", "task_distillation_2"}
    assert set(metrics["stages"]) == expected
    assert metrics["stages"]["task_distillation_2"]["steps"] == 4


def test_readme_pairs_block_renders_a_pair_run(pair_run, tmp_path):
    """The README's pairs block, from a pair run's metrics.json as `laptop_pairs_metrics.json`."""
    from benchmarks import readme

    metrics, out = pair_run
    assert "Not measured yet" in readme.render_blocks(tmp_path)["pairs"]
    (tmp_path / "laptop_pairs_metrics.json").write_text((out / "metrics.json").read_text())
    block = readme.render_blocks(tmp_path)["pairs"]
    assert "| model | test f1 | test accuracy | dev f1 | retention |" in block
    student = metrics["student"]["test_metrics"]
    assert f"| student `tinybert4` | {student['f1']:.4f} | {student['accuracy']:.4f} |" in block
    assert "TF-IDF + logistic regression (both texts)" in block and "test 32 pairs" in block


def test_pair_augmentation_varies_one_sentence_at_a_time(pair_run):
    from datasets import load_from_disk

    metrics, out = pair_run
    augmented = load_from_disk(str(out / metrics["store"] / metrics["stage_dirs"]["augmentation"] / "dataset"))
    assert {"text", "text_pair", "augmented", "replacements"} <= set(augmented.column_names)
    originals = {row["original_index"]: row for row in augmented if row["is_original"]}
    assert len(originals) == metrics["task"]["sizes"]["train"] == metrics["stages"]["augmentation"]["originals"]
    kinds = Counter(augmented["augmented"])
    assert kinds[""] == len(originals) and kinds["text"] > 0 and kinds["text_pair"] > 0
    for row in augmented:
        original = originals[row["original_index"]]
        assert row["label"] == original["label"]
        kept = {"text": "text_pair", "text_pair": "text"}.get(row["augmented"])
        if kept:  # the other sentence is the original one
            assert row[kept] == original[kept] and row[row["augmented"]] != original[row["augmented"]]


def test_pair_export_and_onnx_predict(pair_run, tmp_path):
    """export -> onnx_predict on (headline, lead) tuples: the fp32 graph gives PyTorch's logits on pairs
    and scores the run's test metric; `transformers.pipeline` takes {"text", "text_pair"}."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, pipeline

    from tinybert_ref.evaluate import compute_metrics
    from tinybert_ref.export import export_run, run_test_examples
    from tinybert_ref.onnx_predict import OnnxClassifier

    metrics, out = pair_run
    manifest = export_run(out, onnx=True, int8=False, teacher=False, out=tmp_path / "export")
    assert manifest["text_columns"] == ["text", "text_pair"] and manifest["models"]["student"][
        "max_abs_difference_fp32"] < 1e-4
    test = run_test_examples(out)
    assert isinstance(test["texts"][0], tuple) and len(test["texts"]) == metrics["task"]["sizes"]["test"]
    classify = OnnxClassifier(tmp_path / "export", "student.onnx")
    logits = classify.logits(test["texts"])
    score = compute_metrics(logits.argmax(-1), test["labels"], test["metric"])
    assert score["f1"] == pytest.approx(metrics["student"]["test_metrics"]["f1"], abs=1e-9)
    assert score["accuracy"] == pytest.approx(metrics["student"]["test_metrics"]["accuracy"], abs=1e-9)
    tokenizer = AutoTokenizer.from_pretrained(out / "student")
    model = BertForSequenceClassification.from_pretrained(out / "student").eval()
    a, b = test["texts"][0]
    batch = tokenizer([a], [b], truncation=True, max_length=manifest["max_length"], return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch).logits.numpy()
    assert np.abs(classify.logits([(a, b)]) - expected).max() < 1e-4
    assert classify.predict([(a, b)])[0] in ("other_article", "same_article")
    classify_pt = pipeline("text-classification", model=str(out / "student"))
    prediction = classify_pt({"text": a, "text_pair": b})
    prediction = prediction[0] if isinstance(prediction, list) else prediction
    assert prediction["label"] == model.config.id2label[int(expected.argmax())]


# ------------------------------------------------------------------------- pair files on the command line
@pytest.mark.parametrize("argv, name, metric", [
    (["--task", str(FIXTURES / "glue" / "MRPC")], "mrpc", "f1"),
    (["--task", str(FIXTURES / "pairs.csv"), "--text-columns", "sentence1,sentence2"], "pairs", "accuracy")])
def test_pair_files_through_the_command_line(tmp_path, argv, name, metric):
    """A GLUE MRPC folder (`--task DIR`) and a CSV with `--text-columns a,b`, as the command line reads
    them, up to the tokenised pairs (`prepare`); the stages after it are the bbc_pairs run's."""
    from tinybert_ref.cli import _config, build_parser
    from tinybert_ref.pipeline import prepare

    run = prepare(_config(build_parser().parse_args(["run", "--profile", "ci", *argv])), tmp_path / "run")
    assert run.info.is_pair and run.info.name == name and run.info.metric == metric
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved.get("text_columns") == (argv[-1] if "--text-columns" in argv else None)
    for split in ("train", "dev", "test"):
        row, text = run.tokenized[split][0], run.task[split][0]
        assert row["input_ids"] == run.tokenizer(text["text"], text["text_pair"])["input_ids"]
        assert set(row["token_type_ids"]) == {0, 1}
