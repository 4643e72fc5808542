"""snapshots.py: the student at each distillation checkpoint, its matching teacher, their scores.

A fake run folder with tiny models in the layout the pipeline writes (metrics.json naming stage
folders in a shared store) keeps these tests fast; notebook 08 runs the same code on a real run.
"""

from __future__ import annotations

import json

import pytest
import torch

from tinybert_ref import snapshots
from tinybert_ref.config import RunConfig
from tinybert_ref.internals import forward_with_internals
from tinybert_ref.mapping import layer_mapping
from tinybert_ref.objective import TransformerDistillationLoss

SENTENCES = ["Stocks fall as oil price climbs", "Chelsea beat Arsenal"]


def make_fake_run(root, teacher_dir, tokenizer, with_gd: bool = True):
    """RUNS/fake (metrics.json, config) and RUNS/stages/<stage>-<hash>/model as the pipeline leaves them.

    Teacher: 6 layers, hidden 48, 12 heads, MiniLM's vocabulary; student preset "small" (4 layers)."""
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    from tinybert_ref.models import build_student, load_teacher

    root.mkdir(parents=True, exist_ok=True)
    teacher_config = BertConfig(vocab_size=len(tokenizer), hidden_size=48, num_hidden_layers=6, num_attention_heads=12,
                                intermediate_size=96, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(teacher_config).save_pretrained(teacher_dir)
    tokenizer.save_pretrained(teacher_dir)
    config = RunConfig(profile="ci", teacher=str(teacher_dir), student="small", seed=7)
    store, stage_dirs = root / "stages", {}

    def stage(name, model, history=None):
        folder = store / f"{name}-0123456789"
        model.save_pretrained(folder / "model")
        if history is not None:
            (folder / "history.json").write_text(json.dumps(history))
        if name in ("general_distillation", "task_distillation_1"):  # the projection W the stage trained
            torch.manual_seed(len(name))
            projection = TransformerDistillationLoss(model.config.hidden_size, 48, layer_mapping(4, 6))
            torch.nn.init.normal_(projection.projection.weight)  # not the init a freshly built loss starts from
            torch.save(projection.state_dict(), folder / "projection.pt")
        stage_dirs[name] = folder.name

    teacher_classifier = BertForSequenceClassification(BertConfig(**{**teacher_config.to_dict(), "num_labels": 5}))
    stage("teacher", teacher_classifier)
    loaded = load_teacher(str(teacher_dir), config_only=True)
    if with_gd:
        stage("general_distillation", build_student("small", loaded, seed=1),
              [{"step": s, "total": 9.0, **{f"attention/{m}": 5.0 - s for m in range(1, 5)}, "attention": 4 * (5.0 - s),
                "hidden/1": 1.0, "hidden": 1.0, "embedding": 0.5} for s in (1, 2, 3)])
    stage("task_distillation_1", build_student("small", loaded, num_labels=5, seed=2),
          [{"step": s, "total": 3.0, **{f"attention/{m}": 3.0 - s / 10 for m in range(1, 5)}, "attention": 4 * (3.0 - s / 10)}
           for s in (1, 2)])
    stage("task_distillation_2", build_student("small", loaded, num_labels=5, seed=3), [{"step": 1, "total": 1.6}])
    run = root / "fake"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"config": config.to_dict(), "stage_dirs": stage_dirs}))
    return run


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory, teacher_tokenizer):
    root = tmp_path_factory.mktemp("runs")
    return make_fake_run(root, root / "tiny_teacher", teacher_tokenizer)


@pytest.fixture(scope="module")
def loaded(fake_run):
    return snapshots.load_snapshots(fake_run)


def test_checkpoints_and_their_teachers(loaded):
    assert [s.name for s in loaded] == ["before_gd", "after_gd", "after_td1", "after_td2"]
    assert [s.teacher_kind for s in loaded] == ["pretrained", "pretrained", "fine-tuned", "fine-tuned"]
    assert loaded[0].teacher is loaded[1].teacher and loaded[2].teacher is loaded[3].teacher  # loaded once each
    assert type(loaded[0].teacher).__name__ == "BertModel"
    assert type(loaded[2].teacher).__name__ == "BertForSequenceClassification"
    assert type(loaded[1].student).__name__ == "BertModel"
    assert type(loaded[3].student).__name__ == "BertForSequenceClassification"
    assert all(not s.student.training and not s.teacher.training for s in loaded)
    assert loaded[0].source == "random init, seed 7"


def test_before_gd_is_the_general_distillations_starting_point(fake_run, loaded):
    """GD builds its student with build_student(config.student, teacher config, seed=config.seed)."""
    from tinybert_ref.models import build_student, load_teacher

    config = json.loads((fake_run / "metrics.json").read_text())["config"]
    rebuilt = build_student("small", load_teacher(config["teacher"], config_only=True), seed=config["seed"])
    for (name, mine), theirs in zip(loaded[0].student.state_dict().items(), rebuilt.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs), name


def test_skipped_stage_is_left_out(tmp_path, teacher_tokenizer):
    run = make_fake_run(tmp_path, tmp_path / "teacher", teacher_tokenizer, with_gd=False)
    assert [s.name for s in snapshots.load_snapshots(run)] == ["before_gd", "after_td1", "after_td2"]
    rows, boundaries = snapshots.attention_loss_history(run)
    assert boundaries == {"before_gd": 0, "after_td1": 2, "after_td2": 2}
    assert [row["step"] for row in rows] == [1, 2]


def test_unknown_checkpoint_and_missing_run(tmp_path, fake_run):
    with pytest.raises(ValueError, match="unknown checkpoints"):
        snapshots.load_snapshots(fake_run, checkpoints=("after_gd", "halfway"))
    with pytest.raises(FileNotFoundError, match="ensure_run"):
        snapshots.load_snapshots(tmp_path / "nothing")


def test_find_store(fake_run, tmp_path):
    assert snapshots.stage_store(fake_run) == fake_run.parent / "stages"
    (tmp_path / "cli_run" / "stages").mkdir(parents=True)
    assert snapshots.stage_store(tmp_path / "cli_run") == tmp_path / "cli_run" / "stages"  # tinybert-ref run's layout
    assert snapshots.find_store(fake_run) == fake_run.parent / "stages"  # the notebooks' shared store
    assert snapshots.find_store(fake_run, fake_run.parent / "stages") == fake_run.parent / "stages"
    with pytest.raises(FileNotFoundError, match="pass store="):
        snapshots.find_store(fake_run, tmp_path)


def test_run_mapping(fake_run):
    assert snapshots.run_mapping(fake_run) == [0, 2, 3, 5, 6]  # 6 teacher layers onto 4, uniform


def test_scores_match_a_direct_forward(loaded, teacher_tokenizer, fake_run):
    attention = snapshots.snapshot_attention(loaded, teacher_tokenizer, SENTENCES, snapshots.run_mapping(fake_run))
    assert attention.names == ["before_gd", "after_gd", "after_td1", "after_td2"]
    assert attention.tokens[1] == ["[CLS]", "chelsea", "beat", "arsenal", "[SEP]"]
    batch, length = attention.attention_mask.shape
    assert batch == 2 and attention.attention_mask[1].sum() == 5
    teacher_scores, student_scores = attention.pair("after_td1", 3)
    assert student_scores.shape == teacher_scores.shape == (2, 12, length, length)
    encoded = teacher_tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        direct_teacher = forward_with_internals(loaded[2].teacher, **encoded).attention_scores
        direct_student = forward_with_internals(loaded[2].student, **encoded).attention_scores
    assert torch.allclose(teacher_scores, direct_teacher[5 - 1])  # g(3) = 5 -> attention_scores[4]
    assert torch.allclose(student_scores, direct_student[3 - 1])
    assert attention.example(1, student_scores).shape == (12, 5, 5)
    with pytest.raises(ValueError, match="layers 1..4"):
        attention.pair("after_td1", 5)


def _brute_force(student, teacher, mask):
    per_head = []
    for h in range(student.shape[1]):
        values = [(student[b, h, q, k] - teacher[b, h, q, k]) ** 2 for b in range(len(mask))
                  for q in range(mask.shape[1]) for k in range(mask.shape[1]) if mask[b, q] and mask[b, k]]
        per_head.append(torch.stack(values).mean())
    return torch.stack(per_head)


def test_per_head_mse_counts_real_pairs_only():
    generator = torch.Generator().manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    student, teacher = torch.randn(2, 3, 4, 4, generator=generator), torch.randn(2, 3, 4, 4, generator=generator)
    expected = _brute_force(student, teacher, mask)
    assert torch.allclose(snapshots.per_head_mse(student, teacher, mask), expected)
    padded = student.clone()
    padded[1, :, :, 2:] = torch.finfo(torch.float32).min  # masked keys, as in a real forward
    padded[1, :, 2:, :2] = 1e3  # padded queries: whatever they hold
    assert torch.allclose(snapshots.per_head_mse(padded, teacher, mask), expected)
    assert torch.equal(snapshots.per_head_mse(teacher, teacher, mask), torch.zeros(3))
    assert torch.allclose(snapshots.per_head_mse(student, teacher), ((student - teacher) ** 2).mean(dim=(0, 2, 3)))
    with pytest.raises(ValueError, match="one shape"):
        snapshots.per_head_mse(student, teacher[:, :2], mask)


def test_transfer_mse(loaded, teacher_tokenizer, fake_run):
    attention = snapshots.snapshot_attention(loaded, teacher_tokenizer, SENTENCES, snapshots.run_mapping(fake_run))
    mse = snapshots.transfer_mse(attention)
    assert set(mse) == set(attention.names) and mse["after_gd"].shape == (4, 12)
    teacher_scores, student_scores = attention.pair("after_gd", 2)
    assert torch.allclose(mse["after_gd"][1], snapshots.per_head_mse(student_scores, teacher_scores,
                                                                     attention.attention_mask))
    assert (mse["before_gd"] > 0).all()


def test_attention_loss_history(fake_run):
    rows, boundaries = snapshots.attention_loss_history(fake_run)
    assert boundaries == {"before_gd": 0, "after_gd": 3, "after_td1": 5, "after_td2": 5}
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5]
    assert [row["stage"] for row in rows] == ["general_distillation"] * 3 + ["task_distillation_1"] * 2
    assert "hidden/1" not in rows[0] and "total" not in rows[0]  # attention terms only
    assert rows[3]["attention/1"] == pytest.approx(2.9)


def test_final_losses_average_each_trained_term_over_the_last_batches(fake_run, tmp_path, teacher_tokenizer):
    result = snapshots.final_losses(fake_run, last=2)
    assert result["general_distillation"] == {"embedding": 0.5, "attention": pytest.approx(10.0), "hidden": 1.0, "batches": 2}
    assert result["task_distillation_1"] == {"attention": pytest.approx(11.4), "batches": 2}  # a term left out is absent
    assert snapshots.final_losses(fake_run)["general_distillation"]["attention"] == pytest.approx(12.0)  # fewer than 100
    run = make_fake_run(tmp_path, tmp_path / "teacher", teacher_tokenizer, with_gd=False)
    assert list(snapshots.final_losses(run)) == ["task_distillation_1"]  # a skipped stage is absent


def test_held_out_losses_are_the_stages_own_loss_on_the_sentences(fake_run, loaded, teacher_tokenizer):
    stages = json.loads((fake_run / "metrics.json").read_text())["stage_dirs"]
    trained = TransformerDistillationLoss(loaded[2].student.config.hidden_size, loaded[2].teacher.config.hidden_size,
                                          snapshots.run_mapping(fake_run))
    trained.load_state_dict(torch.load(snapshots.find_store(fake_run) / stages["task_distillation_1"] / "projection.pt"))
    encoded = teacher_tokenizer(SENTENCES, padding=True, return_tensors="pt")
    inputs = {k: encoded[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        expected = trained(forward_with_internals(loaded[2].student, **inputs),
                           forward_with_internals(loaded[2].teacher, **inputs), inputs["attention_mask"])
    result = snapshots.held_out_losses(fake_run, SENTENCES)
    assert set(result) == {"general_distillation", "task_distillation_1"}
    assert result["task_distillation_1"] == {term: pytest.approx(float(expected[term]), abs=1e-4)
                                             for term in ("embedding", "attention", "hidden")}


def test_run_attention_is_snapshot_attention_of_the_runs_checkpoints(loaded, teacher_tokenizer, fake_run):
    expected = snapshots.snapshot_attention(loaded, teacher_tokenizer, SENTENCES, snapshots.run_mapping(fake_run))
    result = snapshots.run_attention(fake_run, SENTENCES)
    assert result.names == expected.names and result.mapping == expected.mapping
    assert all(torch.allclose(a, b) for name in expected.names for a, b in zip(result.student[name], expected.student[name], strict=True))


def test_per_head_correlation_sees_the_pattern_not_the_scale_or_a_row_shift():
    torch.manual_seed(0)
    teacher = torch.randn(2, 3, 5, 5)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    padded = teacher.clone()
    padded[1, :, :, 3:] = torch.finfo(torch.float32).min  # padded keys as a forward leaves them
    shifted = 3 * teacher + torch.randn(2, 3, 5, 1)  # another scale and a shift per query row
    assert torch.allclose(snapshots.per_head_correlation(shifted, padded, mask), torch.ones(3), atol=1e-5)
    assert torch.allclose(snapshots.per_head_correlation(-teacher, teacher, mask), -torch.ones(3), atol=1e-5)
    other = torch.randn(2, 3, 5, 5)
    brute = []
    for h in range(3):  # Pearson over the real pairs of each head, rows centred first
        s, t = [], []
        for b in range(2):
            n = int(mask[b].sum())
            s.append((other[b, h, :n, :n] - other[b, h, :n, :n].mean(-1, keepdim=True)).flatten())
            t.append((teacher[b, h, :n, :n] - teacher[b, h, :n, :n].mean(-1, keepdim=True)).flatten())
        s, t = torch.cat(s), torch.cat(t)
        brute.append((s * t).sum() / (s.norm() * t.norm()))
    assert torch.allclose(snapshots.per_head_correlation(other, padded, mask), torch.stack(brute), atol=1e-5)
    with pytest.raises(ValueError, match="one shape"):
        snapshots.per_head_correlation(other, teacher[:, :2], mask)


def test_the_attention_transfer_benchmark_writes_each_runs_checkpoints(fake_run, tmp_path, capsys):
    from benchmarks import attention_transfer
    from benchmarks.finished_runs import variant_of

    out = tmp_path / "attention_transfer.json"
    assert attention_transfer.main([str(fake_run), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["split"] == "dev" and result["n"] == 200 and "benchmarks.attention_transfer" in result["command"]
    (row,) = result["rows"]
    assert row["variant"] == "full" and row["losses"] == {"embedding_loss": True, "attention_loss": True, "hidden_loss": True}
    assert list(row["checkpoints"]) == ["before_gd", "after_gd", "after_td1", "after_td2"]
    before = row["checkpoints"]["before_gd"]
    assert len(before["per_layer"]) == 4 and before["mean"] == pytest.approx(sum(before["per_layer"]) / 4, abs=1e-4)
    assert all(-1 <= c <= 1 for c in before["correlation_per_layer"]) and len(before["correlation_per_layer"]) == 4
    assert row["final_losses"] == snapshots.final_losses(fake_run)
    assert set(row["held_out_losses"]) == {"general_distillation", "task_distillation_1"}
    assert variant_of({**RunConfig().to_dict(), "attention_loss": False}, fake_run) == "no_attention_loss"
    assert variant_of({**RunConfig().to_dict(), "mapping": "top"}, fake_run) == "mapping_top"
    assert variant_of({**RunConfig().to_dict(), "profile_overrides": {"gd_steps": 600, "corpus_seq_len": 64}},
                      fake_run) == "full, gd_steps=600, corpus_seq_len=64"  # a changed recipe is not "full"
    assert variant_of({**RunConfig().to_dict(), "attention_loss": False, "hidden_loss": False},
                      fake_run) == "fake"  # no ablation of its own: the folder's name
    with pytest.raises(SystemExit):  # a folder that is not a finished run: one line naming it
        attention_transfer.main([str(tmp_path)])
    assert "no metrics.json in" in capsys.readouterr().err


def test_stage_history_and_run_tokenizer(fake_run, teacher_tokenizer):
    assert [row["step"] for row in snapshots.stage_history(fake_run, "general_distillation")] == [1, 2, 3]
    assert snapshots.stage_history(fake_run, "augmentation") is None  # a stage the run did not record
    assert snapshots.run_tokenizer(fake_run).get_vocab() == teacher_tokenizer.get_vocab()


def test_loss_curve_means_consecutive_windows():
    from benchmarks.general_distillation import loss_curve

    history = [{"step": s, "lr": 0.1, "total": float(s), "attention": 2.0 * s} for s in range(1, 6)]
    assert loss_curve(history, 2) == [{"step": 2, "total": 1.5, "attention": 3.0}, {"step": 4, "total": 3.5, "attention": 7.0},
                                      {"step": 5, "total": 5.0, "attention": 10.0}]  # a short last window; lr is no loss
    assert loss_curve(history, 10) == [{"step": 5, "total": 3.0, "attention": 6.0}]
    with pytest.raises(ValueError, match="window must be at least 1"):
        loss_curve(history, 0)


def test_the_general_distillation_benchmark_probes_every_checkpoint(fake_run, tmp_path, teacher_tokenizer, capsys):
    from benchmarks import general_distillation

    no_gd = make_fake_run(tmp_path / "runs", tmp_path / "teacher", teacher_tokenizer, with_gd=False)
    out = tmp_path / "general_distillation.json"
    assert general_distillation.main([str(fake_run), str(no_gd), "--window", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_train"] == 1460 and result["window"] == 1 and "benchmarks.general_distillation" in result["command"]
    assert set(result["teachers"]) == {"pretrained", "fine-tuned"}
    full, skipped = result["rows"]
    assert list(full["probe"]) == ["before_gd", "after_gd", "after_td1", "after_td2"]
    assert list(skipped["probe"]) == ["before_gd", "after_td1", "after_td2"]  # no general distillation, no probe of it
    assert all(0 <= full["probe"][c][split] <= 1 for c in full["probe"] for split in ("dev", "test"))
    assert full["step1_loss"] == [{"step": 1, "total": 3.0, "attention": 11.6}, {"step": 2, "total": 3.0, "attention": 11.2}]
    assert [row["step"] for row in full["gd_loss"]] == [1, 2, 3] and skipped["gd_loss"] is None
    with pytest.raises(SystemExit):
        general_distillation.main([str(tmp_path)])
    assert "no metrics.json in" in capsys.readouterr().err
