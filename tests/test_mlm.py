"""The augmentation masked LM: word helpers, batched top-K, building, training, recall, loading."""

from __future__ import annotations

import pytest
import torch
from transformers import BertForMaskedLM, BertModel

from tinybert_ref.augment.mlm import (
    MaskedLMError,
    _masked_logits,
    build_mlm_from_encoder,
    is_replaceable,
    load_pretrained_mlm,
    masked_topk,
    masked_word_recall,
    split_words,
    train_mlm,
    word_piece_ids,
)
from tinybert_ref.models import CheckpointError

TEXTS = [
    "The central bank raised interest rates again on Tuesday, surprising the markets.",
    "Shares in the carmaker fell sharply after its chief executive resigned unexpectedly.",
    "The striker scored twice as the champions beat their rivals in a dramatic final.",
    "Ministers will publish the education bill next week after months of consultation.",
] * 3


@pytest.fixture
def tiny_mlm(tiny_config):
    torch.manual_seed(0)
    return BertForMaskedLM(tiny_config(initializer_range=0.2)).eval()


def test_split_words_is_bert_basic_tokenisation(teacher_tokenizer):
    words = split_words("Café prices ROSE 5%, said Müller's team.", teacher_tokenizer)
    assert words == ["cafe", "prices", "rose", "5", "%", ",", "said", "muller", "'", "s", "team", "."]
    assert split_words("   ", teacher_tokenizer) == []


def test_word_piece_ids_group_pieces_per_word(teacher_tokenizer):
    sentences = [["hyperparameterisation", "is", "hard"], [], ["go"]]
    pieces = word_piece_ids(sentences, teacher_tokenizer)
    assert pieces[1] == [] and len(pieces[2]) == 1
    for words, word_pieces in zip(sentences, pieces, strict=True):
        for word, ids in zip(words, word_pieces, strict=True):
            assert ids == teacher_tokenizer.convert_tokens_to_ids(teacher_tokenizer.tokenize(word))
    assert len(pieces[0][0]) > 1 and len(pieces[0][2]) == 1


@pytest.mark.parametrize("word, expected", [("market", True), ("Market", True), ("the", False), ("won't", False),
                                            ("2005", False), (",", False), ("e-mail", False), ("s", False)])
def test_is_replaceable_follows_the_official_rule(word, expected):
    assert is_replaceable(word) is expected


def test_masked_topk_batched_equals_one_by_one(tiny_mlm):
    inputs = [([101, 7, 103, 9, 102], [0] * 5, 2), ([101, 103, 102], [0] * 3, 1),
              ([101, 5, 6, 7, 8, 9, 10, 103, 102, 11, 12, 102], [0] * 9 + [1] * 3, 7)]
    batched = masked_topk(tiny_mlm, inputs, k=10, batch_size=2)  # padding within a batch
    for row, (ids, types, position) in enumerate(inputs):
        with torch.no_grad():
            logits = tiny_mlm(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types])).logits
        assert batched[row].tolist() == torch.topk(logits[0, position], 10).indices.tolist()


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_last_layer_at_the_mask_only_equals_the_full_forward(tiny_config, implementation):
    torch.manual_seed(0)
    model = BertForMaskedLM(tiny_config(layers=3, initializer_range=0.2)).eval()
    model.set_attn_implementation(implementation)
    batch = [([101, 7, 103, 9, 102, 7, 8, 9, 102], [0] * 5 + [1] * 4, 2), ([101, 103, 102], [0] * 3, 1)]
    with torch.inference_mode():
        logits = _masked_logits(model, batch, "cpu")  # the second row is padded to the first's length
        for row, (ids, types, position) in enumerate(batch):
            full = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types])).logits[0, position]
            assert torch.allclose(logits[row], full, atol=1e-5)
            assert not torch.allclose(logits[row], logits[1 - row], atol=1e-2)


def test_masked_topk_rejects_a_masked_lm_without_bert_layers():
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    model = DistilBertForMaskedLM(DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32))
    with pytest.raises(MaskedLMError, match="BERT-style layers"):
        masked_topk(model, [([1, 4, 2], [0, 0, 0], 1)], k=3)


def test_build_from_real_encoder_adds_a_tied_new_head(teacher_dir, teacher_bert):
    model, tokenizer = build_mlm_from_encoder(teacher_dir)
    assert isinstance(model, BertForMaskedLM) and tokenizer.mask_token == "[MASK]"
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert torch.equal(model.bert.encoder.layer[5].output.dense.weight,
                       teacher_bert.encoder.layer[5].output.dense.weight)
    assert torch.count_nonzero(model.cls.predictions.bias) == 0  # a new head, not loaded from anywhere


def test_build_rejects_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        build_mlm_from_encoder(tmp_path / "nowhere")


def test_train_mlm_is_seeded_and_leaves_global_rng_alone(tiny_config, teacher_tokenizer):
    config = tiny_config()
    config.hidden_dropout_prob = 0.1  # dropout draws from the (forked) torch RNG
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = BertForMaskedLM(config)
        state = torch.get_rng_state()
        runs.append(train_mlm(model, teacher_tokenizer, TEXTS, steps=2, batch_size=2, seq_len=16, seed=3,
                              progress=False))
        assert torch.equal(state, torch.get_rng_state())
        assert not model.training
    assert runs[0] == runs[1] and len(runs[0]) == 2


def test_train_mlm_lowers_the_loss(tiny_mlm, teacher_tokenizer):
    losses = train_mlm(tiny_mlm, teacher_tokenizer, TEXTS, steps=12, lr=1e-2, batch_size=4, seq_len=16,
                       progress=False)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


def test_train_mlm_errors(tiny_mlm, teacher_tokenizer):
    with pytest.raises(MaskedLMError, match="at least one step"):
        train_mlm(tiny_mlm, teacher_tokenizer, TEXTS, steps=0)


def test_recall_is_sane(tiny_mlm, teacher_tokenizer):
    result = masked_word_recall(tiny_mlm, teacher_tokenizer, TEXTS, k=15, max_words=20, seed=0)
    assert result["n"] == 20 and result["k"] == 15 and result["words"] == "content"
    assert 0 <= result["top1"] <= result["topk"] <= 1
    everything = masked_word_recall(tiny_mlm, teacher_tokenizer, TEXTS[:2], k=30522, max_words=5)
    assert everything["topk"] == 1.0  # the true word is always somewhere in the whole vocabulary
    with pytest.raises(MaskedLMError, match="no single-piece"):
        masked_word_recall(tiny_mlm, teacher_tokenizer, ["the of and 2005 ,"], k=5)
    assert masked_word_recall(tiny_mlm, teacher_tokenizer, ["the of and 2005 ,"], k=5, words="all")["n"] == 3


def test_save_and_load_round_trip(tiny_mlm, teacher_tokenizer, tmp_path):
    tiny_mlm.save_pretrained(tmp_path)
    teacher_tokenizer.save_pretrained(tmp_path)
    loaded, tokenizer = load_pretrained_mlm(tmp_path)
    assert not loaded.training and len(tokenizer) == len(teacher_tokenizer)
    ids = torch.tensor([[101, 2023, 103, 102]])
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, tiny_mlm(input_ids=ids).logits, atol=1e-6)


def test_load_rejects_an_encoder_without_head(teacher_dir):
    with pytest.raises(MaskedLMError, match="no MLM head"):
        load_pretrained_mlm(teacher_dir)


def test_load_rejects_missing_folder_offline(tmp_path, tiny_config):
    BertModel(tiny_config()).save_pretrained(tmp_path / "encoder")
    with pytest.raises(CheckpointError):
        load_pretrained_mlm(tmp_path / "encoder" / "missing")


def test_masked_rows_loss_equals_bert_mlm_loss(tiny_mlm):
    from tinybert_ref.augment.mlm import _masked_loss

    torch.manual_seed(0)
    ids = torch.randint(1000, 30000, (3, 12))
    labels = ids.clone()
    labels[torch.rand(3, 12) > 0.3] = -100
    labels[0, 0] = ids[0, 0]
    with torch.no_grad():
        assert torch.allclose(_masked_loss(tiny_mlm, ids, labels), tiny_mlm(input_ids=ids, labels=labels).loss,
                              atol=1e-5)


def test_recall_benchmark_sizes_extend_the_same_draw(tiny_mlm, teacher_tokenizer):
    from benchmarks.mlm_recall import measure

    rows = measure(tiny_mlm, teacher_tokenizer, TEXTS, [5, 40], k=3, seed=0)
    assert [row["n"] for row in rows] == [5, 40]  # TEXTS hold more than 40 single-piece content words
    small = masked_word_recall(tiny_mlm, teacher_tokenizer, TEXTS, k=3, max_words=5, seed=0)
    assert (rows[0]["topk"], rows[0]["top1"]) == (small["topk"], small["top1"])  # the stage's own figure comes back
    for row in rows:
        assert row["se_topk"] == pytest.approx((row["topk"] * (1 - row["topk"]) / row["n"]) ** 0.5)
