"""The layer-wise Transformer-distillation objective (TinyBERT, Eq. 6 with Eq. 11 for 0 <= m <= M).

    L_model = sum_m lambda_m L_layer(S_m, T_g(m))                          (Eq. 6)
    L_layer = L_embd (m = 0); L_hidn + L_attn (0 < m <= M); L_pred (m = M + 1)   (Eq. 11)

`TransformerDistillationLoss` sums the embedding, attention and hidden-state losses of
`tinybert_ref.losses` over the layers paired by a mapping from `tinybert_ref.mapping`, with every
lambda_m = 1 as in the official code, and holds the learnable projection(s) W. The prediction layer
(m = M + 1) is a separate step in TinyBERT's task distillation: use `prediction_objective` (Eq. 10).
Taught in notebooks 03 (mapping) and 04 (losses); used by general distillation and task step 1.

What `train.train` optimises is an *objective*: a small `nn.Module` whose `forward(batch)` returns a dict
of losses with a "total" entry: `FineTuning` (hard labels), `IntermediateDistillation` (Eq. 6/11, the
loss above; general distillation and task step 1) or `PredictionDistillation` (Eq. 10, task step 2).
Taught in notebooks 05 and 07.
"""

from __future__ import annotations

import torch
from torch import nn

from .internals import enable_scores, forward_with_internals
from .losses import attention_loss, embedding_loss, hidden_loss, prediction_loss
from .mapping import validate_mapping

__all__ = ["FineTuning", "IntermediateDistillation", "PredictionDistillation", "TransformerDistillationLoss",
           "prediction_objective"]

# Eq. 10 needs no module state: the prediction objective is the loss function itself.
prediction_objective = prediction_loss


class TransformerDistillationLoss(nn.Module):
    """Embedding, attention and hidden-state distillation over mapped layers (Eq. 6, 7-9, 11).

    mapping: [g(0), ..., g(M)] with g(0) = 0, e.g. `layer_mapping(4, 12)` = [0, 3, 6, 9, 12].
    Projections are nn.Linear(student_hidden_size, teacher_hidden_size). The paper writes separate
    W_e (Eq. 9) and W_h (Eq. 8); the official code uses ONE shared projection (`fit_dense`) for the
    embeddings and every hidden layer, and so do we by default. shared_projection=False gives
    separate `embedding_projection` (W_e) and `hidden_projection` (W_h, shared by all layers as in
    Eq. 8). Only the projections a switched-on loss uses are created. They start as in the official
    code's BERT init: weights N(0, 0.02), zero bias.

    forward(student_internals, teacher_internals, attention_mask) takes any objects with
    `hidden_states` (M+1 / N+1 tensors (B, L, D') / (B, L, D)) and `attention_scores` (M / N tensors
    (B, H, L, L)) and returns a dict of scalar tensors: "total", "embedding", "attention",
    "hidden", and per student layer m "attention/m" and "hidden/m". Switched-off parts are absent.
    """

    def __init__(self, student_hidden_size: int, teacher_hidden_size: int, mapping,
                 use_embedding: bool = True, use_attention: bool = True, use_hidden: bool = True,
                 shared_projection: bool = True):
        super().__init__()
        if not (use_embedding or use_attention or use_hidden):
            raise ValueError("all three layer losses are switched off; keep at least one of use_embedding, "
                             "use_attention, use_hidden, or use prediction_objective for logits only")
        self.mapping = validate_mapping(mapping)
        self.student_hidden_size, self.teacher_hidden_size = student_hidden_size, teacher_hidden_size
        self.use_embedding, self.use_attention, self.use_hidden = use_embedding, use_attention, use_hidden
        self.shared_projection = shared_projection
        if shared_projection and (use_embedding or use_hidden):
            self.projection = self._new_projection()
        if not shared_projection and use_embedding:
            self.embedding_projection = self._new_projection()
        if not shared_projection and use_hidden:
            self.hidden_projection = self._new_projection()

    @property
    def student_layers(self) -> int:
        """M, the number of student Transformer layers the mapping covers."""
        return len(self.mapping) - 1

    def projection_for(self, part: str) -> nn.Linear:
        """The projection W used by `part` ("embedding" for W_e, "hidden" for W_h)."""
        if part not in ("embedding", "hidden"):
            raise ValueError(f"unknown part {part!r}; projections exist for 'embedding' and 'hidden'")
        name = "projection" if self.shared_projection else f"{part}_projection"
        if not hasattr(self, name):
            raise ValueError(f"no {part} projection: the {part} loss is switched off (use_{part}=False)")
        return getattr(self, name)

    def forward(self, student_internals, teacher_internals, attention_mask: torch.Tensor | None = None) -> dict:
        self._check_internals(student_internals, teacher_internals)
        student_hidden, teacher_hidden = student_internals.hidden_states, teacher_internals.hidden_states
        parts = {}
        if self.use_embedding:
            parts["embedding"] = embedding_loss(student_hidden[0], teacher_hidden[0], self.projection_for("embedding"))
        if self.use_attention:
            self._check_heads(student_internals.attention_scores[0], teacher_internals.attention_scores[0])
            for m, n in self._layer_pairs():
                parts[f"attention/{m}"] = attention_loss(student_internals.attention_scores[m - 1],
                                                         teacher_internals.attention_scores[n - 1], attention_mask)
        if self.use_hidden:
            projection = self.projection_for("hidden")
            for m, n in self._layer_pairs():
                parts[f"hidden/{m}"] = hidden_loss(student_hidden[m], teacher_hidden[n], projection)
        return _with_totals(parts)

    def extra_repr(self) -> str:
        used = [name for name, on in (("embedding", self.use_embedding), ("attention", self.use_attention),
                                      ("hidden", self.use_hidden)) if on]
        return f"mapping={self.mapping}, losses={used}, shared_projection={self.shared_projection}"

    def _new_projection(self) -> nn.Linear:
        projection = nn.Linear(self.student_hidden_size, self.teacher_hidden_size)
        nn.init.normal_(projection.weight, std=0.02)
        nn.init.zeros_(projection.bias)
        return projection

    def _layer_pairs(self):
        return [(m, self.mapping[m]) for m in range(1, len(self.mapping))]

    def _check_internals(self, student_internals, teacher_internals) -> None:
        self._check_depths(student_internals, teacher_internals)
        widths = student_internals.hidden_states[0].shape[-1], teacher_internals.hidden_states[0].shape[-1]
        expected = self.student_hidden_size, self.teacher_hidden_size
        if (self.use_embedding or self.use_hidden) and tuple(widths) != expected:
            raise ValueError(f"this loss projects student width {expected[0]} to teacher width {expected[1]} but got "
                             f"hidden states of width {widths[0]} (student) and {widths[1]} (teacher); build it with "
                             f"TransformerDistillationLoss({widths[0]}, {widths[1]}, mapping)")

    def _check_depths(self, student_internals, teacher_internals) -> None:
        student_depth = len(student_internals.hidden_states) - 1
        teacher_depth = len(teacher_internals.hidden_states) - 1
        if student_depth != self.student_layers:
            raise ValueError(f"the mapping {self.mapping} is for a student with {self.student_layers} layers but the "
                             f"student has {student_depth}; rebuild it with layer_mapping({student_depth}, "
                             f"{teacher_depth}, strategy)")
        if self.mapping[-1] > teacher_depth:
            raise ValueError(f"the mapping {self.mapping} uses teacher layer {self.mapping[-1]} but the teacher has "
                             f"{teacher_depth} layers; rebuild it with layer_mapping({student_depth}, {teacher_depth}, "
                             "strategy)")
        if self.use_attention:
            counts = len(student_internals.attention_scores), len(teacher_internals.attention_scores)
            if counts != (student_depth, teacher_depth):
                raise ValueError(f"expected one score tensor per layer ({student_depth} student, {teacher_depth} "
                                 f"teacher), got {counts[0]} and {counts[1]}; hidden_states must have one more "
                                 "entry (the embeddings) than attention_scores")

    def _check_heads(self, student_scores: torch.Tensor, teacher_scores: torch.Tensor) -> None:
        if student_scores.dim() == 4 and teacher_scores.dim() == 4 and student_scores.shape[1] != teacher_scores.shape[1]:
            raise ValueError(f"attention transfer compares head by head, but the student has {student_scores.shape[1]} "
                             f"heads and the teacher {teacher_scores.shape[1]}; give the student "
                             f"num_attention_heads={teacher_scores.shape[1]} (TinyBERT keeps the teacher's head "
                             "count) or switch the attention loss off (use_attention=False)")


def _with_totals(parts: dict) -> dict:
    """Add "attention" and "hidden" (sums over layers) and "total" (Eq. 6 with every lambda_m = 1)."""
    result = {"embedding": parts["embedding"]} if "embedding" in parts else {}
    for family in ("attention", "hidden"):
        layer_terms = [value for key, value in parts.items() if key.startswith(family + "/")]
        if layer_terms:
            result[family] = torch.stack(layer_terms).sum()
    total = torch.stack(list(result.values())).sum()
    return {"total": total, **result, **{k: v for k, v in parts.items() if "/" in k}}


# ------------------------------------------------------------------ what `train.train` optimises
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _inputs(batch: dict) -> dict:
    return {key: batch[key] for key in _MODEL_INPUTS if key in batch}


class _FrozenTeacher:
    """Holds the teacher outside the module tree, so checkpoints and DDP never carry its weights."""

    def __init__(self, teacher: nn.Module):
        self.model = teacher.eval().requires_grad_(False)


class FineTuning(nn.Module):
    """Task fine-tuning with the hard labels (teacher stage, and the student-without-distillation
    baseline): cross-entropy (or MSE for regression) computed by the `transformers` head."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.student = model

    def forward(self, batch: dict) -> dict:
        outputs = self.student(**_inputs(batch), labels=batch["labels"])
        return {"total": outputs.loss}


class IntermediateDistillation(nn.Module):
    """Transformer-layer distillation (Eq. 6 with Eq. 11 for 0 <= m <= M): embedding, attention-score
    and hidden-state losses of the mapped layers. Used by general distillation (pretrained teacher,
    corpus) and task distillation step 1 (fine-tuned teacher, augmented task data).

    `layer_loss` is a `TransformerDistillationLoss` (holds the projections).
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, layer_loss: nn.Module):
        super().__init__()
        self.student = enable_scores(student)
        self.layer_loss = layer_loss
        self._teacher = _FrozenTeacher(enable_scores(teacher))

    def forward(self, batch: dict) -> dict:
        inputs = _inputs(batch)
        with torch.no_grad():
            teacher_internals = forward_with_internals(self._teacher.model, **inputs)
        student_internals = forward_with_internals(self.student, **inputs)
        return self.layer_loss(student_internals, teacher_internals, inputs.get("attention_mask"))


class PredictionDistillation(nn.Module):
    """Prediction-layer distillation (Eq. 10, m = M+1): soft cross-entropy between the teacher's and
    the student's logits at temperature t; the paper uses no hard labels here."""

    def __init__(self, student: nn.Module, teacher: nn.Module, temperature: float = 1.0):
        super().__init__()
        self.student = student
        self.temperature = temperature
        self._teacher = _FrozenTeacher(teacher)

    def forward(self, batch: dict) -> dict:
        inputs = _inputs(batch)
        teacher_logits = batch.get("teacher_logits")  # computed once per example (pipeline, step 2)
        if teacher_logits is None:
            with torch.no_grad():
                teacher_logits = self._teacher.model(**inputs).logits
        student_logits = self.student(**inputs).logits
        return {"total": prediction_loss(student_logits, teacher_logits, self.temperature)}
