"""Checkers for notebook 11 (shipping the student): q1 the int8 weights of dynamic quantisation, q2 the uint8
activations it computes at run time (ONNX DynamicQuantizeLinear).

Both answers are "round trips": the values the int8 graph actually computes with (quantise, then
dequantise), so a wrong scheme shows as a deviation in the tensor's own units. The reference schemes are
onnxruntime's (`onnxruntime.quantization.quantize_dynamic`, weight_type QInt8, one scale per tensor);
`ort_dynamic_quantize_linear` runs onnxruntime's own operator, so the notebook and the tests can show
that the reference q2 equals it.
"""

from __future__ import annotations

import numpy as np
import torch

from .checker import Mistake, TensorExercise, convention

__all__ = ["q1", "q2", "int8_weight_roundtrip", "uint8_activation_roundtrip", "ort_dynamic_quantize_linear"]


# --------------------------------------------------------------------------- q1: int8 weights
def int8_weight_roundtrip(weight: torch.Tensor) -> torch.Tensor:
    """The weight as the int8 graph holds it: q = round(w / s) in [-127, 127] with s = max|w| / 127 (one
    scale for the whole tensor, symmetric: zero point 0), dequantised back to s * q. Same shape and dtype."""
    scale = weight.abs().max() / 127
    quantized = torch.clamp(torch.round(weight / scale), -127, 127)
    return quantized * scale


def _weights():
    generator = torch.Generator().manual_seed(11)
    return (torch.randn(24, 16, generator=generator) * 0.05,)


def _weights_skewed():
    """Most of the mass below zero, the largest magnitude negative: max(w) and max|w| differ a lot."""
    generator = torch.Generator().manual_seed(12)
    return (torch.randn(16, 24, generator=generator) * 0.05 - 0.04,)


def _codes(weight):
    return torch.clamp(torch.round(weight / (weight.abs().max() / 127)), -127, 127)


def _symmetric(weight, levels=127, scale=None):
    scale = weight.abs().max() / levels if scale is None else scale
    return torch.clamp(torch.round(weight / scale), -127, 127) * scale


def _asymmetric_uint8(weight):
    low, high = torch.clamp(weight.min(), max=0), torch.clamp(weight.max(), min=0)
    scale = (high - low) / 255
    zero_point = torch.round(-low / scale)
    return (torch.clamp(torch.round(weight / scale) + zero_point, 0, 255) - zero_point) * scale


def _per_row(weight, dim):
    scale = weight.abs().amax(dim=dim, keepdim=True) / 127
    return torch.clamp(torch.round(weight / scale), -127, 127) * scale


def _truncated(weight, cut):
    scale = weight.abs().max() / 127
    return cut(weight / scale) * scale


q1 = TensorExercise(
    name="int8 weights",
    hints=[
        "The int8 graph keeps integers q in [-127, 127] and ONE float scale s per weight matrix, and computes with "
        "s * q. Pick s so that the largest weight, positive or negative, lands exactly on +-127.",
        "s = max|w| / 127 (the absolute value: the largest weight may be negative); q = round(w / s), no zero "
        "point (0.0 must stay exactly 0); return s * q, not q.",
        "scale = weight.abs().max() / 127; return torch.clamp(torch.round(weight / scale), -127, 127) * scale",
    ],
    reference=int8_weight_roundtrip,
    make_inputs=_weights,
    extra_inputs=[_weights_skewed],
    describe="(out, in) = (24, 16)",
    locate=("row", "column"),
    atol=1e-6,
    mistakes=[
        Mistake("not_dequantized", lambda w: _codes(w), "you returned the integers q; return what the graph "
                "computes with, s * q"),
        Mistake("not_dequantized", lambda w: _codes(w).to(torch.int8), "you returned the int8 codes q; return "
                "what the graph computes with, s * q (a float tensor)"),
        Mistake("not_rounded", lambda w: w.clone(),
                "nothing was rounded: the values are the fp32 weights. q = round(w / s) is what makes them int8"),
        Mistake("truncated", lambda w: _truncated(w, torch.trunc),
                "w / s was truncated towards zero (e.g. .to(torch.int8) or int()), not rounded to the nearest "
                "integer: every weight moved towards 0 by up to one step s"),
        Mistake("truncated", lambda w: _truncated(w, torch.floor),
                "w / s was floored, not rounded to the nearest integer: every weight moved down by up to one step s"),
        Mistake("scale_from_max", lambda w: _symmetric(w, scale=w.max() / 127),
                "the scale came from max(w), not max|w|: the most negative weights are clipped at -127 s"),
        Mistake("range_128", lambda w: _symmetric(w, levels=128),
                "s = max|w| / 128 sends the largest weight to code 128, outside [-127, 127], so it is clipped: "
                "the largest weight must land exactly on 127, s = max|w| / 127"),
        Mistake("asymmetric", _asymmetric_uint8,
                "that is the activations' scheme (uint8 with a zero point, range [min, max]); weights are "
                "quantised symmetrically to int8 with zero point 0"),
        convention("per_channel", lambda w: _per_row(w, 1),
                   "one scale per row (quantize_dynamic(per_channel=True)) is a valid scheme; this course's export "
                   "uses one scale for the whole matrix (per_channel=False, onnxruntime's default)"),
        convention("per_channel", lambda w: _per_row(w, 0),
                   "one scale per column (quantize_dynamic(per_channel=True)) is a valid scheme; this course's "
                   "export uses one scale for the whole matrix (per_channel=False, onnxruntime's default)"),
    ],
    success="you can say what an int8 weight is: 255 levels, evenly spaced by s = max|w| / 127, with 0 exact. "
            "Try next: the error |w - s q| is at most s / 2; check it on a real matrix.",
)


# --------------------------------------------------------------------------- q2: uint8 activations
def uint8_activation_roundtrip(x: torch.Tensor) -> torch.Tensor:
    """ONNX DynamicQuantizeLinear, then back: the range [min(x, 0), max(x, 0)] (0 always inside) is split into
    255 steps s; zero point z = round(-min / s); q = clip(round(x / s) + z, 0, 255); returns (q - z) * s."""
    low, high = torch.clamp(x.min(), max=0), torch.clamp(x.max(), min=0)
    scale = (high - low) / 255
    zero_point = torch.clamp(torch.round(-low / scale), 0, 255)
    quantized = torch.clamp(torch.round(x / scale) + zero_point, 0, 255)
    return (quantized - zero_point) * scale


def _activations():
    generator = torch.Generator().manual_seed(21)
    return (torch.randn(4, 8, 16, generator=generator) * 1.5 + 0.3,)


def _positive_activations():
    """All positive (as after a GELU with a shift): a range taken without 0 would start above zero."""
    generator = torch.Generator().manual_seed(22)
    return (torch.rand(4, 8, 16, generator=generator) * 2 + 0.5,)


def _uint8(x, levels=255, zero_point=True, cut=torch.round):
    low, high = torch.clamp(x.min(), max=0), torch.clamp(x.max(), min=0)
    scale = (high - low) / levels
    z = torch.clamp(torch.round(-low / scale), 0, 255) if zero_point else torch.zeros(())
    return (torch.clamp(cut(x / scale) + z, 0, 255) - z) * scale


def _uint8_integers(x):
    low, high = torch.clamp(x.min(), max=0), torch.clamp(x.max(), min=0)
    scale = (high - low) / 255
    zero_point = torch.clamp(torch.round(-low / scale), 0, 255)
    return torch.clamp(torch.round(x / scale) + zero_point, 0, 255)


def _no_zero_in_range(x):
    """The range [min, max] without 0: a zero point that is no longer an integer code for 0.0."""
    low, high = x.min(), x.max()
    scale = (high - low) / 255
    zero_point = -low / scale
    return (torch.clamp(torch.round(x / scale + zero_point), 0, 255) - zero_point) * scale


q2 = TensorExercise(
    name="uint8 activations (DynamicQuantizeLinear)",
    hints=[
        "Activations are quantised while the graph runs, batch by batch, to uint8 codes 0..255: a scale s and a "
        "zero point z (the code that means 0.0) are computed from this very tensor.",
        "Take the range [min(x, 0), max(x, 0)] (0 must be inside, so that it has an exact code), s = range / "
        "255, z = round(-min / s), q = clip(round(x / s) + z, 0, 255); return (q - z) * s.",
        "low, high = torch.clamp(x.min(), max=0), torch.clamp(x.max(), min=0); s = (high - low) / 255; "
        "z = torch.round(-low / s); q = torch.clamp(torch.round(x / s) + z, 0, 255); return (q - z) * s",
    ],
    reference=uint8_activation_roundtrip,
    make_inputs=_activations,
    extra_inputs=[_positive_activations],
    describe="(B, L, D) = (4, 8, 16)",
    locate=("batch", "position", "feature"),
    atol=1e-6,
    mistakes=[
        Mistake("not_dequantized", _uint8_integers, "you returned the codes q (0..255); return (q - z) * s"),
        Mistake("symmetric", lambda x: _symmetric(x),
                "that is the weights' scheme (int8, symmetric, zero point 0); activations use uint8 with a zero "
                "point, so an all-positive or lopsided tensor does not waste half of the codes"),
        Mistake("no_zero_point", lambda x: _uint8(x, zero_point=False),
                "without a zero point every negative value is clipped to code 0: q = round(x / s) + z, with "
                "z = round(-min / s)"),
        Mistake("zero_not_in_range", _no_zero_in_range,
                "the range [min(x), max(x)] must be widened to include 0, so that 0.0 (padding, ReLU zeros) has "
                "an exact integer code"),
        Mistake("range_256", lambda x: _uint8(x, levels=256),
                "uint8 has 256 codes but 255 steps between 0 and 255: s = (max - min) / 255"),
        Mistake("truncated", lambda x: _uint8(x, cut=torch.trunc),
                "x / s was truncated, not rounded to the nearest integer"),
    ],
    success="you can say what DynamicQuantizeLinear does to each activation tensor: a fresh uint8 scale and zero "
            "point per batch, with 0.0 exact. That per-batch step is the 'dynamic' in dynamic quantisation.",
)


# --------------------------------------------------------------------------- the reveal: onnxruntime's own op
def ort_dynamic_quantize_linear(x) -> tuple[np.ndarray, float, int]:
    """(q, scale, zero_point) from onnxruntime's DynamicQuantizeLinear operator on float32 `x`, any shape."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "scale", "zero_point"])
    graph = helper.make_graph([node], "dynamic_quantize_linear",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("q", TensorProto.UINT8, list(x.shape)),
                               helper.make_tensor_value_info("scale", TensorProto.FLOAT, []),
                               helper.make_tensor_value_info("zero_point", TensorProto.UINT8, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, 10)  # what the installed onnxruntime reads, whatever onnx writes
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    q, scale, zero_point = session.run(None, {"x": x})
    return q, float(scale), int(zero_point)
