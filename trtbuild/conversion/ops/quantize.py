"""Quantize and dequantize (torchao PT2E's `quantized_decomposed` ops) -> TensorRT Q/DQ layers.

TensorRT's Q/DQ are symmetric: y = clamp(round_half_even(x / scale), type range) for INT8, a
saturating cast to E4M3 for FP8; DQ is q * scale. (torch's FP8 quantize rounds to an integer first:
the converter reproduces that, see `quantize_per_tensor`.) So zero points must be 0 and the op's range the
type's full range; anything else stays in torch. Scales are per tensor (0-d) or per channel (1-D
along `axis`). The converted network is strongly typed: Q outputs INT8/FP8, DQ outputs float32.
"""

from __future__ import annotations

import operator

import numpy as np
import torch

from ...lowering.quantize import qd
from ..registry import converter

# What TensorRT's Q/DQ layers clamp to, by quantized dtype.
TRT_RANGES = {torch.int8: (-128, 127), torch.float8_e4m3fn: (-448, 448)}


def _constant_value(node: torch.fx.Node, arg):
    if isinstance(arg, torch.fx.Node):
        return operator.attrgetter(arg.target)(node.graph.owning_module) if arg.op == "get_attr" else None
    return arg


def tensorrt_form(node: torch.fx.Node) -> str | None:
    """Symmetric (zero point 0), over the whole INT8/FP8 range, with constant scales."""
    from ..interpreter import node_args

    args = node_args(node)
    dtype = args["dtype"]
    if dtype not in TRT_RANGES:
        return f"quantized type {dtype} has no TensorRT Q/DQ"
    if (args["quant_min"], args["quant_max"]) != TRT_RANGES[dtype]:
        lo, hi = TRT_RANGES[dtype]
        return f"range [{args['quant_min']}, {args['quant_max']}] is not TensorRT's {dtype} range [{lo}, {hi}]"
    zero = _constant_value(node, args.get("zero_point", args.get("zero_points")))
    if zero is None or _constant_value(node, args.get("scale", args.get("scales"))) is None:
        return "scale and zero point must be constants"
    if bool(torch.as_tensor(zero).ne(0).any()):
        return "zero point is not 0 (TensorRT quantizes symmetrically)"
    return None


def _scale(ctx, scale):
    return ctx.constant(np.asarray(scale.float().numpy() if isinstance(scale, torch.Tensor) else scale,
                                   dtype=np.float32))


@converter(qd.quantize_per_tensor.default, checks=tensorrt_form)
def quantize_per_tensor(ctx, node, input, scale, zero_point, quant_min, quant_max, dtype):
    x = ctx.cast(ctx.tensor(input), torch.float32)
    if dtype == torch.float8_e4m3fn:
        # torch's op rounds x * (1 / scale) to an integer before the cast to FP8, where TensorRT's FP8
        # quantize rounds to the nearest FP8 value: do torch's rounding first, then quantize with scale 1.
        x = ctx.elementwise(x, ctx.constant(np.float32(1.0 / scale)), ctx.trt.ElementWiseOperation.PROD)
        x = ctx.out(ctx.network.add_unary(x, ctx.trt.UnaryOperation.ROUND))
        scale = 1.0
    return ctx.out(ctx.network.add_quantize(x, _scale(ctx, scale), ctx.trt_dtype(dtype)))


@converter(qd.dequantize_per_tensor.default, checks=tensorrt_form)
def dequantize_per_tensor(ctx, node, input, scale, zero_point, quant_min, quant_max, dtype, out_dtype=None):
    layer = ctx.network.add_dequantize(ctx.tensor(input), _scale(ctx, scale), ctx.trt.float32)
    return ctx.cast(ctx.out(layer), out_dtype or torch.float32)


@converter(qd.dequantize_per_channel.default, checks=tensorrt_form)
def dequantize_per_channel(ctx, node, input, scales, zero_points, axis, quant_min, quant_max, dtype,
                           out_dtype=None):
    layer = ctx.network.add_dequantize(ctx.tensor(input), _scale(ctx, scales), ctx.trt.float32)
    layer.axis = axis
    return ctx.cast(ctx.out(layer), out_dtype or torch.float32)
