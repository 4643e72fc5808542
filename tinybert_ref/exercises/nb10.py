"""Checkers for notebook 10 (myths appendix): q1 the parameter count of a plain BERT from its shape
(TinyBERT shares and prunes nothing), q2 a loss of bf16 tensors computed in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checker import Mistake, TensorExercise, ValueExercise, expect_type

__all__ = ["q1", "q2", "bert_parameters", "mse_in_float32"]


# --------------------------------------------------------------------------- q1: parameters from the shape
def bert_parameters(shape: dict, biases: bool = True, layer_norms: bool = True, positions: bool = True,
                    pooler: bool = True, ffn_matrices: int = 2, attention_matrices: int = 4) -> int:
    """Parameters of a `transformers` BertModel (pooler included) with this shape: vocab_size V,
    max_position_embeddings P, type_vocab_size T, hidden_size D, intermediate_size F,
    num_hidden_layers N. The keyword switches leave parts out (they build the checker's mistakes).

        embeddings  V*D + P*D + T*D + LayerNorm 2D
        per layer   Q, K, V, output: 4 (D*D + D); LayerNorm 2D; FFN D*F + F + F*D + D; LayerNorm 2D
        pooler      D*D + D
    """
    V, D, F_, N = shape["vocab_size"], shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    P, T = shape["max_position_embeddings"], shape["type_vocab_size"]
    bias = 1 if biases else 0
    norm = 2 * D if layer_norms else 0
    embeddings = V * D + ((P + T) * D if positions else 0) + norm
    attention = attention_matrices * (D * D + bias * D) + norm
    ffn = (D * F_ + bias * F_) + (ffn_matrices - 1) * (F_ * D + bias * D) + norm
    return embeddings + N * (attention + ffn) + (D * D + bias * D if pooler else 0)


TINYBERT4 = {"vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2, "hidden_size": 312,
             "intermediate_size": 1200, "num_hidden_layers": 4}
MINILM = {**TINYBERT4, "hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6}
SMALL = {**TINYBERT4, "vocab_size": 1000, "max_position_embeddings": 64, "hidden_size": 48,
         "intermediate_size": 96, "num_hidden_layers": 3}


q1 = ValueExercise(
    name="parameters of a plain BERT from its shape",
    hints=[
        "Go module by module: embeddings (word, position, token type, LayerNorm), N identical layers (attention "
        "Q, K, V and output projections, LayerNorm, the two FFN matrices, LayerNorm) and the pooler. Every "
        "Linear has a bias and every LayerNorm a weight and a bias.",
        "With V, P, T, D, F, N from the dict: embeddings V*D + P*D + T*D + 2D; one layer 4(D*D + D) + 2D + "
        "(D*F + F) + (F*D + D) + 2D; pooler D*D + D.",
        "return V*D + P*D + T*D + 2*D + N*(4*(D*D + D) + 2*D + D*F + F + F*D + D + 2*D) + D*D + D",
    ],
    reference=bert_parameters,
    probes=lambda: [(dict(TINYBERT4),), (dict(MINILM),), (dict(SMALL),)],
    describe=lambda args: "shape " + ", ".join(f"{k} {v}" for k, v in args[0].items()),
    inspect=expect_type(int, "a whole number (int) of parameters: the count, not millions"),
    mistakes=[
        Mistake("forgot_biases", lambda s: bert_parameters(s, biases=False),
                "the biases are missing: every Linear layer has one (D or F numbers)"),
        Mistake("forgot_layer_norms", lambda s: bert_parameters(s, layer_norms=False),
                "the LayerNorms are missing: one after the embeddings and two per layer, each with 2D numbers"),
        Mistake("forgot_position_embeddings", lambda s: bert_parameters(s, positions=False),
                "the position (P x D) and token-type (T x D) embeddings are missing"),
        Mistake("forgot_pooler", lambda s: bert_parameters(s, pooler=False),
                "the pooler (a D x D Linear on [CLS]) is missing; BertModel has one"),
        Mistake("one_ffn_matrix", lambda s: bert_parameters(s, ffn_matrices=1),
                "the FFN has two matrices, D -> F and F -> D; you counted one"),
        Mistake("forgot_attention_output", lambda s: bert_parameters(s, attention_matrices=3),
                "attention has four D x D projections: Q, K, V and the output projection after the heads"),
    ],
    success="your count from the shape alone equals count_parameters of the real model: nothing is shared or "
            "pruned, a TinyBERT is simply a smaller BERT.",
)


# --------------------------------------------------------------------------- q2: a loss in float32
def mse_in_float32(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
    """MSE of two (B, L, D) tensors computed in float32 whatever their dtype, as every loss in
    tinybert_ref.losses is (Eq. 8 without the projection). Returns a 0-d float32 tensor."""
    return F.mse_loss(student_hidden.float(), teacher_hidden.float())


def _q2_inputs(seed: int):
    def make():
        generator = torch.Generator().manual_seed(seed)
        teacher = torch.randn(2, 6, 32, generator=generator)
        student = teacher + 0.3 * torch.randn(2, 6, 32, generator=generator)
        return student.to(torch.bfloat16), teacher.to(torch.bfloat16)
    return make


q2 = TensorExercise(
    name="a bf16 forward, a float32 loss",
    hints=[
        "Under bf16 mixed precision the hidden states arrive in bfloat16 (8 bits of mantissa, about 3 decimal "
        "digits). The loss must not be computed at that precision.",
        "Cast BOTH inputs to float32 (.float(), not .double()) before anything else (the subtraction too: the difference of two close bf16 "
        "numbers is where precision is lost), then take the mean of the squared differences.",
        "return ((student_hidden.float() - teacher_hidden.float()) ** 2).mean()",
    ],
    reference=mse_in_float32,
    make_inputs=_q2_inputs(0),
    extra_inputs=[_q2_inputs(1)],
    describe="a 0-d tensor ()",
    atol=1e-6,
    rtol=1e-5,
    mistakes=[
        Mistake("computed_in_bf16", lambda s, t: F.mse_loss(s, t),
                "the loss was computed in bfloat16 (the result has ~3 significant digits). Cast the inputs to "
                "float32 first, as tinybert_ref.losses does"),
        Mistake("computed_in_float64", lambda s, t: F.mse_loss(s.double(), t.double()),
                "you computed the loss in float64. The point is float32: it holds the precision a loss needs "
                "(24 bits of mantissa against bf16's 8) at half float64's memory, and float64 is slow on GPUs and "
                "missing on some (Apple's MPS). Cast the inputs with .float(), as tinybert_ref.losses does"),
        Mistake("subtracted_in_bf16", lambda s, t: (s - t).float().pow(2).mean(),
                "you cast to float32 after subtracting: the difference was already rounded to bf16. Cast the "
                "inputs first"),
        Mistake("sum_not_mean", lambda s, t: (s.float() - t.float()).pow(2).sum(),
                "you summed the squared errors; MSE is their mean"),
        Mistake("root_mean_square", lambda s, t: (s.float() - t.float()).pow(2).mean().sqrt(),
                "that is the root of the MSE; Eq. 8 uses the MSE itself"),
    ],
    success="you compute a loss in float32 from bf16 activations, as the package does inside autocast.",
)
