"""Workshop solutions for notebook 11 (shipping the student). Each passes `tinybert_ref.exercises.nb11`.

Written the way a participant would, from what the int8 graph stores, not by calling the package.
"""

import torch


def my_int8_weight(weight):
    """q1: symmetric int8, one scale for the matrix: s = max|w| / 127, q = round(w / s); returns s * q."""
    step = weight.abs().max() / 127
    codes = (weight / step).round().clamp(-127, 127)
    return codes * step


def my_uint8_activation(x):
    """q2: DynamicQuantizeLinear and back: range [min(x, 0), max(x, 0)] in 255 steps, zero point z."""
    low = torch.minimum(x.min(), torch.zeros(()))
    high = torch.maximum(x.max(), torch.zeros(()))
    step = (high - low) / 255
    zero_point = (-low / step).round().clamp(0, 255)
    codes = ((x / step).round() + zero_point).clamp(0, 255)
    return (codes - zero_point) * step
