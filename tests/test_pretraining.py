"""tinybert_ref.pretraining: BERT's masking rule, NSP pairs and both losses, against `transformers`."""

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForPreTraining

from tinybert_ref.pretraining import (
    IS_NEXT,
    NOT_NEXT,
    NspPair,
    apply_bert_masking,
    fill_mask,
    masked_lm_loss,
    masking_collator,
    masking_counts,
    nsp_pairs,
    pretrain,
    pretraining_batch,
    pretraining_losses,
    split_sentences,
)

DOCS = [
    "Shares rose on Monday. The bank raised rates. Investors were surprised by the move.",
    "The film won three awards. Its director thanked the cast. A sequel is planned for 2006.",
    "The match ended in a draw. Both coaches praised the defence.",
]


@pytest.fixture
def tiny_pretraining_model():
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    return BertForPreTraining(config)


def test_apply_bert_masking_cases():
    ids = torch.tensor([[101, 10, 11, 12, 13, 102, 0]])
    special = torch.tensor([[True, False, False, False, False, True, True]])
    select = torch.tensor([[0.0, 0.1, 0.1, 0.1, 0.5, 0.0, 0.0]])  # positions 1-3 selected; specials never
    replace = torch.tensor([[0.0, 0.5, 0.85, 0.95, 0.0, 0.0, 0.0]])  # [MASK], random, unchanged
    random_ids = torch.full_like(ids, 999)
    out = apply_bert_masking(ids, special, select, replace, random_ids, mask_token_id=103)
    assert out.tolist() == [[101, 103, 999, 12, 13, 102, 0]]


def test_collator_rates_on_a_real_batch(teacher_tokenizer):
    """DataCollatorForLanguageModeling as configured: about 15% selected, then about 80/10/10."""
    texts = [" ".join(DOCS)] * 64
    encoded = teacher_tokenizer(texts, padding=True)
    features = [{k: encoded[k][i] for k in encoded} for i in range(len(texts))]
    batch = masking_collator(teacher_tokenizer, seed=0)(features)
    original = torch.tensor(encoded["input_ids"])
    counts = masking_counts(original, batch["input_ids"], batch["labels"], teacher_tokenizer.mask_token_id,
                            batch["attention_mask"])
    real = counts["tokens"] - 2 * len(texts)  # [CLS] and [SEP] are never selected
    assert 0.12 < counts["selected"] / real < 0.18
    assert 0.75 < counts["mask"] / counts["selected"] < 0.85
    assert 0.06 < counts["random"] / counts["selected"] < 0.14
    assert counts["mask"] + counts["random"] + counts["unchanged"] == counts["selected"]
    specials = torch.tensor([teacher_tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                             for row in encoded["input_ids"]]).bool()
    assert (batch["labels"][specials] == -100).all()


def test_masked_lm_loss_equals_transformers_labels():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 20, generator=generator)
    original = torch.randint(0, 20, (2, 6), generator=generator)
    selected = torch.tensor([[0, 1, 0, 1, 0, 0], [1, 0, 0, 0, 0, 1]], dtype=torch.bool)
    labels = torch.where(selected, original, -100)
    torch.testing.assert_close(masked_lm_loss(logits, original, selected), F.cross_entropy(logits.view(-1, 20),
                                                                                          labels.view(-1)))


def test_split_sentences_and_nsp_pairs():
    assert split_sentences(DOCS[0]) == ["Shares rose on Monday.", "The bank raised rates.",
                                        "Investors were surprised by the move."]
    pairs = nsp_pairs(DOCS, 400, seed=0)
    assert pairs == nsp_pairs(DOCS, 400, seed=0)
    is_next = [p for p in pairs if p.label == IS_NEXT]
    assert 0.4 < len(is_next) / len(pairs) < 0.6
    for pair in is_next:
        sentences = next(split_sentences(d) for d in DOCS if pair.first in d)
        assert sentences[sentences.index(pair.first) + 1] == pair.second
    for pair in pairs:
        if pair.label == NOT_NEXT:
            assert not any(pair.first in d and pair.second in d for d in DOCS)
    with pytest.raises(ValueError, match="two documents"):
        nsp_pairs(["One sentence only."], 3)


def test_batch_and_losses_match_bert_for_pretraining(teacher_tokenizer, tiny_pretraining_model):
    pairs = [NspPair(DOCS[0], DOCS[1], IS_NEXT), NspPair(DOCS[1], DOCS[2], NOT_NEXT)]
    batch = pretraining_batch(pairs, teacher_tokenizer, masking_collator(teacher_tokenizer, seed=1))
    assert batch["next_sentence_label"].tolist() == [0, 1]
    assert batch["token_type_ids"][0].max() == 1  # sentence B has segment 1
    model = tiny_pretraining_model.eval()
    losses = pretraining_losses(model, batch)
    reference = model(**batch).loss  # BertForPreTraining's own MLM + NSP loss
    torch.testing.assert_close(losses["total"], reference)
    torch.testing.assert_close(losses["total"], losses["mlm"] + losses["nsp"])
    nothing_selected = {**batch, "labels": torch.full_like(batch["labels"], -100)}
    assert pretraining_losses(model, nothing_selected)["mlm"].item() == 0.0  # not NaN


def test_pretrain_lowers_the_loss_and_fill_mask(teacher_tokenizer, tiny_pretraining_model):
    pairs = nsp_pairs(DOCS, 16, seed=0)
    history = pretrain(tiny_pretraining_model, teacher_tokenizer, pairs, steps=12, batch_size=8, lr=3e-3,
                       progress=False)
    assert set(history) == {"total", "mlm", "nsp"} and len(history["total"]) == 12
    assert sum(history["total"][-3:]) < sum(history["total"][:3])
    predictions = fill_mask(tiny_pretraining_model, teacher_tokenizer, "The bank [MASK] rates.", k=4)
    assert len(predictions) == 1 and len(predictions[0]) == 4
    with pytest.raises(ValueError, match="no \\[MASK\\]"):
        fill_mask(tiny_pretraining_model, teacher_tokenizer, "No mask here.")


def test_build_pretraining_model_keeps_the_teacher_encoder(teacher_bert):
    from tinybert_ref.pretraining import build_pretraining_model

    model, tokenizer = build_pretraining_model("minilm")
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    torch.testing.assert_close(model.bert.encoder.layer[0].attention.self.query.weight,
                               teacher_bert.encoder.layer[0].attention.self.query.weight)
    again, _ = build_pretraining_model("minilm")
    torch.testing.assert_close(model.cls.seq_relationship.weight, again.cls.seq_relationship.weight)  # seeded


def test_masking_figure_draws_every_token(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from tinybert_ref.pretraining import masking_figure

    original = ["[CLS]", "shares", "rose", "on", "monday", "[SEP]"]
    shown = ["[CLS]", "[MASK]", "cat", "on", "monday", "[SEP]"]
    fig = masking_figure(original, shown, [False, True, True, True, False, False], per_row=4, title="t")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("[MASK]") == 1 and "cat" in texts and texts.count("on") == 2  # shown + original below
    assert len(fig.axes[0].get_legend().get_texts()) == 4
    fig.savefig(tmp_path / "masking.png", dpi=40)
    with pytest.raises(ValueError, match="same sequence"):
        masking_figure(original, shown[:3], [True] * 6)
