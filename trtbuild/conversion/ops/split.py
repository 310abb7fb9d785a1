"""Cutting a tensor into pieces and joining pieces along a new dim: split, unbind, stack."""

from __future__ import annotations

import torch

from ..context import normalize_dim
from ..registry import converter
from .checks import static_shapes

aten = torch.ops.aten


def _pieces(ctx, x, sizes, dim):
    """Consecutive slices of `sizes` along `dim` (static); the other dims may be dynamic."""
    x = ctx.tensor(x)  # a constant operand (e.g. an RNN's zero initial state) is a torch tensor here
    rank = ctx.rank(x)
    dim = normalize_dim(dim, rank)
    pieces, start = [], 0
    for size in sizes:
        starts = [0] * rank
        starts[dim] = start
        lengths = [size if d == dim else ctx.size_of(x, d) for d in range(rank)]
        if all(isinstance(n, int) for n in lengths):
            layer = ctx.network.add_slice(x, tuple(starts), tuple(lengths), (1,) * rank)
        else:
            layer = ctx.network.add_slice(x, tuple(starts), (1,) * rank, (1,) * rank)
            layer.set_input(2, ctx.shape_from(lengths))
        pieces.append(ctx.out(layer))
        start += size
    return pieces


def _static_split_dim(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    size = node.args[0].meta["val"].shape[args["dim"]]
    return None if isinstance(size, int) else "splitting along a dynamic dim is not supported"


@converter(aten.split_with_sizes.default, checks=_static_split_dim)
def split_with_sizes(ctx, node, input, split_sizes, dim=0):
    return _pieces(ctx, input, split_sizes, dim)


@converter(aten.split.Tensor, checks=_static_split_dim)
def split(ctx, node, input, split_size, dim=0):
    total = ctx.shape(input)[normalize_dim(dim, ctx.rank(input))]
    return _pieces(ctx, input, [min(split_size, total - s) for s in range(0, total, split_size)] or [0], dim)


@converter(aten.chunk.default, checks=_static_split_dim)
def chunk(ctx, node, input, chunks, dim=0):
    """torch.chunk: pieces of ceil(n / chunks), the last one shorter; fewer than `chunks` pieces
    when they run out (7 in 5 chunks is 2, 2, 2, 1)."""
    total = ctx.shape(input)[normalize_dim(dim, ctx.rank(input))]
    return split(ctx, node, input, max(-(-total // chunks), 1), dim)


@converter(aten.unbind.int, checks=static_shapes)
def unbind(ctx, node, input, dim=0):
    input = ctx.tensor(input)
    shape = ctx.shape(input)
    dim = normalize_dim(dim, len(shape))
    rest = shape[:dim] + shape[dim + 1:]
    return [ctx.reshape(piece, rest) for piece in _pieces(ctx, input, [1] * shape[dim], dim)]


@converter(aten.stack.default, checks=static_shapes)
def stack(ctx, node, tensors, dim=0):
    items = [ctx.tensor(t) for t in tensors]
    rank = ctx.rank(items[0]) + 1
    dim = normalize_dim(dim, rank)
    dtype = node.meta["val"].dtype  # torch promotes the inputs to one dtype
    grown = [ctx.reshape(ctx.cast(t, dtype), ctx.shape(t)[:dim] + (1,) + ctx.shape(t)[dim:]) for t in items]
    layer = ctx.network.add_concatenation(grown)
    layer.axis = dim
    return ctx.out(layer)
