"""Scale-out (DESIGN.md section 7): several processes, mixed precision, corpora on disk.

Several processes: `tests/scale_worker.py` runs the `ci` profile's general distillation (pipeline.prepare +
stage_general_distillation, unchanged) once in one process and under `torchrun --nproc_per_node 2` (gloo,
CPU), the two-process run killed with SIGKILL after its step-2 checkpoint and launched again. The batch
size is the global batch, so both runs train on the same global batches (16 examples: 8 per process).
With the student's dropout off they must agree step by step, but not bit for bit: DDP averages the two
half-batch gradients (a sum over processes, then / 2) where one process reduces all 16 examples in one
pass, and the matrix products over 8 rows instead of 16 accumulate in another order; float addition is
not associative, so the results differ in the last bits (measured: ~2e-7 relative on the losses, ~5e-7
on the weights after 4 AdamW steps). Tolerances: 1e-5 relative on the losses, 1e-5 absolute on the
weights (a thirtieth of one step at lr 3e-4; Adam can turn a last-bit gradient difference into a
difference of that order where a gradient is near zero).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("scale_worker.py")
LOSS_RTOL, WEIGHT_ATOL = 1e-5, 1e-5


def _launch(out: Path, processes: int, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command = (launcher if processes > 1 else [sys.executable]) + [str(WORKER), str(out), "--dropout-off"]
    command += [f"--kill-at={kill_at}"] if kill_at else []
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def _weights(result: dict) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(result["stage_dir"]) / "model" / "model.safetensors"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(one process, two processes killed at step 2 then resumed, the killed launch's return code)."""
    root = tmp_path_factory.mktemp("scale")
    one = _launch(root / "one", 1)
    assert one.returncode == 0, one.stderr[-3000:]
    killed = _launch(root / "two", 2, kill_at="general distillation:2")
    resumed = _launch(root / "two", 2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return (json.loads((root / "one" / "result.json").read_text()),
            json.loads((root / "two" / "result.json").read_text()), killed)


def test_two_processes_finish_and_resume_after_kill_9(runs):
    one, two, killed = runs
    assert killed.returncode != 0 and "SIGKILL" in killed.stderr, killed.stderr[-3000:]
    assert one["processes"] == 1 and two["processes"] == 2
    assert two["resumed"] is True
    assert [row["step"] for row in two["history"]] == [1, 2, 3, 4]


def test_two_processes_match_one_on_the_same_global_batches(runs):
    one, two, _ = runs
    for a, b in zip(one["history"], two["history"], strict=True):
        for key in ("total", "embedding", "attention", "hidden"):
            assert b[key] == pytest.approx(a[key], rel=LOSS_RTOL), (a["step"], key, a[key], b[key])
    first, second = _weights(one), _weights(two)
    assert first.keys() == second.keys()
    worst = max((first[k] - second[k]).abs().max().item() for k in first)
    assert worst <= WEIGHT_ATOL, f"weights after 4 steps differ by up to {worst}"


def test_evaluation_is_gathered_without_duplicates_or_drops(runs):
    _, two, _ = runs
    gathered = two["gathered"]  # 63 dev examples over 2 processes: shards of 32 and 31
    assert gathered["rows"] == 63 and gathered["labels_in_order"] is True
    assert gathered["max_logit_difference"] < 1e-5


def test_shard_and_gather_in_one_process_are_the_identity():
    import numpy as np

    from tinybert_ref.evaluate import gather_shards, shard

    data = np.arange(7)
    assert shard(data) is data and gather_shards(None, data)[0] is data


def test_a_global_batch_that_does_not_split_over_the_processes_is_refused():
    from types import SimpleNamespace

    from tinybert_ref.train import Schedule, train

    accelerator = SimpleNamespace(num_processes=3, free_memory=lambda: None)
    with pytest.raises(ValueError, match="multiple of 3"):
        train(torch.nn.Linear(1, 1), [0], None, Schedule(max_steps=1, lr=1e-3, batch_size=16), accelerator)


# --- mixed precision -------------------------------------------------------------------------------

@pytest.fixture
def fresh_accelerator():
    """make_accelerator(precision) in a fresh accelerate state (it keeps one per process)."""
    from accelerate.state import AcceleratorState

    from tinybert_ref.train import make_accelerator

    def make(precision: str):
        AcceleratorState._reset_state(reset_partial_state=True)
        return make_accelerator(precision)

    yield make
    AcceleratorState._reset_state(reset_partial_state=True)


def test_bf16_distillation_loss_is_finite_and_close_to_fp32(teacher_dir, teacher_tokenizer, fresh_accelerator):
    """Intermediate-layer distillation on a padded batch, MiniLM teacher -> TinyBERT4: the attention
    scores carry float32-min mask values (which are -inf in fp16); the losses stay float32 and finite.
    Measured: total 9.0677 (bf16) vs 9.0723 (fp32), 5e-4 relative; the tolerance is 10x that."""
    from transformers import BertModel

    from tinybert_ref.internals import enable_scores, forward_with_internals
    from tinybert_ref.mapping import layer_mapping
    from tinybert_ref.models import build_student
    from tinybert_ref.objective import IntermediateDistillation, TransformerDistillationLoss

    teacher = BertModel.from_pretrained(teacher_dir)
    student = build_student("tinybert4", teacher.config, seed=0).eval()
    layer_loss = TransformerDistillationLoss(312, 384, layer_mapping(4, 6))
    objective = IntermediateDistillation(student, teacher, layer_loss)
    texts = ["Shares rise as the bank raises its profit forecast", "Cup final",
             "Minister defends the new school funding plan after a week of criticism", "Tech stocks slide"]
    batch = dict(teacher_tokenizer(texts, padding=True, return_tensors="pt"))
    assert (batch["attention_mask"] == 0).any()
    scores = forward_with_internals(enable_scores(teacher), **batch).attention_scores[0]
    assert scores.min() <= torch.finfo(torch.float32).min / 2  # the mask values are in the scores
    assert torch.isinf(scores.half()).any()  # ... and overflow in fp16

    losses = {}
    for precision in ("fp32", "bf16"):
        accelerator = fresh_accelerator(precision)
        with torch.no_grad(), accelerator.autocast():
            losses[precision] = objective(batch)
    for name in ("total", "embedding", "attention", "hidden"):
        low, full = losses["bf16"][name], losses["fp32"][name]
        assert low.dtype == torch.float32 and torch.isfinite(low), name
        assert low.item() == pytest.approx(full.item(), rel=5e-3), (name, low.item(), full.item())


def test_fp16_on_a_cpu_is_a_clear_error(tmp_path):
    from tinybert_ref.train import make_accelerator

    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        make_accelerator("fp16", cpu=True)
    if torch.cuda.is_available():
        pytest.skip("the CLI would take the GPU here")
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "tinybert_ref.cli", "run", "--profile", "ci", "--precision",
                             "fp16", "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "fp16 needs a GPU" in lines[0] and "--precision bf16" in lines[0], result.stderr
    assert not out.exists()  # refused before any folder is made


def test_run_help_documents_launch_and_precision():
    from tinybert_ref.cli import build_parser

    parser = build_parser()
    run_help = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "run")[1].format_help()
    for text in ("torchrun --standalone --nproc_per_node", "accelerate launch --multi_gpu", "--machine_rank",
                 "--precision {fp32,bf16,fp16}", "bf16 autocast", "--corpus", "--batch-size"):
        assert text in run_help, text


# --- corpora larger than memory ------------------------------------------------------------------------

def test_a_corpus_folder_is_memory_mapped_and_packs_the_same_with_workers(tmp_path, teacher_tokenizer):
    from datasets.table import MemoryMappedTable

    from tinybert_ref.data.corpus import load_text_corpus, pack_corpus

    folder = tmp_path / "corpus"
    (folder / "more").mkdir(parents=True)
    sentence = "the central bank kept interest rates unchanged while markets waited for news"
    (folder / "a.txt").write_text("\n".join(f"{sentence} {i}" for i in range(60)))
    (folder / "more" / "b.txt").write_text("\n\n".join(f"story {i}: {sentence}" for i in range(60)))
    (folder / "notes.md").write_text("not read: only .txt files are")
    cache = tmp_path / "cache"
    corpus = load_text_corpus(folder, cache_dir=cache)
    assert len(corpus) == 120 and corpus.cache_files  # rows from both files, stored as Arrow on disk
    serial = pack_corpus(corpus, teacher_tokenizer, seq_len=24)
    parallel = pack_corpus(corpus, teacher_tokenizer, seq_len=24, num_proc=2)
    assert serial["input_ids"] == parallel["input_ids"] and {len(x) for x in serial["input_ids"]} == {24}
    # the packed blocks are read from memory-mapped Arrow files under the cache, not held in RAM
    assert serial.cache_files and all(Path(f["filename"]).is_relative_to(cache) for f in serial.cache_files)
    assert all(isinstance(t, MemoryMappedTable) for t in _tables(serial.data))


def _tables(table):
    """The leaf tables of a datasets Table (a ConcatenationTable holds blocks of them)."""
    blocks = getattr(table, "blocks", None)
    return [leaf for row in blocks for leaf in row] if blocks else [table]


def test_a_hub_corpus_name_takes_a_config_and_fails_clearly_offline(monkeypatch):
    from tinybert_ref.data.corpus import load_text_corpus
    from tinybert_ref.data.tasks import DataError

    calls = []

    def fake_load_dataset(name, config=None, **kwargs):
        calls.append((name, config))
        raise ConnectionError("offline")

    import datasets

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    with pytest.raises(DataError, match="wikimedia/wikipedia.*offline"):
        load_text_corpus("wikimedia/wikipedia:20231101.en")
    assert calls == [("wikimedia/wikipedia", "20231101.en")]
