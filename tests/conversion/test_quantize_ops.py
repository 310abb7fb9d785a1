"""Numeric tests of the Q/DQ converters (torchao PT2E's `quantized_decomposed` ops): engine network
in reference execution vs torch's own implementation of the ops, exactly."""

from __future__ import annotations

import pytest
import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401  (registers the ops)
import torch.nn.functional as F

from .harness import Fn, check_converted

qd = torch.ops.quantized_decomposed
I8 = (-128, 127, torch.int8)
F8 = (-448, 448, torch.float8_e4m3fn)
COVERS = ("quantized_decomposed.quantize_per_tensor.default", "quantized_decomposed.dequantize_per_tensor.default",
          "quantized_decomposed.dequantize_per_channel.default")


def fake_quant(x, scale, spec=I8):
    return qd.dequantize_per_tensor(qd.quantize_per_tensor(x, scale, 0, *spec), scale, 0, *spec)


def int8_weights(w, axis=0):
    """Symmetric per-channel int8 weights and their scales, as convert_pt2e folds them."""
    dims = [d for d in range(w.dim()) if d != axis]
    scales = w.abs().amax(dim=dims) / 127.5
    q = qd.quantize_per_channel(w, scales, torch.zeros_like(scales, dtype=torch.int64), axis, *I8)
    return {"wq": q, "ws": scales, "wz": torch.zeros_like(scales, dtype=torch.int64)}


def test_int8_quantize_rounds_half_to_even_and_clamps():
    # scale 1/8 makes x / scale exact: 0.0625 -> 0.5 -> 0, 0.1875 -> 1.5 -> 2, -0.3125 -> -2.5 -> -2; +-40 clamp
    x = torch.tensor([[0.0625, 0.1875, -0.3125, 40.0, -40.0, 0.3, -0.01, 15.9]])
    converted = check_converted(Fn(lambda s, x: fake_quant(x, 0.125) * 1.0), (x,), rtol=0, atol=0)
    assert {"quantized_decomposed.quantize_per_tensor.default",
            "quantized_decomposed.dequantize_per_tensor.default"} <= set(converted)


def test_int8_conv_and_linear_with_per_channel_weights():
    conv = int8_weights(torch.randn(6, 4, 3, 3))
    lin = {f"l{k[1:]}": v for k, v in int8_weights(torch.randn(5, 6 * 8 * 8)).items()}

    def fn(s, x):
        w = qd.dequantize_per_channel(s.wq, s.ws, s.wz, 0, *I8)
        y = F.relu(F.conv2d(fake_quant(x, 0.02), w, s.b, padding=1))
        lw = qd.dequantize_per_channel(s.lq, s.ls, s.lz, 0, *I8)
        return F.linear(fake_quant(y.flatten(1), 0.05), lw)

    converted = check_converted(Fn(fn, {**conv, **lin, "b": torch.randn(6)}), (torch.randn(2, 4, 8, 8),),
                                rtol=1e-5, atol=1e-5)
    assert "quantized_decomposed.dequantize_per_channel.default" in converted
    assert "aten.conv2d.default" in converted and "aten.linear.default" in converted


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_dequantize_per_channel_scales_along_its_axis(axis):
    q = torch.randint(-128, 128, (3, 4), dtype=torch.int8)
    size = q.shape[axis]
    params = {"q": q, "s": torch.linspace(0.5, 4.0, size), "z": torch.zeros(size, dtype=torch.int64)}
    converted = check_converted(Fn(lambda s, x: x + qd.dequantize_per_channel(s.q, s.s, s.z, axis, *I8), params),
                                (torch.randn(2, 3, 4),), rtol=0, atol=0)
    assert "quantized_decomposed.dequantize_per_channel.default" in converted


def test_fp8_quantize_and_fp8_weights():
    w = torch.randn(6, 4, 3, 3)
    wscale = float(w.abs().max()) / 448
    params = {"wq": qd.quantize_per_tensor(w, wscale, 0, *F8)}

    def fn(s, x):
        weight = qd.dequantize_per_tensor(s.wq, wscale, 0, *F8)
        return F.conv2d(fake_quant(x, 0.01, F8), weight)

    # values far out of range (clamped to +-448 steps) and small ones (torch rounds x / scale to integers)
    x = torch.randn(1, 4, 8, 8) * torch.tensor([0.05, 1.0, 3.0, 10.0]).reshape(1, 4, 1, 1)
    converted = check_converted(Fn(fn, params), (x,), rtol=1e-5, atol=1e-5, compute_capabilities=("8.9",))
    assert "quantized_decomposed.quantize_per_tensor.default" in converted
