"""Quantize and dequantize layers, from TensorRT's documented semantics (IQuantizeLayer,
IDequantizeLayer in NvInfer.h):

  quantize:   clamp(round(x / scale) + zero_point), rounding ties to even, clamped to the output
              type's range (INT8 [-128, 127]; FP8 [-448, 448], rounded to the nearest E4M3 value)
  dequantize: (x - zero_point) * scale

The scale is a scalar (per tensor) or a 1-D tensor along `axis` (per channel); block scales (the
same rank as the input) are not evaluated. The zero point (input 2) is optional and must be zero.

x / scale is computed as x times the float32 reciprocal of the scale, which is how torch's quantize
ops (and so the fake-quantized model verify compares with) compute it. The two differ in the last
bit now and then, which flips a value lying on a rounding boundary by one quantization step; in a
deep network flips cascade (resnet50, random weights: max rel error 1.1e-2 against the
fake-quantized model with a float32 division, 9.4e-3 with a float64 one, 0 with the reciprocal).
A GPU may round either way: what this layer pins down is the rounding mode and the clamping.
"""

from __future__ import annotations

import torch

from .base import EvaluationError, describe, given, handles

_RANGES = {"INT8": (-128.0, 127.0), "FP8": (-448.0, 448.0)}


def _broadcast(layer, value: torch.Tensor, x: torch.Tensor, what: str) -> torch.Tensor:
    """A scale or zero point shaped to broadcast against x: scalar, or 1-D along `layer.axis`."""
    if value.dim() == 0 or value.numel() == 1 and value.dim() <= 1:
        return value.reshape(())
    if value.dim() != 1:
        raise EvaluationError(f"{describe(layer)}: block quantization ({what} of rank {value.dim()}) is not supported")
    axis = layer.axis % x.dim()
    if value.numel() != x.shape[axis]:
        raise EvaluationError(f"{describe(layer)}: {what} has {value.numel()} values for axis {axis} of size "
                              f"{x.shape[axis]}")
    return value.reshape([-1 if d == axis else 1 for d in range(x.dim())])


@handles("QUANTIZE", "IQuantizeLayer")
def _quantize(layer, xs, ev):
    x = xs[0].float()
    scale = _broadcast(layer, xs[1].float(), x, "scale")
    zero = given(xs, 2)
    q = x * (1.0 / scale)  # see the module docstring: x / scale, as a float32 reciprocal multiply
    kind = layer.to_type.name
    if kind == "INT8":
        q = torch.round(q)  # torch.round rounds half to even
    elif kind != "FP8":
        raise EvaluationError(f"{describe(layer)}: quantizing to {kind} is not supported")
    if zero is not None:
        q = q + _broadcast(layer, zero.double(), x, "zero point")
    lo, hi = _RANGES[kind]
    q = q.clamp(lo, hi)
    # FP8: the cast to float8_e4m3fn (the declared output type) rounds to the nearest E4M3 value, ties to even
    return q.float() if kind == "FP8" else q


@handles("DEQUANTIZE", "IDequantizeLayer")
def _dequantize(layer, xs, ev):
    x = xs[0].double()
    zero = given(xs, 2)
    if zero is not None:
        x = x - _broadcast(layer, zero.double(), x, "zero point")
    return x * _broadcast(layer, xs[1].double(), x, "scale")
