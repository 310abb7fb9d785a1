"""Max and average pooling, adaptive average pooling.

Torch's ceil_mode drops a last window that would start in the right padding; TensorRT's
EXPLICIT_ROUND_UP does not. For max pooling we therefore compute torch's output size ourselves and
express it as explicit post-padding (padded values are -inf, so extra padding cannot win a max).
"""

from __future__ import annotations

import math
import operator

import torch

from ..registry import converter
from .checks import only_first_output_used

aten = torch.ops.aten


def torch_pool_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """Output length of a torch pooling window (the rule in ATen's pooling_output_shape)."""
    span = size + 2 * pad - kernel
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_args(kernel_size, stride, padding):
    kernel = list(kernel_size) * (2 // len(kernel_size)) if len(kernel_size) == 1 else list(kernel_size)
    stride = kernel if not stride else (list(stride) * 2 if len(stride) == 1 else list(stride))
    padding = list(padding) * 2 if len(padding) == 1 else list(padding)
    return kernel, stride, padding


def _no_dilation(node) -> str | None:
    from ..interpreter import node_args

    dilation = node_args(node).get("dilation") or [1]
    return None if all(d == 1 for d in dilation) else "dilated pooling is not supported by TensorRT"


def _rank4(node) -> str | None:
    val = node.args[0].meta.get("val")
    if val is None or val.dim() != 4:
        return "only 4-D (N, C, H, W) pooling is converted"
    if not all(isinstance(d, int) for d in val.shape[2:]):
        return "pooling needs static spatial dims (H, W)"
    return None


@converter(aten.max_pool2d.default, aten.max_pool2d_with_indices.default,
           checks=(_rank4, _no_dilation))
def max_pool2d(ctx, node, input, kernel_size, stride=(), padding=(0,), dilation=(1,), ceil_mode=False):
    kernel, stride, padding = _pool_args(kernel_size, stride, padding)
    spatial = ctx.shape(input)[2:]
    post = []
    for size, k, s, p in zip(spatial, kernel, stride, padding):
        out = torch_pool_size(size, k, s, p, ceil_mode)
        # the least post-padding giving `out` windows; TensorRT refuses a negative one, and any value up
        # to s - 1 above the least gives the same count (floor), so 0 is exact where the least is negative
        post.append(max((out - 1) * s + k - size - p, 0))
    layer = ctx.network.add_pooling_nd(input, ctx.trt.PoolingType.MAX, tuple(kernel))
    layer.stride_nd = tuple(stride)
    layer.pre_padding = tuple(padding)
    layer.post_padding = tuple(post)
    out = ctx.out(layer)
    return (out, None) if node.target is aten.max_pool2d_with_indices.default else out


def _avg_supported(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    if args.get("divisor_override") is not None:
        return "avg_pool2d with divisor_override is not supported"
    if args.get("ceil_mode"):
        kernel, stride, padding = _pool_args(args["kernel_size"], args["stride"], args["padding"])
        shape = node.args[0].meta["val"].shape[2:]
        for size, k, s, p in zip(shape, kernel, stride, padding):
            if torch_pool_size(size, k, s, p, True) != torch_pool_size(size, k, s, p, False):
                return "avg_pool2d ceil_mode with a partial last window is not supported"
    return None


@converter(aten.avg_pool2d.default, checks=(_rank4, _avg_supported))
def avg_pool2d(ctx, node, input, kernel_size, stride=(), padding=(0,), ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    kernel, stride, padding = _pool_args(kernel_size, stride, padding)
    layer = ctx.network.add_pooling_nd(input, ctx.trt.PoolingType.AVERAGE, tuple(kernel))
    layer.stride_nd = tuple(stride)
    layer.padding_nd = tuple(padding)
    layer.average_count_excludes_padding = not count_include_pad
    return ctx.out(layer)


def _adaptive_even(node) -> str | None:
    val = node.args[0].meta.get("val")
    out = node.args[1]
    if val is None or val.dim() != 4:
        return "only 4-D adaptive pooling is converted"
    spatial = val.shape[2:]
    if list(out) == [1, 1]:
        return None
    if any(not isinstance(d, int) for d in spatial):
        return "adaptive pooling to a size other than 1x1 needs static spatial dims"
    if any(o is None or d % o for d, o in zip(spatial, out)):
        return f"adaptive pooling from {tuple(spatial)} to {tuple(out)} has uneven windows"
    return None


@converter(aten.adaptive_avg_pool2d.default, aten._adaptive_avg_pool2d.default, checks=_adaptive_even)
def adaptive_avg_pool2d(ctx, node, input, output_size):
    if list(output_size) == [1, 1]:
        return ctx.out(ctx.network.add_reduce(input, ctx.trt.ReduceOperation.AVG, 0b1100, True))
    spatial = ctx.shape(input)[2:]
    kernel = tuple(operator.floordiv(d, o) for d, o in zip(spatial, output_size))
    layer = ctx.network.add_pooling_nd(input, ctx.trt.PoolingType.AVERAGE, kernel)
    layer.stride_nd = kernel
    return ctx.out(layer)
