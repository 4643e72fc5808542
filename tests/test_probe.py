"""probe.py: the frozen-feature linear probe that benchmarks.general_distillation applies to each checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel

from tinybert_ref.probe import probe_accuracy, sentence_features

SENTENCES = ["Stocks fall as oil price climbs", "Chelsea beat Arsenal", "Vote"]


@pytest.fixture(scope="module")
def tiny(teacher_tokenizer):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(teacher_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, num_labels=3)
    return BertForSequenceClassification(config).train()


def test_features_are_the_mean_over_real_tokens_whatever_the_padding(tiny, teacher_tokenizer):
    batched = sentence_features(tiny, teacher_tokenizer, SENTENCES)
    assert batched.shape == (3, 32) and batched.dtype == np.float32
    for i, sentence in enumerate(SENTENCES):  # alone: no padding at all
        assert np.allclose(batched[i], sentence_features(tiny, teacher_tokenizer, [sentence])[0], atol=1e-5)
    inputs = teacher_tokenizer([SENTENCES[0]], return_tensors="pt")
    with torch.no_grad():
        tiny.eval()
        direct = tiny.bert(**inputs).last_hidden_state[0].mean(0).numpy()
        tiny.train()
    assert np.allclose(batched[0], direct, atol=1e-5)
    assert np.allclose(sentence_features(tiny, teacher_tokenizer, SENTENCES, batch_size=2), batched, atol=1e-5)
    assert tiny.training  # the model's mode is left as it was (eval inside: no dropout)
    assert np.allclose(sentence_features(tiny.bert, teacher_tokenizer, SENTENCES), batched, atol=1e-6)  # a BertModel too
    assert sentence_features(tiny, teacher_tokenizer, []).shape == (0, 32)


def test_the_probe_reads_what_the_features_hold(tiny, teacher_tokenizer):
    words = ["market", "football", "election"]
    train = [f"{w} {x}" for x in ("today", "news", "report", "latest", "update", "story") for w in words]
    train_labels = [i for _ in range(6) for i in range(3)]
    test = [f"{w} {x}" for x in ("again", "now") for w in words]
    assert probe_accuracy(tiny, teacher_tokenizer, train, train_labels, test, [0, 1, 2, 0, 1, 2]) == 1.0
    # identical texts carry no label: every prediction is one class, so accuracy is that class's share
    same = probe_accuracy(tiny, teacher_tokenizer, ["same headline"] * 6, [0, 1, 0, 1, 0, 1], ["same headline"] * 4, [0, 0, 0, 1])
    assert same in (0.25, 0.75)
    with pytest.raises(ValueError, match="at least two classes"):
        probe_accuracy(tiny, teacher_tokenizer, train, [0] * len(train), test, [0] * len(test))


def test_a_plain_encoder_is_probed_like_a_classifier(teacher_tokenizer):
    torch.manual_seed(1)
    encoder = BertModel(BertConfig(vocab_size=len(teacher_tokenizer), hidden_size=16, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=32, max_position_embeddings=64))
    assert sentence_features(encoder, teacher_tokenizer, SENTENCES).shape == (3, 16)
