"""tinybert_ref.models: presets, teacher loading, checked checkpoints, vocabulary checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel

from tinybert_ref.assets import minilm_path
from tinybert_ref.internals import ATTN_IMPLEMENTATION, forward_with_internals
from tinybert_ref.models import (
    STUDENT_PRESETS,
    CheckpointError,
    CheckpointNotFoundError,
    VocabularyMismatchError,
    build_student,
    check_vocab_compatible,
    count_parameters,
    load_checkpoint,
    load_teacher,
    resolve_teacher_path,
    student_config,
)

INPUTS = {"input_ids": torch.tensor([[101, 2054, 2003, 102, 0], [101, 7592, 2088, 999, 102]]),
          "attention_mask": torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])}


@pytest.fixture
def tiny_folder(tiny_config, teacher_tokenizer, tmp_path):
    """A small saved BERT (model + the teacher's tokenizer), like a run folder's model/."""
    folder = tmp_path / "model"
    torch.manual_seed(0)
    BertModel(tiny_config(layers=1, hidden=24, ffn=48)).save_pretrained(folder)
    teacher_tokenizer.save_pretrained(folder)
    return folder


# ---- presets and students ---------------------------------------------------------------------------

def test_presets_have_the_paper_shapes():
    assert STUDENT_PRESETS["tinybert4"] == {"num_hidden_layers": 4, "hidden_size": 312,
                                            "intermediate_size": 1200, "num_attention_heads": 12}
    assert STUDENT_PRESETS["tinybert6"] == {"num_hidden_layers": 6, "hidden_size": 768,
                                            "intermediate_size": 3072, "num_attention_heads": 12}
    assert set(STUDENT_PRESETS) == {"tinybert4", "tinybert6", "small", "medium"}


def test_student_sizes_against_the_minilm_teacher(teacher_bert):
    teacher_size = count_parameters(teacher_bert)
    assert 22_600_000 < teacher_size < 22_800_000
    tinybert4 = count_parameters(build_student("tinybert4", teacher_bert.config))
    small = count_parameters(build_student("small", teacher_bert.config))
    # Paper: 14.5M for TinyBERT4; the BertModel alone (embeddings, 4 layers, pooler) is 14.35M.
    assert 14_000_000 < tinybert4 < 14_600_000, tinybert4
    assert teacher_size / small >= 4.5, f"small preset is only {teacher_size / small:.2f}x smaller"
    # the size ladder the README's retention-against-size rows read: small < medium (4 x 192) < tinybert4
    medium = build_student("medium", teacher_bert.config)
    assert (medium.config.num_hidden_layers, medium.config.hidden_size) == (4, 192)
    assert small < count_parameters(medium) < tinybert4


def test_student_takes_vocabulary_and_positions_from_teacher(tiny_config):
    teacher = tiny_config(type_vocab_size=3, pad_token_id=5)
    teacher.vocab_size, teacher.max_position_embeddings = 1234, 128
    config = student_config("small", teacher, num_labels=4)
    assert (config.vocab_size, config.max_position_embeddings, config.type_vocab_size, config.pad_token_id) \
        == (1234, 128, 3, 5)
    assert (config.num_hidden_layers, config.hidden_size, config.num_labels) == (4, 120, 4)
    assert isinstance(config, BertConfig) and config._attn_implementation == ATTN_IMPLEMENTATION
    teacher.num_labels, teacher.id2label = 4, {0: "business", 1: "politics", 2: "sport", 3: "tech"}
    assert student_config("small", teacher, num_labels=4).id2label[2] == "sport"  # label names carried over


def test_build_student_classes_seed_and_global_rng(tiny_config):
    teacher = tiny_config()
    shape = {"num_hidden_layers": 2, "hidden_size": 24, "intermediate_size": 48, "num_attention_heads": 4}
    state = torch.random.get_rng_state()
    first = build_student(shape, teacher, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state), "build_student must not move the global RNG"
    again = build_student(shape, teacher, seed=3)
    other = build_student(shape, teacher, seed=4)
    weights = [m.encoder.layer[0].attention.self.query.weight for m in (first, again, other)]
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])
    assert type(first) is BertModel
    assert type(build_student(shape, teacher, num_labels=5)) is BertForSequenceClassification


def test_bad_student_shapes_raise_with_the_fix(tiny_config):
    with pytest.raises(ValueError, match="tinybert4, tinybert6, small"):
        build_student("tinybert3", tiny_config())
    with pytest.raises(ValueError, match="not divisible by 12 heads"):
        build_student({"num_hidden_layers": 2, "hidden_size": 100, "intermediate_size": 48,
                       "num_attention_heads": 12}, tiny_config())
    with pytest.raises(ValueError, match=r"unknown keys \['layers'\].*valid keys"):
        build_student({"layers": 2, "num_hidden_layers": 2, "hidden_size": 24, "intermediate_size": 48,
                       "num_attention_heads": 4}, tiny_config())


def test_student_saves_and_loads_with_transformers(tiny_config, tmp_path):
    student = build_student({"num_hidden_layers": 2, "hidden_size": 24, "intermediate_size": 48,
                             "num_attention_heads": 4}, tiny_config(), num_labels=3).eval()
    student.save_pretrained(tmp_path)
    plain = BertForSequenceClassification.from_pretrained(tmp_path).eval()  # what pipeline() would do
    checked = load_checkpoint(tmp_path, BertForSequenceClassification).eval()
    assert plain.config._attn_implementation == "sdpa"
    assert checked.config._attn_implementation == ATTN_IMPLEMENTATION
    with torch.no_grad():
        expected = student(**INPUTS).logits
        torch.testing.assert_close(plain(**INPUTS).logits, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(forward_with_internals(checked, **INPUTS).logits, expected, atol=1e-6, rtol=0)


# ---- teacher ----------------------------------------------------------------------------------------

def test_resolve_teacher_path(tiny_folder, tmp_path):
    assert resolve_teacher_path() == minilm_path() == resolve_teacher_path("minilm")
    assert resolve_teacher_path(tiny_folder) == tiny_folder
    assert resolve_teacher_path(str(tiny_folder)) == tiny_folder
    assert resolve_teacher_path("bert-base-uncased") == "bert-base-uncased"
    assert resolve_teacher_path("google-bert/bert-base-uncased") == "google-bert/bert-base-uncased"
    for missing in (tmp_path / "nowhere", "./runs/teacher/model", "../teacher", "~/no/such/teacher"):
        with pytest.raises(FileNotFoundError, match="does not exist.*save_pretrained") as caught:
            resolve_teacher_path(missing)
        assert str(Path(missing).name) in str(caught.value)


def test_load_packaged_teacher(teacher_tokenizer):
    model, tokenizer = load_teacher()
    assert type(model) is BertModel and model.config._attn_implementation == ATTN_IMPLEMENTATION
    assert (model.config.num_hidden_layers, model.config.hidden_size, len(tokenizer)) == (6, 384, 30522)
    classifier, _ = load_teacher("minilm", num_labels=5)
    assert type(classifier) is BertForSequenceClassification and classifier.config.num_labels == 5
    torch.testing.assert_close(classifier.bert.encoder.layer[5].output.dense.weight,
                               model.encoder.layer[5].output.dense.weight)
    assert isinstance(load_teacher(config_only=True), BertConfig)
    assert load_teacher(tokenizer_only=True)[0] is None


def test_load_teacher_from_a_local_folder(tiny_folder):
    model, tokenizer = load_teacher(tiny_folder, num_labels=2)
    assert model.config.hidden_size == 24 and len(tokenizer) == 30522


def test_unreachable_hub_name_gives_a_clear_error():
    for kwargs in ({}, {"config_only": True}):
        with pytest.raises(CheckpointError, match=r"runs/teacher.*no local folder.*read as a hub name") as caught:
            load_teacher("runs/teacher", **kwargs)
        assert caught.value.__cause__ is not None


def _message(caught) -> str:
    return str(caught.value)


def test_missing_folder_and_missing_config(tiny_folder, tmp_path):
    with pytest.raises(CheckpointNotFoundError) as caught:
        load_checkpoint(tmp_path / "absent", BertModel)
    assert isinstance(caught.value, CheckpointError) and isinstance(caught.value, FileNotFoundError)
    assert "absent" in _message(caught) and "save_pretrained" in _message(caught)
    with pytest.raises(CheckpointError, match=r"has no config.json.*did you mean .*model"):
        load_checkpoint(tiny_folder.parent, BertModel)
    with pytest.raises(CheckpointError, match="is a file"):
        load_checkpoint(tiny_folder / "config.json", BertModel)


def test_config_that_is_not_bert(tiny_folder):
    config = json.loads((tiny_folder / "config.json").read_text())
    (tiny_folder / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    with pytest.raises(CheckpointError, match=r"'roberta' model, not BERT.*pass a BERT checkpoint") as caught:
        load_teacher(tiny_folder)
    assert str(tiny_folder) in _message(caught)
    (tiny_folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot be read as JSON"):
        load_checkpoint(tiny_folder, BertModel)


def test_missing_and_truncated_weights(tiny_folder):
    weights = tiny_folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model.safetensors is .* bytes .*cut short.*save_pretrained") as c:
        load_teacher(tiny_folder)
    assert str(tiny_folder) in _message(c)
    weights.write_bytes(b"\x00\x01")
    with pytest.raises(CheckpointError, match="no valid safetensors header"):
        load_checkpoint(tiny_folder, BertModel)
    weights.unlink()
    with pytest.raises(CheckpointError, match="no weights file"):
        load_checkpoint(tiny_folder, BertModel)


def test_library_errors_are_wrapped_and_chained(tiny_folder):
    config = json.loads((tiny_folder / "config.json").read_text())
    (tiny_folder / "config.json").write_text(json.dumps({**config, "intermediate_size": 40}))
    with pytest.raises(CheckpointError, match=f"cannot load BertModel from {tiny_folder}") as caught:
        load_checkpoint(tiny_folder, BertModel)
    assert caught.value.__cause__ is not None  # the transformers error is chained, not shown first


def test_load_checkpoint_heads(tiny_folder):
    with pytest.raises(CheckpointError, match="lacks 2 weights.*pass num_labels"):
        load_checkpoint(tiny_folder, BertForSequenceClassification)
    classifier = load_checkpoint(tiny_folder, BertForSequenceClassification, num_labels=4)
    assert classifier.config.num_labels == 4
    classifier.save_pretrained(tiny_folder.parent / "classifier")
    resized = load_checkpoint(tiny_folder.parent / "classifier", BertForSequenceClassification, num_labels=2)
    assert resized.classifier.out_features == 2


# ---- vocabulary and counting -----------------------------------------------------------------------

def test_vocabulary_mismatch_names_both_sizes(teacher_tokenizer, teacher_bert, tiny_config):
    check_vocab_compatible(teacher_tokenizer, teacher_bert.config)
    check_vocab_compatible(teacher_bert, tiny_config())
    small_vocab = tiny_config()
    small_vocab.vocab_size = 1000
    with pytest.raises(VocabularyMismatchError, match=r"30,522.*1,000.*teacher's tokenizer"):
        check_vocab_compatible(teacher_tokenizer, small_vocab)
    with pytest.raises(ValueError):
        check_vocab_compatible(small_vocab, teacher_tokenizer)


def test_count_parameters(tiny_config):
    model = BertModel(tiny_config(layers=1, hidden=24, ffn=48))
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    model.embeddings.requires_grad_(False)
    frozen = sum(p.numel() for p in model.embeddings.parameters())
    assert count_parameters(model, trainable_only=True) == count_parameters(model) - frozen
