"""tinybert_ref.attention: the from-scratch layers equal transformers' BertLayer on the real MiniLM weights."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import BertModel

from tinybert_ref.attention import (
    Encoder,
    EncoderLayer,
    MultiHeadSelfAttention,
    scaled_dot_product_attention,
)
from tinybert_ref.internals import enable_scores, forward_with_internals

SENTENCES = ["Shares rise.", "The central bank raised interest rates again on Thursday, surprising markets"]


@pytest.fixture(scope="module")
def padded_batch(teacher_tokenizer):
    batch = dict(teacher_tokenizer(SENTENCES, padding=True, return_tensors="pt"))
    assert (batch["attention_mask"] == 0).any(), "the batch must contain padding"
    return batch


@pytest.fixture(scope="module")
def teacher_hidden(teacher_bert, padded_batch):
    """transformers' hidden states of the padded batch: [0] embeddings, [i] output of BertLayer i."""
    with torch.no_grad():
        return teacher_bert(**padded_batch, output_hidden_states=True).hidden_states


def test_worked_example_by_hand():
    """Two keys, d_k = 4: scores = q.k / 2; the padded key gets probability 0."""
    q = torch.tensor([[[[1.0, 0.0, 1.0, 0.0]]]])  # (B, H, L_q, d_k) = (1, 1, 1, 4)
    k = torch.tensor([[[[2.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 1.0]]]])  # (1, 1, 2, 4)
    v = torch.tensor([[[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]]])
    output, probabilities, scores = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(scores, torch.tensor([[[[2.0, 0.0]]]]))  # (1*2 + 1*2) / sqrt(4) = 2
    p = torch.tensor([2.0, 0.0]).softmax(-1)
    torch.testing.assert_close(probabilities, p.view(1, 1, 1, 2))
    torch.testing.assert_close(output, (p[0] * v[..., 0, :] + p[1] * v[..., 1, :]).unsqueeze(2))
    masked = scaled_dot_product_attention(q, k, v, mask=torch.tensor([[1, 0]]))
    assert masked.probabilities[..., 1].item() == 0.0 and masked.scores[..., 1].item() <= -1e30
    torch.testing.assert_close(masked.output, v[..., :1, :])


def test_matches_torch_sdpa_with_mask():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=generator) for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    output, probabilities, _ = scaled_dot_product_attention(q, k, v, mask)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask.bool()[:, None, None, :])
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(2, 3, 5))


def test_every_minilm_layer_equals_transformers(teacher_bert, teacher_hidden, padded_batch):
    mask = padded_batch["attention_mask"]
    differences = []
    with torch.no_grad():
        for index, bert_layer in enumerate(teacher_bert.encoder.layer):
            layer = EncoderLayer.from_bert_layer(bert_layer).eval()
            mine = layer(teacher_hidden[index], mask).output
            differences.append((mine - teacher_hidden[index + 1]).abs().max().item())
    message = "max |from-scratch - BertLayer| per MiniLM layer (all positions): " + ", ".join(
        f"{d:.1e}" for d in differences)
    print("\n" + message)
    assert len(differences) == 6 and max(differences) < 1e-5, message


def test_whole_stack_equals_transformers(teacher_bert, teacher_dir, teacher_hidden, padded_batch):
    mask = padded_batch["attention_mask"]
    eager = BertModel.from_pretrained(teacher_dir, attn_implementation="eager").eval()
    encoder = Encoder.from_bert(teacher_bert).eval()
    with torch.no_grad():
        hidden_states, scores = encoder(teacher_hidden[0], mask)
        eager_last = eager(**padded_batch).last_hidden_state
    assert len(hidden_states) == 7 and len(scores) == 6
    real = mask.bool()
    on_real = (hidden_states[-1] - teacher_hidden[-1])[real].abs().max().item()
    every = max((hidden_states[-1] - teacher_hidden[-1]).abs().max().item(),
                (hidden_states[-1] - eager_last).abs().max().item())
    message = (f"6-layer stack: max |from-scratch - transformers| on real tokens {on_real:.1e}, "
               f"all positions {every:.1e}")
    print("\n" + message)
    assert on_real < 1e-5, message
    # Padded query rows amplify float32 rounding through the stack (~1e-4, for eager and sdpa alike);
    # a dropped padding mask would move them by ~1.
    assert every < 1e-3, message


def test_scores_equal_internals_scores(teacher_bert, padded_batch):
    scores_teacher = enable_scores(copy.deepcopy(teacher_bert)).eval()
    encoder = Encoder.from_bert(scores_teacher).eval()
    real = padded_batch["attention_mask"].bool()
    real_pairs = (real[:, :, None] & real[:, None, :])[:, None]
    with torch.no_grad():
        internals = forward_with_internals(scores_teacher, **padded_batch)
        _, scores = encoder(internals.hidden_states[0], padded_batch["attention_mask"])
    on_real, every = 0.0, 0.0
    for mine, theirs in zip(scores, internals.attention_scores, strict=True):
        difference = (mine - theirs).abs()
        on_real = max(on_real, difference[real_pairs.expand_as(difference)].max().item())
        every = max(every, difference.max().item())
        assert torch.equal(mine <= -1e2, theirs <= -1e2), "the two disagree on which scores are masked"
    message = f"from-scratch vs internals scores: real pairs {on_real:.1e}, all positions {every:.1e}"
    assert on_real < 2e-5 and every < 1e-3, message


def test_bad_shapes_and_activations_raise(tiny_config):
    with pytest.raises(ValueError, match="not divisible by 7 heads"):
        MultiHeadSelfAttention(48, 7)
    relu_bert = BertModel(tiny_config(layers=1, hidden_act="relu"))
    with pytest.raises(ValueError, match="hidden_act='relu'"):
        EncoderLayer.from_bert_layer(relu_bert.encoder.layer[0])


def test_training_mode_applies_dropout_to_probabilities_only():
    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(16, 4, dropout=0.5).train()
    result = attention(torch.randn(2, 5, 16))
    assert result.output.shape == (2, 5, 16) and result.scores.shape == (2, 4, 5, 5)
    torch.testing.assert_close(result.probabilities.sum(-1), torch.ones(2, 4, 5))  # before dropout
