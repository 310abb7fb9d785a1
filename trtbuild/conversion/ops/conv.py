"""Convolution and transposed convolution (1-D via a unit spatial dim, 2-D, 3-D)."""

from __future__ import annotations

import torch

from ...lowering.quantize import KEEP_UNFOLDED
from ..registry import converter

aten = torch.ops.aten


def _static_kernel(node) -> str | None:
    """A kernel computed at run time is an input of the layer, but its shape sets the layer's size."""
    from ..interpreter import node_args

    weight = node_args(node)["weight"]
    shape = weight.meta["val"].shape if isinstance(weight, torch.fx.Node) else ()
    if any(not isinstance(d, int) for d in shape):
        return "the kernel's shape must be static (it sets the size of TensorRT's convolution)"
    return None


def _no_quantized_transposed(node) -> str | None:
    """A quantized kernel (the dequantized output of an int8/fp8 constant) goes in as the layer's input 1,
    like any kernel computed at run time; for a transposed convolution that is not known to build."""
    from ..interpreter import node_args

    weight = node_args(node)["weight"]
    quantized = isinstance(weight, torch.fx.Node) and weight.target in KEEP_UNFOLDED
    return "a quantized transposed convolution is not supported" if quantized and node_args(node).get("transposed") else None


@converter(aten.convolution.default, checks=(_static_kernel, _no_quantized_transposed))
def convolution(ctx, node, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """Weights are constants, or tensors computed at run time (the kernel as the layer's input 1, a
    bias added afterwards). A transposed convolution's output_padding extends the output at the end:
    TensorRT crops less there, and pads with zeros (before the bias) where it would have to crop < 0."""
    shape = tuple(weight.shape)
    one_d = len(shape) == 3
    if one_d:  # TensorRT convolves 2-D and 3-D: add a trailing unit dim and drop it after
        input = _reshape_placeholders(ctx, input, ctx.rank(input) + 1)
        weight = weight.unsqueeze(-1) if isinstance(weight, torch.Tensor) else ctx.reshape(weight, shape + (1,))
        shape = shape + (1,)
        stride, padding, dilation, output_padding = [*stride, 1], [*padding, 0], [*dilation, 1], [*output_padding, 0]
    kernel = shape[2:]
    dtype = ctx.dtype_of(input)
    empty = ctx.trt.Weights(ctx.trt_dtype(dtype))
    w = ctx.weights(weight, "kernel") if isinstance(weight, torch.Tensor) else empty
    folded_bias = isinstance(bias, torch.Tensor) and not (transposed and any(p > q for p, q in zip(output_padding, padding)))
    b = ctx.weights(bias, "bias") if folded_bias else empty
    if transposed:
        layer = ctx.network.add_deconvolution_nd(input, shape[1] * groups, kernel, w, b)
        layer.pre_padding = tuple(padding)
        layer.post_padding = tuple(max(0, p - q) for p, q in zip(padding, output_padding))
    else:
        layer = ctx.network.add_convolution_nd(input, shape[0], kernel, w, b)
        layer.padding_nd = tuple(padding)
    if not isinstance(weight, torch.Tensor):
        layer.set_input(1, ctx.cast(weight, dtype))
    layer.stride_nd = tuple(stride)
    layer.dilation_nd = tuple(dilation)
    layer.num_groups = groups
    out = ctx.out(layer)
    if transposed:
        out = _extend_end(ctx, out, [max(0, q - p) for p, q in zip(padding, output_padding)])
    if bias is not None and not folded_bias:
        channels = ctx.reshape(ctx.cast(ctx.tensor(bias), dtype), (1, -1) + (1,) * len(kernel))
        out = ctx.elementwise(out, channels, ctx.trt.ElementWiseOperation.SUM)
    return _reshape_placeholders(ctx, out, ctx.rank(out) - 1) if one_d else out


def _extend_end(ctx, x, extra):
    """Zeros appended after the last element of each spatial dim (`extra` per spatial dim)."""
    if not any(extra):
        return x
    rank = ctx.rank(x)
    grow = [0] * (rank - len(extra)) + list(extra)
    sizes = [ctx.size_math(ctx.size_of(x, d), grow[d], "SUM") for d in range(rank)]
    layer = ctx.network.add_slice(x, (0,) * rank, (1,) * rank, (1,) * rank)
    layer.set_input(2, ctx.shape_from(sizes))
    layer.mode = ctx.trt.SampleMode.FILL
    return ctx.out(layer)


def _per_dim(value, n):
    """conv2d accepts `stride=[2]` for `[2, 2]`."""
    value = list(value) if isinstance(value, (list, tuple)) else [value]
    return value * n if len(value) == 1 else value


@converter(aten.conv1d.default, aten.conv2d.default, aten.conv3d.default, checks=_static_kernel)
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
