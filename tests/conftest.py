"""Shared fixtures: the real MiniLM teacher (loaded once) and tiny random BERT configurations."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def teacher_dir():
    """Folder of the packaged all-MiniLM-L6-v2 BERT (6 layers, hidden 384, 12 heads)."""
    from tinybert_ref.assets import minilm_path

    return minilm_path()


@pytest.fixture(scope="session")
def teacher_tokenizer(teacher_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(teacher_dir)


@pytest.fixture(scope="session")
def teacher_bert(teacher_dir):
    """The real pretrained MiniLM as a plain `transformers` BertModel, eval mode (no dropout)."""
    from transformers import BertModel

    return BertModel.from_pretrained(teacher_dir).eval()


@pytest.fixture
def tiny_config():
    """Factory for small random BERT configs that share the MiniLM vocabulary size."""
    from transformers import BertConfig

    def make(layers=2, hidden=48, heads=12, ffn=96, num_labels=2, **kwargs):
        settings = dict(
            vocab_size=30522,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=ffn,
            max_position_embeddings=512,
            num_labels=num_labels,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        return BertConfig(**{**settings, **kwargs})

    return make
