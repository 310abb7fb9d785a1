"""Reductions over dims: mean, sum, prod, amax/amin and max/min of everything."""

from __future__ import annotations

import torch

from ..context import axes_mask
from ..registry import converter

aten = torch.ops.aten


def _reduce(ctx, x, op, dim, keepdim):
    rank = ctx.rank(x)
    dims = range(rank) if dim is None or len(dim) == 0 else dim
    if rank == 0:
        return ctx.identity(x)
    layer = ctx.network.add_reduce(x, getattr(ctx.trt.ReduceOperation, op), axes_mask(dims, rank), bool(keepdim))
    return ctx.out(layer)


def _float(ctx, x, dtype):
    if dtype is not None:
        return ctx.cast(x, dtype)
    return x


@converter(aten.mean.dim)
def mean(ctx, node, input, dim, keepdim=False, dtype=None):
    return _reduce(ctx, _float(ctx, input, dtype), "AVG", dim, keepdim)


@converter(aten.mean.default)
def mean_all(ctx, node, input, dtype=None):
    return _reduce(ctx, _float(ctx, input, dtype), "AVG", None, False)


def _sum_input(ctx, input, dtype):
    # torch sums bool and integer tensors in int64
    if dtype is None and not ctx.dtype_of(input).is_floating_point:
        dtype = torch.int64
    return _float(ctx, input, dtype)


@converter(aten.sum.dim_IntList)
def sum_dim(ctx, node, input, dim, keepdim=False, dtype=None):
    return _reduce(ctx, _sum_input(ctx, input, dtype), "SUM", dim, keepdim)


@converter(aten.sum.default)
def sum_all(ctx, node, input, dtype=None):
    return _reduce(ctx, _sum_input(ctx, input, dtype), "SUM", None, False)


@converter(aten.amax.default)
def amax(ctx, node, input, dim=(), keepdim=False):
    return _reduce(ctx, input, "MAX", dim, keepdim)


@converter(aten.amin.default)
def amin(ctx, node, input, dim=(), keepdim=False):
    return _reduce(ctx, input, "MIN", dim, keepdim)


@converter(torch.ops.prims.sum.default)
def prims_sum(ctx, node, inp, dims, output_dtype=None):
    """prims keep the input dtype unless told; no dims means no reduction (unlike aten.sum)."""
    x = ctx.cast(inp, node.meta["val"].dtype)
    return _reduce(ctx, x, "SUM", dims, False) if dims else ctx.identity(x)


@converter(aten.prod.dim_int)
def prod_dim(ctx, node, input, dim, keepdim=False, dtype=None):
    return _reduce(ctx, _sum_input(ctx, input, dtype), "PROD", [dim], keepdim)


@converter(aten.prod.default)
def prod_all(ctx, node, input, dtype=None):
    return _reduce(ctx, _sum_input(ctx, input, dtype), "PROD", None, False)


def _not_bool(node) -> str | None:
    val = node.args[0].meta.get("val")
    return "TensorRT's Reduce rejects bool" if val is None or val.dtype == torch.bool else None


@converter(aten.max.default, aten.min.default, checks=_not_bool)
def max_all(ctx, node, input):
    return _reduce(ctx, input, "MAX" if node.target is aten.max.default else "MIN", None, False)
