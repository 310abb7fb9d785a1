"""Convolution and transposed convolution (1-D via a unit spatial dim, 2-D, 3-D)."""

from __future__ import annotations

import torch

from ...lowering.quantize import KEEP_UNFOLDED
from ..registry import converter
from .checks import constant_arg

aten = torch.ops.aten


def _no_output_padding(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    if args["transposed"] and any(args["output_padding"]):
        return "transposed convolution with output_padding is not supported"
    return None


def _constant_or_dequantized_weight(node) -> str | None:
    """Weights are constants, or (quantized) the dequantized output of an int8/fp8 constant."""
    from ..interpreter import node_args

    weight = node_args(node)["weight"]
    if isinstance(weight, torch.fx.Node) and weight.target in KEEP_UNFOLDED and weight.args[0].op == "get_attr":
        if node_args(node).get("transposed"):
            return "a quantized transposed convolution is not supported"
        return constant_arg("bias")(node)
    return constant_arg("weight", "bias")(node)


@converter(aten.convolution.default, checks=(_constant_or_dequantized_weight, _no_output_padding))
def convolution(ctx, node, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    quantized = isinstance(weight, ctx.trt.ITensor)  # Q/DQ: the kernel is a DequantizeLayer's output
    one_d = len(weight.shape) == 3
    if one_d:  # TensorRT convolves 2-D and 3-D: add a trailing unit dim and drop it after
        input = _reshape_placeholders(ctx, input, ctx.rank(input) + 1)
        weight = _reshape_placeholders(ctx, weight, 4) if quantized else weight.unsqueeze(-1)
        stride, padding, dilation = [*stride, 1], [*padding, 0], [*dilation, 1]
    kernel = tuple(weight.shape[2:])
    w = ctx.trt.Weights(weight.dtype) if quantized else ctx.weights(weight, "kernel")
    b = ctx.weights(bias, "bias") if bias is not None else ctx.trt.Weights(w.dtype)
    if transposed:
        out_channels = weight.shape[1] * groups
        layer = ctx.network.add_deconvolution_nd(input, out_channels, kernel, w, b)
    else:
        layer = ctx.network.add_convolution_nd(input, weight.shape[0], kernel, w, b)
    layer.stride_nd = tuple(stride)
    layer.padding_nd = tuple(padding)
    layer.dilation_nd = tuple(dilation)
    layer.num_groups = groups
    if quantized:
        layer.set_input(1, weight)
    out = ctx.out(layer)
    return _reshape_placeholders(ctx, out, ctx.rank(out) - 1) if one_d else out


def _per_dim(value, n):
    """conv2d accepts `stride=[2]` for `[2, 2]`."""
    value = list(value) if isinstance(value, (list, tuple)) else [value]
    return value * n if len(value) == 1 else value


@converter(aten.conv1d.default, aten.conv2d.default, aten.conv3d.default, checks=_constant_or_dequantized_weight)
def conv_nd(ctx, node, input, weight, bias=None, stride=(1,), padding=(0,), dilation=(1,), groups=1):
    """The un-decomposed convs that torch.export keeps when lowering skips run_decompositions."""
    n = len(weight.shape) - 2
    return convolution(ctx, node, input, weight, bias, _per_dim(stride, n), _per_dim(padding, n),
                       _per_dim(dilation, n), False, [0] * n, groups)


def _reshape_placeholders(ctx, x, rank):
    """Add a trailing unit dim (rank+1) or drop it (rank-1), copying the other dims (works when dynamic)."""
    layer = ctx.network.add_shuffle(x)
    layer.reshape_dims = (0,) * min(rank, ctx.rank(x)) + (1,) * max(0, rank - ctx.rank(x))
    layer.zero_is_placeholder = True
    return ctx.out(layer)
