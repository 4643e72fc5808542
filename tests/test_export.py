"""Shipping the student (issue 13): ONNX export of a `ci` run, its equality with PyTorch, the int8 copy, the
export folder, a clear error without a student, the `export` command, and `onnx_predict` with torch blocked.

The run is the `ci` run the notebooks share (`tinybert_ref.notebook.ensure_run`, runs/ci, or
$TINYBERT_RUNS/ci): trained once if absent, then reused by notebooks 07-11 under nbval. The exports are
written into temporary folders, never into the run folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from tinybert_ref.export import (
    CHECK_SENTENCES,
    INPUT_NAMES,
    add_export_parser,
    export_run,
    find_checkpoints,
    onnx_logits,
    run_export,
    run_test_examples,
)

# int8 against fp32, on the 64 test headlines of the `ci` run: measured max |difference| of the logits 0.0045
# (student) and 0.016 (teacher), on a CPU with VNNI. A CPU without VNNI runs onnxruntime's uint8 x int8
# products through other kernels (AVX2 saturates some sums), so we allow about 3x the teacher's measure.
INT8_ATOL = 0.05
FP32_ATOL = 1e-4  # the fp32 graph computes what PyTorch computes; measured ~2e-7


@pytest.fixture(scope="module")
def ci_run():
    from tinybert_ref.notebook import ensure_run
    from tinybert_ref.profiles import get_profile

    return ensure_run(get_profile("ci"))


@pytest.fixture(scope="module")
def exported(ci_run, tmp_path_factory):
    metrics, run_dir = ci_run
    out = tmp_path_factory.mktemp("export")
    return export_run(run_dir, onnx=True, int8=True, out=out), out


@pytest.fixture(scope="module")
def test_set(ci_run):
    return run_test_examples(ci_run[1])


def _torch_logits(folder, texts, max_length):
    from transformers import AutoTokenizer, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = BertForSequenceClassification.from_pretrained(folder).eval()
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits.numpy(), {k: v.numpy() for k, v in batch.items()}


@pytest.mark.parametrize("who", ["student", "teacher"])
def test_fp32_graph_equals_pytorch(exported, ci_run, test_set, who):
    manifest, out = exported
    folder = find_checkpoints(ci_run[1])[who]
    assert manifest["models"][who]["max_abs_difference_fp32"] < FP32_ATOL
    # every test headline in one padded batch, then one short headline alone: other B and L than the export's
    for texts in (test_set["texts"], test_set["texts"][:1]):
        expected, batch = _torch_logits(folder, texts, manifest["max_length"])
        got = onnx_logits(out / f"{who}.onnx", batch)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < FP32_ATOL


def test_fp32_scores_the_runs_test_metric(exported, ci_run, test_set):
    """The rebuilt test split is the run's: the exported student scores exactly metrics.json's test metric."""
    from tinybert_ref.evaluate import compute_metrics
    from tinybert_ref.onnx_predict import OnnxClassifier

    metrics, _ = ci_run
    assert len(test_set["labels"]) == metrics["task"]["sizes"]["test"]
    logits = OnnxClassifier(exported[1], "student.onnx").logits(test_set["texts"])
    score = compute_metrics(logits.argmax(-1), test_set["labels"], test_set["metric"])["metric"]
    assert score == pytest.approx(metrics["student"]["test_metric"], abs=1e-9)


def test_graph_axes_are_dynamic(exported):
    import onnxruntime as ort

    _, out = exported
    session = ort.InferenceSession(str(out / "student.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(INPUT_NAMES)
    assert all(i.shape == ["batch", "sequence"] and i.type == "tensor(int64)" for i in session.get_inputs())
    (output,) = session.get_outputs()
    assert output.name == "logits" and output.shape[0] == "batch"


@pytest.mark.parametrize("who", ["student", "teacher"])
def test_int8_close_to_fp32_and_smaller(exported, test_set, who):
    from tinybert_ref.onnx_predict import OnnxClassifier

    manifest, out = exported
    fp32 = OnnxClassifier(out, f"{who}.onnx").logits(test_set["texts"])
    int8 = OnnxClassifier(out, f"{who}.int8.onnx").logits(test_set["texts"])
    assert 0 < np.abs(int8 - fp32).max() < INT8_ATOL  # not 0: the int8 graph really is another computation
    entry = manifest["models"][who]
    assert entry["int8_bytes"] < 0.3 * entry["onnx_bytes"]  # int8 weights: about a quarter of fp32


def test_export_folder_holds_tokenizer_labels_and_manifest(exported, ci_run):
    manifest, out = exported
    metrics, _ = ci_run
    for name in ("tokenizer.json", "labels.json", "export.json", "student.onnx", "student.int8.onnx",
                 "teacher.onnx", "teacher.int8.onnx"):
        assert (out / name).is_file(), name
    assert json.loads((out / "labels.json").read_text()) == metrics["task"]["labels"]
    assert json.loads((out / "export.json").read_text()) == manifest
    assert manifest["skipped"] == {} and manifest["max_length"] == 64  # the ci profile's max_seq_len


def test_onnx_tokenisation_equals_transformers(exported, ci_run):
    """tokenizers on tokenizer.json gives the fast transformers tokenizer's ids, for single texts and pairs."""
    from transformers import AutoTokenizer

    from tinybert_ref.onnx_predict import OnnxClassifier

    manifest, out = exported
    ours = OnnxClassifier(out, "student.onnx")
    theirs = AutoTokenizer.from_pretrained(ci_run[1] / "student")
    pairs = [(CHECK_SENTENCES[0], CHECK_SENTENCES[1]), (CHECK_SENTENCES[2], CHECK_SENTENCES[0] * 8)]  # one truncated
    for texts in (list(CHECK_SENTENCES), pairs):
        got = ours.encode(texts)
        args = ([a for a, _ in texts], [b for _, b in texts]) if isinstance(texts[0], tuple) else (texts,)
        expected = theirs(*args, padding=True, truncation=True, max_length=manifest["max_length"], return_tensors="np")
        for name in INPUT_NAMES:
            assert np.array_equal(got[name], expected[name]), name
    assert ours.encode(pairs)["token_type_ids"].max() == 1


@pytest.mark.parametrize("layout", ["no_folder", "no_student"])
def test_run_folder_without_student_is_a_clear_error(tmp_path, layout):
    run_dir = tmp_path / "run"
    if layout == "no_student":
        run_dir.mkdir()
        (run_dir / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError) as error:
        export_run(run_dir)
    assert str(run_dir) in str(error.value) and "tinybert-ref run" in str(error.value)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="tinybert-ref")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_export_command(ci_run, tmp_path, capsys):
    """The command on a run folder holding only student/: the teacher is skipped with a reason, bad input
    gets one line and exit status 2."""
    run_dir = tmp_path / "student-only"
    shutil.copytree(ci_run[1] / "student", run_dir / "student")
    out = tmp_path / "shipped"
    assert run_export(_parse(["export", str(run_dir), "--onnx", "--out", str(out)])) == 0
    printed = capsys.readouterr().out
    assert "student.onnx" in printed and "teacher: skipped" in printed
    assert (out / "student.onnx").is_file() and not (out / "student.int8.onnx").exists()
    assert json.loads((out / "export.json").read_text())["max_length"] == 512  # no config.json: the model's limit
    assert run_export(_parse(["export", str(run_dir)])) == 2  # neither --onnx nor --int8
    assert run_export(_parse(["export", str(tmp_path / "absent"), "--onnx"])) == 2
    assert "tinybert-ref run" in capsys.readouterr().err


def test_onnx_predict_runs_without_torch(exported):
    """A fresh interpreter in which `import torch` and `import transformers` fail classifies text."""
    _, out = exported
    script = f"""
import json, sys
sys.modules["torch"] = None
sys.modules["transformers"] = None
from tinybert_ref.onnx_predict import OnnxClassifier
texts = {list(CHECK_SENTENCES)!r}
fp32, int8 = OnnxClassifier({str(out)!r}, "student.onnx", threads=1), OnnxClassifier({str(out)!r}, threads=1)
print(json.dumps({{"labels": int8.predict(texts), "logits": fp32.logits(texts).tolist(),
                  "pair": int8.predict([(texts[0], texts[1])]), "modules": sorted(sys.modules)}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    labels = json.loads((out / "labels.json").read_text())
    assert len(result["labels"]) == len(CHECK_SENTENCES) and set(result["labels"]) <= set(labels)
    assert result["pair"][0] in labels
    assert not any(name.split(".")[0] in ("torch", "transformers") for name in result["modules"]
                   if name not in ("torch", "transformers"))  # only the blocked entries themselves
    expected = onnx_logits(out / "student.onnx", _check_batch(out))
    assert np.abs(np.array(result["logits"]) - expected).max() < 1e-6


def _check_batch(out):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    return dict(tokenizer(list(CHECK_SENTENCES), padding=True, return_tensors="np"))
