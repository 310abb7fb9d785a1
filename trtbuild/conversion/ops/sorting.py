"""Ops that find elements by value: argmax/argmin, max/min along a dim (values and indices), topk, sort.

torch documents argmax/argmin/max.dim as returning the FIRST index of the extreme value, and NaN as
the extreme of any slice that holds one. TensorRT's TopK documents neither its order among equal
values nor NaN handling, so these indices are computed from exactly specified layers instead:
the extreme by Reduce, its positions by EQUAL (or ISNAN when the slice has a NaN), and the smallest
such position by Reduce MIN. topk and sort need TopK itself; ties and NaN there follow TensorRT
(torch does not define the order of ties either, unless sort is asked to be stable, which is refused).
"""

from __future__ import annotations

import numpy as np
import torch

from ..context import normalize_dim
from ..registry import converter

aten = torch.ops.aten

MAX_TOPK = 3840  # TensorRT's largest k for TopK (ITopKLayer::setK)


def _numeric_input(node) -> str | None:
    val = node.args[0].meta.get("val")
    if val is None or val.dtype == torch.bool:
        return "needs a numeric input (TensorRT's Reduce and TopK reject bool)"
    return None


def _reduce(ctx, x, op, axis):
    return ctx.out(ctx.network.add_reduce(x, getattr(ctx.trt.ReduceOperation, op), 1 << axis, True))


def _extreme(ctx, x, axis, largest):
    """(values, first index) of the max (or min) along `axis`, keeping the dim; NaN wins, as in torch."""
    op = ctx.trt.ElementWiseOperation
    extreme = _reduce(ctx, x, "MAX" if largest else "MIN", axis)
    hits = ctx.elementwise(x, extreme, op.EQUAL)
    if ctx.dtype_of(x).is_floating_point:
        nan = ctx.out(ctx.network.add_unary(x, ctx.trt.UnaryOperation.ISNAN))
        has_nan = ctx.cast(_reduce(ctx, ctx.cast(nan, torch.int32), "MAX", axis), torch.bool)
        hits = ctx.select(has_nan, nan, hits)
        extreme = ctx.select(has_nan, ctx.tensor(float("nan"), like=x), extreme)
    positions = ctx.positions(ctx.size_of(x, axis), ctx.rank(x), axis)
    beyond = ctx.constant(np.array(np.iinfo(np.int32).max, dtype=np.int32))
    first = _reduce(ctx, ctx.select(hits, positions, beyond), "MIN", axis)
    return extreme, ctx.cast(first, torch.int64)


def _drop(ctx, x, axis):
    return ctx.out(ctx.network.add_squeeze(x, ctx.constant(np.array([axis], dtype=np.int64))))


@converter(aten.argmax.default, aten.argmin.default, checks=_numeric_input)
def argmax(ctx, node, input, dim=None, keepdim=False):
    x, rank = ctx.tensor(input), ctx.rank(input)
    largest = node.target is aten.argmax.default
    if dim is None or rank == 0:  # over every element, as if flattened
        _, index = _extreme(ctx, ctx.reshape(x, (-1,)), 0, largest)
        return ctx.reshape(index, (1,) * rank if keepdim else ())
    axis = normalize_dim(dim, rank)
    _, index = _extreme(ctx, x, axis, largest)
    return index if keepdim else _drop(ctx, index, axis)


@converter(aten.max.dim, aten.min.dim, checks=_numeric_input)
def max_dim(ctx, node, input, dim, keepdim=False):
    x, rank = ctx.tensor(input), ctx.rank(input)
    if rank == 0:
        return ctx.identity(x), ctx.cast(ctx.constant(np.array(0, dtype=np.int32)), torch.int64)
    axis = normalize_dim(dim, rank)
    values, index = _extreme(ctx, x, axis, node.target is aten.max.dim)
    if keepdim:
        return values, index
    return _drop(ctx, values, axis), _drop(ctx, index, axis)


def _topk_length(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    val = node.args[0].meta["val"]
    if val.dim() == 0:
        return None
    size = val.shape[normalize_dim(args.get("dim", -1), val.dim())]
    k = args["k"] if node.target is aten.topk.default else size
    if not isinstance(k, int):
        return "k (the length of a sort) must be static for TensorRT's TopK"
    if k > MAX_TOPK:
        return f"TensorRT's TopK takes k <= {MAX_TOPK}, here {k}"
    return None


def _stable_sort(node) -> str | None:
    from ..interpreter import node_args

    if node_args(node).get("stable"):
        return "a stable sort is not supported: TensorRT's TopK does not document the order of equal values"
    return None


def top_k(ctx, x, k, axis, largest):
    """TopK along `axis`: values and int64 indices, k of them (sorted). TopK wants 2 dims or more:
    a vector goes through as one row."""
    rank = ctx.rank(x)
    if rank == 0:
        return ctx.identity(x), ctx.cast(ctx.constant(np.array(0, dtype=np.int32)), torch.int64)
    op = ctx.trt.TopKOperation.MAX if largest else ctx.trt.TopKOperation.MIN
    row = ctx.reshape(x, (1, -1)) if rank == 1 else x
    layer = ctx.add(ctx.network.add_topk(row, op, k, 1 << (axis + (rank == 1))))
    values, indices = layer.get_output(0), ctx.cast(layer.get_output(1), torch.int64)
    if rank == 1:
        values, indices = ctx.reshape(values, (k,)), ctx.reshape(indices, (k,))
    return values, indices


@converter(aten.topk.default, checks=(_numeric_input, _topk_length))
def topk(ctx, node, input, k, dim=-1, largest=True, sorted=True):
    """Sorted even when torch is not asked to sort (any order is then torch's contract)."""
    x = ctx.tensor(input)
    return top_k(ctx, x, k, normalize_dim(dim, max(1, ctx.rank(x))), largest)


@converter(aten.sort.default, aten.sort.stable, checks=(_numeric_input, _topk_length, _stable_sort))
def sort(ctx, node, input, dim=-1, descending=False, stable=None):
    x = ctx.tensor(input)
    axis = normalize_dim(dim, max(1, ctx.rank(x)))
    return top_k(ctx, x, ctx.shape(x)[axis] if ctx.rank(x) else 1, axis, descending)
