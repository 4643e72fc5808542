"""tinybert_ref.internals: pre-softmax scores and hidden states from an unmodified transformers BERT.

The scores are proved right by recomputing Q K^T / sqrt(d_k) from each layer's own query/key weights
on the real MiniLM teacher, with a padded batch (DESIGN.md section 8).
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from transformers import AttentionInterface, BertForSequenceClassification, BertModel

from tinybert_ref.internals import (
    ATTN_IMPLEMENTATION,
    Internals,
    enable_scores,
    forward_with_internals,
    scores_attention,
)

SENTENCES = ["Shares rise.", "The central bank raised interest rates again on Thursday, surprising markets"]
MASK_CLIP = -1e2  # the official TinyBERT loss sets scores <= -1e2 (padded keys) to 0


@pytest.fixture(scope="module")
def padded_batch(teacher_tokenizer):
    batch = teacher_tokenizer(SENTENCES, padding=True, return_tensors="pt")
    assert batch["attention_mask"].sum(1).tolist()[0] < batch["input_ids"].shape[1], "batch must be padded"
    return dict(batch)


@pytest.fixture(scope="module")
def scores_teacher(teacher_bert):
    """A copy of the session teacher switched to the score-returning attention (the fixture stays sdpa)."""
    return enable_scores(copy.deepcopy(teacher_bert)).eval()


def _recomputed_scores(layer, hidden):
    """Q K^T / sqrt(d_k) from the layer's own weights, no mask. hidden: (B, L, D) -> (B, H, L, L)."""
    attn = layer.attention.self
    batch, length, _ = hidden.shape
    shape = (batch, length, attn.num_attention_heads, attn.attention_head_size)
    query = attn.query(hidden).view(shape).transpose(1, 2)
    key = attn.key(hidden).view(shape).transpose(1, 2)
    return query @ key.transpose(-1, -2) / attn.attention_head_size**0.5


def _pair_mask(attention_mask):
    """(B, L) -> (B, 1, L, L): True where both query and key are real tokens."""
    real = attention_mask.bool()
    return (real[:, :, None] & real[:, None, :])[:, None]


def test_scores_equal_recomputed_qk_on_real_teacher(scores_teacher, padded_batch):
    with torch.no_grad():
        internals = forward_with_internals(scores_teacher, **padded_batch)
    config = scores_teacher.config
    batch, length = padded_batch["input_ids"].shape
    assert isinstance(internals, Internals) and internals.logits is None
    assert len(internals.hidden_states) == config.num_hidden_layers + 1
    assert len(internals.attention_scores) == config.num_hidden_layers
    real_pairs = _pair_mask(padded_batch["attention_mask"]).expand(-1, config.num_attention_heads, -1, -1)
    padded_keys = ~padded_batch["attention_mask"].bool()[:, None, None, :].expand_as(real_pairs)
    worst, largest = 0.0, 0.0
    with torch.no_grad():
        for index, layer in enumerate(scores_teacher.encoder.layer):
            scores = internals.attention_scores[index]
            assert scores.shape == (batch, config.num_attention_heads, length, length)
            expected = _recomputed_scores(layer, internals.hidden_states[index])
            worst = max(worst, (scores - expected)[real_pairs].abs().max().item())
            largest = max(largest, scores[real_pairs].abs().max().item())
            assert (scores[padded_keys] <= MASK_CLIP).all(), f"layer {index + 1}: padded keys not masked"
    # float32 rounding only: one ulp at the largest score (|A| ~ 28 in layer 1) is 1.9e-6
    message = (f"max |scores - recomputed QK^T/sqrt(d_k)| on real positions, {len(scores_teacher.encoder.layer)} "
               f"MiniLM layers: {worst:.2e} (largest |score| {largest:.1f})")
    print("\n" + message)
    assert worst < 1e-5, message


def _max_differences(internals, reference, attention_mask):
    """(max over all positions, max over real tokens) of |hidden - reference hidden| over every layer."""
    real = attention_mask.bool()
    every, on_real = 0.0, 0.0
    for mine, theirs in zip(internals.hidden_states, reference.hidden_states, strict=True):
        every = max(every, (mine - theirs).abs().max().item())
        on_real = max(on_real, (mine - theirs)[real].abs().max().item())
    return every, on_real


def test_hidden_states_equal_plain_sdpa_and_eager_forward(teacher_bert, teacher_dir, scores_teacher, padded_batch):
    eager = BertModel.from_pretrained(teacher_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        internals = forward_with_internals(scores_teacher, **padded_batch)
        sdpa_out = teacher_bert(**padded_batch, output_hidden_states=True)
        eager_out = eager(**padded_batch, output_hidden_states=True)
    assert teacher_bert.config._attn_implementation == "sdpa"
    torch.testing.assert_close(internals.hidden_states[-1], sdpa_out.last_hidden_state, atol=1e-3, rtol=0)
    every, on_real = _max_differences(internals, sdpa_out, padded_batch["attention_mask"])
    print(f"\nmax |hidden - sdpa hidden|: real tokens {on_real:.2e}, all positions {every:.2e}")
    assert on_real < 2e-5, f"real tokens differ from sdpa by {on_real:.2e}"
    # Padded rows amplify sdpa-vs-eager rounding (~1e-4 here); a dropped mask gives ~1 (next test).
    assert every < 1e-3, f"padded rows differ from sdpa by {every:.2e}: is the padding mask applied?"
    every_eager, _ = _max_differences(internals, eager_out, padded_batch["attention_mask"])
    assert every_eager < 1e-5, f"hidden states differ from eager attention by {every_eager:.2e}"


def test_a_dropped_padding_mask_would_be_caught(teacher_bert, teacher_dir, padded_batch):
    """The trap of DESIGN.md section 8: registering only the attention function drops the mask."""
    name = "tinybert_scores_test_without_mask"
    AttentionInterface.register(name, scores_attention)
    unmasked = BertModel.from_pretrained(teacher_dir, attn_implementation=name).eval()
    with torch.no_grad():
        outputs = unmasked(**padded_batch, output_hidden_states=True)
        reference = teacher_bert(**padded_batch, output_hidden_states=True)
    every, on_real = _max_differences(outputs, reference, padded_batch["attention_mask"])
    assert on_real > 0.1 and every > 0.1, f"a dropped mask should differ clearly, got {on_real:.2e}"


def test_no_padding_means_no_mask(scores_teacher, teacher_bert, teacher_tokenizer):
    batch = dict(teacher_tokenizer(["Shares rise sharply today"], return_tensors="pt"))
    with torch.no_grad():
        with_mask = forward_with_internals(scores_teacher, **batch)
        without_mask = forward_with_internals(scores_teacher, batch["input_ids"])
        reference = teacher_bert(**batch)
    for internals in (with_mask, without_mask):
        torch.testing.assert_close(internals.hidden_states[-1], reference.last_hidden_state, atol=2e-5, rtol=0)
        for index, layer in enumerate(scores_teacher.encoder.layer):
            scores = internals.attention_scores[index]
            assert (scores > MASK_CLIP).all(), "no padding: no score should carry a mask value"
            expected = _recomputed_scores(layer, internals.hidden_states[index])
            torch.testing.assert_close(scores, expected, atol=1e-5, rtol=0)


def _tiny_batch(lengths=(7, 4), vocab=30522, seed=0):
    generator = torch.Generator().manual_seed(seed)
    length = max(lengths)
    input_ids = torch.randint(1000, vocab, (len(lengths), length), generator=generator)
    attention_mask = torch.tensor([[1] * n + [0] * (length - n) for n in lengths])
    input_ids = input_ids.masked_fill(attention_mask == 0, 0)
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def test_gradients_flow_from_scores_to_student_query_weights(tiny_config):
    torch.manual_seed(0)
    student = enable_scores(BertForSequenceClassification(tiny_config(layers=2))).train()
    batch = _tiny_batch()
    internals = forward_with_internals(student, **batch)
    assert all(scores.requires_grad for scores in internals.attention_scores)
    loss = sum(torch.where(s <= MASK_CLIP, 0.0, s).pow(2).mean() for s in internals.attention_scores)
    loss.backward()
    for index, layer in enumerate(student.bert.encoder.layer):
        grad = layer.attention.self.query.weight.grad
        assert grad is not None, f"no gradient reached layer {index + 1}'s query weights"
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, f"layer {index + 1}: zero or non-finite"


def test_sequence_classifier_logits_and_dropout_match_eager(tiny_config):
    """Same seed, training mode (dropout on): the scores implementation consumes randomness as eager does."""
    config = tiny_config(layers=2)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.1  # the factory fixes them at 0
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    model.set_attn_implementation("eager")
    reference = copy.deepcopy(model).train()
    mine = enable_scores(model).train()
    batch = _tiny_batch()
    torch.manual_seed(1)
    expected = reference(**batch, output_hidden_states=True)
    torch.manual_seed(1)
    internals = forward_with_internals(mine, **batch)
    torch.testing.assert_close(internals.logits, expected.logits, atol=1e-6, rtol=0)
    torch.testing.assert_close(internals.hidden_states[-1], expected.hidden_states[-1], atol=1e-6, rtol=0)
    assert internals.logits.shape == (2, config.num_labels)


class _Wrapper(torch.nn.Module):
    """Stands in for DDP / accelerate wrappers: the model sits under `.module`."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, **kwargs):
        return self.module(**kwargs)


def test_switch_is_not_saved_and_wrappers_work(tiny_config, tmp_path):
    model = enable_scores(BertModel(tiny_config(layers=1))).eval()
    assert model.config._attn_implementation == ATTN_IMPLEMENTATION
    internals = forward_with_internals(_Wrapper(model), **_tiny_batch())
    assert len(internals.attention_scores) == 1
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert ATTN_IMPLEMENTATION not in json.dumps(saved), "the scores implementation must not be exported"
    assert BertModel.from_pretrained(tmp_path).config._attn_implementation == "sdpa"
    with pytest.raises(TypeError, match="not a `transformers` model"):
        enable_scores(torch.nn.Linear(2, 2))
