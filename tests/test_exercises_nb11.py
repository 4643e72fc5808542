"""Checkers of notebook 11 (shipping the student): the harness's table for each exercise, and the references
equal what onnxruntime computes (its int8 weights after quantize_dynamic, its DynamicQuantizeLinear operator)."""

import numpy as np
import onnx
import pytest
import torch
from exercise_harness import Table, exercise_tests
from onnx import TensorProto, helper, numpy_helper

from tinybert_ref.exercises import nb11
from tinybert_ref.export import quantize_int8


def _step(w):
    return w.abs().max() / 127


def _min_max_uint8(w):
    low, high = min(w.min(), 0), max(w.max(), 0)
    s = (high - low) / 255
    z = torch.round(-low / s)
    return ((w / s).round() + z).clamp(0, 255).sub(z) * s


def _range(x):
    return torch.clamp(x.min(), max=0), torch.clamp(x.max(), min=0)


def _dql(x, levels=255, with_zero_point=True, cut=torch.round):
    low, high = _range(x)
    s = (high - low) / levels
    z = torch.round(-low / s).clamp(0, 255) if with_zero_point else 0
    return ((cut(x / s) + z).clamp(0, 255) - z) * s


def _fake_quantize(x):
    """PyTorch's own fake quantisation with DynamicQuantizeLinear's scale and zero point: the same scheme."""
    low, high = _range(x)
    s = float((high - low) / 255)
    return torch.fake_quantize_per_tensor_affine(x, s, int(torch.round(-low / s)), 0, 255)


TABLES = {
    "q1": Table("my_int8_weight", wrong=[
        ("not_dequantized", lambda w: (w / _step(w)).round().clamp(-127, 127)),
        ("not_dequantized", lambda w: (w / _step(w)).round().to(torch.int8)),  # the int8 codes themselves
        ("not_rounded", lambda w: w * 1.0),
        ("not_rounded", lambda w: (w / _step(w)) * _step(w)),
        ("truncated", lambda w: (w / _step(w)).to(torch.int8).float() * _step(w)),
        ("truncated", lambda w: (w / _step(w)).int() * _step(w)),
        ("truncated", lambda w: torch.floor(w / _step(w)) * _step(w)),
        ("scale_from_max", lambda w: (w / (w.max() / 127)).round().clamp(-127, 127) * (w.max() / 127)),
        ("range_128", lambda w: (w / (w.abs().max() / 128)).round().clamp(-127, 127) * (w.abs().max() / 128)),
        ("range_128", lambda w: (w / (w.abs().max() / 128)).round().clamp(-128, 127) * (w.abs().max() / 128)),
        ("asymmetric", _min_max_uint8),
        ("convention_per_channel", lambda w: (w / (w.abs().amax(1, keepdim=True) / 127)).round()
         * (w.abs().amax(1, keepdim=True) / 127)),
        ("convention_per_channel", lambda w: (w / (w.abs().amax(0) / 127)).round() * (w.abs().amax(0) / 127)),
        ("shape", lambda w: (w / _step(w)).round()[0] * _step(w)),
        ("wrong_type", lambda w: w.numpy()),
        ("wrong_type", lambda w: w.abs().max(1)),
        ("dtype", lambda w: (w.double() / _step(w)).round() * _step(w)),
        ("values", lambda w: torch.round(w, decimals=2)),
        ("raises", lambda w: w.quantize_per_tensor(0.01)),
    ], passes=[
        lambda w: torch.round(w * 127 / w.abs().max()) * w.abs().max() / 127,  # no clamp is needed
        lambda w: torch.fake_quantize_per_tensor_affine(w, float(_step(w)), 0, -127, 127),
    ]),
    "q2": Table("my_uint8_activation", wrong=[
        ("not_dequantized", lambda x: (x / ((_range(x)[1] - _range(x)[0]) / 255)).round()
         .add(torch.round(-_range(x)[0] / ((_range(x)[1] - _range(x)[0]) / 255))).clamp(0, 255)),
        ("symmetric", lambda x: (x / (x.abs().max() / 127)).round().clamp(-127, 127) * (x.abs().max() / 127)),
        ("no_zero_point", lambda x: _dql(x, with_zero_point=False)),
        ("zero_not_in_range", lambda x: ((x - x.min()) / ((x.max() - x.min()) / 255)).round().clamp(0, 255)
         * ((x.max() - x.min()) / 255) + x.min()),
        ("range_256", lambda x: _dql(x, levels=256)),
        ("truncated", lambda x: _dql(x, cut=torch.trunc)),
        ("shape", lambda x: _dql(x).mean(-1)),
        ("wrong_type", lambda x: _dql(x).tolist()),
        ("values", lambda x: x.half().float()),
        ("raises", lambda x: x.clamp(0, 255).byte() @ x),
    ], passes=[_fake_quantize]),
}

test_passes, test_not_attempted, test_wrong_answer, test_catalogue = exercise_tests(nb11, TABLES)


# ------------------------------------------------------------------ the references are onnxruntime's schemes
@pytest.mark.parametrize("seed", range(6))
def test_q2_reference_equals_onnxruntime_operator(seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 7, 40, generator=generator) * (seed + 1) + (seed % 3 - 1)
    if seed % 2:
        x = x.abs() + 0.2  # all positive: the range is widened to include 0
    q, scale, zero_point = nb11.ort_dynamic_quantize_linear(x.numpy())
    expected = (q.astype(np.float32) - zero_point) * scale
    assert np.array_equal(nb11.uint8_activation_roundtrip(x).numpy(), expected)


def test_q1_reference_equals_onnxruntime_int8_weights(tmp_path):
    """A one-MatMul graph through the export's quantize_int8: its int8 weight times its scale is the reference."""
    weight = (torch.randn(32, 24, generator=torch.Generator().manual_seed(3)) * 0.07 - 0.01).numpy()
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "one_matmul",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 24])],
                              initializer=[numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 10)
    onnx.save(model, tmp_path / "fp32.onnx")
    quantize_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx")
    stored = {t.name: numpy_helper.to_array(t) for t in onnx.load(tmp_path / "int8.onnx").graph.initializer}
    codes, scale, zero_point = stored["w_quantized"], stored["w_scale"], stored["w_zero_point"]
    assert codes.dtype == np.int8 and zero_point == 0  # symmetric: no zero point
    assert np.array_equal(codes.astype(np.float32) * scale, nb11.int8_weight_roundtrip(torch.from_numpy(weight)).numpy())
