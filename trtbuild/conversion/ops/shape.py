"""Ops that move data without arithmetic: view/reshape/flatten, permute, cat, (un)squeeze."""

from __future__ import annotations

import functools

import torch

from ..context import normalize_dim
from ..registry import converter
from .checks import static_shapes

aten = torch.ops.aten


def _out_shape(node) -> tuple[int, ...]:
    return tuple(node.meta["val"].shape)


@converter(aten.view.default, aten._unsafe_view.default, aten.reshape.default, checks=static_shapes)
def view(ctx, node, input, size=None, shape=None):
    return ctx.reshape(input, _out_shape(node))


@converter(aten.flatten.using_ints)
def flatten(ctx, node, input, start_dim=0, end_dim=-1):
    rank = ctx.rank(input)
    start, end = normalize_dim(start_dim, rank), normalize_dim(end_dim, rank)
    dims = ctx.shape(input)
    if end == rank - 1 and all(d >= 0 for d in dims[start:]):
        layer = ctx.network.add_shuffle(input)  # keep leading (possibly dynamic) dims as placeholders
        layer.reshape_dims = (0,) * start + (-1,)
        layer.zero_is_placeholder = True
        return ctx.out(layer)
    if all(isinstance(d, int) for d in _out_shape(node)):
        return ctx.reshape(input, _out_shape(node))
    raise ctx.error("flatten of dynamic inner dims is not supported")


@converter(aten.permute.default)
def permute(ctx, node, input, dims):
    layer = ctx.network.add_shuffle(input)
    layer.first_transpose = tuple(normalize_dim(d, ctx.rank(input)) for d in dims)
    return ctx.out(layer)


@converter(aten.t.default)
def t(ctx, node, input):
    return permute(ctx, node, input, [1, 0]) if ctx.rank(input) == 2 else input


@converter(aten.transpose.int)
def transpose(ctx, node, input, dim0, dim1):
    rank = ctx.rank(input)
    perm = list(range(rank))
    a, b = normalize_dim(dim0, rank), normalize_dim(dim1, rank)
    perm[a], perm[b] = perm[b], perm[a]
    return permute(ctx, node, input, perm)


@converter(aten.cat.default)
def cat(ctx, node, tensors, dim=0):
    items = [ctx.tensor(t) for t in tensors]
    dtype = functools.reduce(torch.promote_types, [ctx.dtype_of(t) for t in items])
    items = [ctx.cast(t, dtype) for t in items if 0 not in ctx.shape(t) or len(items) == 1]
    layer = ctx.network.add_concatenation(items)
    layer.axis = normalize_dim(dim, ctx.rank(items[0]))
    return ctx.out(layer)


@converter(aten.unsqueeze.default, aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default,
           checks=static_shapes)
def squeeze_unsqueeze(ctx, node, input, dim=None):
    return ctx.reshape(input, _out_shape(node))
