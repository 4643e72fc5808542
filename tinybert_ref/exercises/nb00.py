"""Checkers for notebook 00 (welcome): count a model's parameters, pick the TinyBERT4 shape.

Both answers are plain values (an int, a dict), checked by `checker.ValueExercise`.
"""

from __future__ import annotations

from ..models import STUDENT_PRESETS, count_parameters
from .checker import CheckResult, Mistake, ValueExercise, expect_type

__all__ = ["q1", "q2", "tinybert4_shape"]


# --------------------------------------------------------------------------- q1: count parameters
def _probe_models() -> list[tuple]:
    """A tiny BertModel with frozen embeddings and a tiny BertForMaskedLM (decoder tied to embeddings)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertModel

    config = BertConfig(vocab_size=1000, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        frozen, tied = BertModel(config), BertForMaskedLM(config)
    for parameter in frozen.embeddings.parameters():
        parameter.requires_grad_(False)
    return [(frozen,), (tied,)]


def _encoder_only(model) -> int:
    bert = getattr(model, "bert", model)
    return sum(p.numel() for p in bert.encoder.parameters())


q1 = ValueExercise(
    name="count the parameters",
    hints=[
        "Every nn.Module has .parameters(); each parameter is a tensor with .numel() entries.",
        "Count frozen parameters too (requires_grad=False still takes memory), and count a tensor shared by "
        "two modules once: model.parameters() already yields each shared tensor once.",
        "return sum(p.numel() for p in model.parameters())",
    ],
    reference=count_parameters,
    probes=_probe_models,
    describe=lambda args: f"a tiny {type(args[0]).__name__}",
    inspect=expect_type(int, "a whole number (int) of parameters: the count itself, not millions or a tensor"),
    mistakes=[
        Mistake("counted_tensors", lambda m: len(list(m.parameters())),
                "you counted the parameter tensors, not the numbers inside them; sum p.numel() over them"),
        Mistake("trainable_only", lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad),
                "you counted only trainable parameters (requires_grad); frozen ones are part of the model too"),
        Mistake("counted_tied_twice", lambda m: sum(t.numel() for t in m.state_dict().values()),
                "you summed the state_dict, which lists a tied tensor (the MLM decoder = the word embeddings) "
                "twice; model.parameters() yields it once"),
        Mistake("encoder_only", _encoder_only,
                "you counted the Transformer layers only; the embeddings (30522 x hidden in BERT) are "
                "parameters too, and in a small model they are most of them"),
    ],
    success="you can count a model's parameters, frozen ones included and tied ones once.",
)


# --------------------------------------------------------------------------- q2: the TinyBERT4 shape
SHAPE_KEYS = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads")
_OTHER_SHAPES = {
    "tinybert6_shape": ({"num_hidden_layers": 6, "hidden_size": 768, "intermediate_size": 3072,
                         "num_attention_heads": 12}, "that is TinyBERT6 (6 / 768 / 3072 / 12), not TinyBERT4"),
    "teacher_shape": ({"num_hidden_layers": 12, "hidden_size": 768, "intermediate_size": 3072,
                       "num_attention_heads": 12}, "that is the teacher BERT-base (12 / 768 / 3072 / 12)"),
    "minilm_shape": ({"num_hidden_layers": 6, "hidden_size": 384, "intermediate_size": 1536,
                      "num_attention_heads": 12}, "that is our offline teacher MiniLM-L6 (6 / 384 / 1536 / 12)"),
}


def tinybert4_shape() -> dict[str, int]:
    """The paper's TinyBERT4 (Section 4.2): 4 layers, hidden 312, FFN 1200, 12 heads (BertConfig names)."""
    return dict(STUDENT_PRESETS["tinybert4"])


def _inspect_shape(got, expected, args):
    if not isinstance(got, dict):
        return CheckResult(False, "wrong_type", f"expected a dict with keys {', '.join(SHAPE_KEYS)}, got "
                           f"{type(got).__name__}")
    missing = [key for key in SHAPE_KEYS if key not in got]
    if missing:
        return CheckResult(False, "missing_keys", f"the dict lacks {', '.join(missing)}; use BertConfig's names "
                           f"{', '.join(SHAPE_KEYS)}")
    got = {key: got[key] for key in SHAPE_KEYS}
    for code, (shape, message) in _OTHER_SHAPES.items():
        if got == shape:
            return CheckResult(False, code, message + "; see Section 4.2 of the paper")
    wrong = [f"{key} = {got[key]!r} (expected {expected[key]})" for key in SHAPE_KEYS if got[key] != expected[key]]
    if wrong:
        return CheckResult(False, "values", "wrong: " + "; ".join(wrong))
    return None


def _only_shape_keys(got, args):
    """Extra keys (e.g. vocab_size) do not fail the comparison: keep the four shape keys when all are there."""
    return {key: got[key] for key in SHAPE_KEYS} if isinstance(got, dict) and set(SHAPE_KEYS) <= set(got) else got


q2 = ValueExercise(
    name="the TinyBERT4 shape",
    hints=[
        "The paper's Section 4.2 gives TinyBERT4 as layers / hidden / FFN / heads.",
        "TinyBERT4 keeps 12 heads; its hidden size 312 = 12 x 26 and its FFN is about 4 x hidden.",
        'return {"num_hidden_layers": 4, "hidden_size": 312, "intermediate_size": 1200, "num_attention_heads": 12}',
    ],
    reference=tinybert4_shape,
    normalise=_only_shape_keys,
    inspect=_inspect_shape,
    success="you can write the student's shape in BertConfig's words; build_student(your_dict, teacher.config) builds it.",
)
