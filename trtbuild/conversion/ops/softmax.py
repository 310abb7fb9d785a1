"""Softmax and log-softmax over any dim: softmax as TensorRT's fused SoftMax layer."""

from __future__ import annotations

import torch

from ..context import normalize_dim
from ..registry import converter

aten = torch.ops.aten


def _compute_dtype(ctx, x, half_to_float=False, dtype=None):
    """torch computes in `dtype` when given, and in float32 for half_to_float."""
    return ctx.cast(x, dtype or (torch.float32 if half_to_float else ctx.dtype_of(x)))


def _over_dim(fn):
    """Run fn(ctx, x, axis_mask). TensorRT's SoftMax needs 2 dims: 0-d and 1-d inputs get leading unit dims."""

    def run(ctx, x, dim):
        rank = ctx.rank(x)
        if rank < 2:
            grown = ctx.reshape(x, (1,) * (2 - rank) + ctx.shape(x))
            return ctx.reshape(fn(ctx, grown, 1 << 1), ctx.shape(x))
        return fn(ctx, x, 1 << normalize_dim(dim, rank))

    return run


@_over_dim
def _softmax(ctx, x, axes):
    layer = ctx.network.add_softmax(x)
    layer.axes = axes
    return ctx.out(layer)


@_over_dim
def _log_softmax(ctx, x, axes):
    """x - max - log(sum(exp(x - max))): log(softmax(x)) would underflow to -inf far below the max."""
    op = ctx.trt.ElementWiseOperation
    peak = ctx.out(ctx.network.add_reduce(x, ctx.trt.ReduceOperation.MAX, axes, True))
    shifted = ctx.elementwise(x, peak, op.SUB)
    exp = ctx.out(ctx.network.add_unary(shifted, ctx.trt.UnaryOperation.EXP))
    total = ctx.out(ctx.network.add_reduce(exp, ctx.trt.ReduceOperation.SUM, axes, True))
    return ctx.elementwise(shifted, ctx.out(ctx.network.add_unary(total, ctx.trt.UnaryOperation.LOG)), op.SUB)


@converter(aten._softmax.default)
def softmax(ctx, node, input, dim, half_to_float):
    return _softmax(ctx, _compute_dtype(ctx, input, half_to_float), dim)


@converter(aten.softmax.int)
def softmax_int(ctx, node, input, dim, dtype=None):
    return _softmax(ctx, _compute_dtype(ctx, input, dtype=dtype), dim)


@converter(aten._log_softmax.default)
def log_softmax(ctx, node, input, dim, half_to_float):
    return _log_softmax(ctx, _compute_dtype(ctx, input, half_to_float), dim)


@converter(aten.log_softmax.int)
def log_softmax_int(ctx, node, input, dim, dtype=None):
    return _log_softmax(ctx, _compute_dtype(ctx, input, dtype=dtype), dim)
