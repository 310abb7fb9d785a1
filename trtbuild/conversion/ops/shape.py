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


@converter(aten.view.default, aten._unsafe_view.default, aten.reshape.default)
def view(ctx, node, input, size=None, shape=None):
    size = size if size is not None else shape  # reshape calls it `shape`
    if all(isinstance(s, int) for s in size):
        return ctx.reshape(input, size)
    return ctx.reshape(input, ctx.shape_from(size))  # symbolic sizes: a runtime shape tensor


@converter(aten.flatten.using_ints)
def flatten(ctx, node, input, start_dim=0, end_dim=-1):
    rank = ctx.rank(input)
    if rank == 0:
        return ctx.reshape(input, (1,))
    start, end = normalize_dim(start_dim, rank), normalize_dim(end_dim, rank)
    sizes = [ctx.size_of(input, d) for d in range(start)] + [-1] + \
        [ctx.size_of(input, d) for d in range(end + 1, rank)]
    return ctx.reshape(input, sizes if all(isinstance(s, int) for s in sizes) else ctx.shape_from(sizes))


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


@converter(aten.select.int)
def select(ctx, node, input, dim, index):
    rank = ctx.rank(input)
    dim = normalize_dim(dim, rank)
    size = ctx.shape(input)[dim]
    if index < 0:
        if size < 0:
            raise ctx.error("select with a negative index on a dynamic dim is not supported")
        index += size
    indices = ctx.constant(torch.tensor(index, dtype=torch.int32))
    return ctx.out(ctx.network.add_gather(input, indices, dim))


def _static_slice(node) -> str | None:
    val = node.args[0].meta.get("val")
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    if val is None or not isinstance(val.shape[dim], int):
        return "slicing a dynamic dim is not supported"
    return None


@converter(aten.slice.Tensor, checks=_static_slice)
def slice_(ctx, node, input, dim=0, start=None, end=None, step=1):
    shape = ctx.shape(input)
    dim = normalize_dim(dim, len(shape))
    begin, stop, _ = slice(start, end, step).indices(shape[dim])
    length = max(0, (stop - begin + step - 1) // step)
    starts, sizes, strides = [0] * len(shape), list(shape), [1] * len(shape)
    starts[dim], sizes[dim], strides[dim] = begin, length, step
    if any(s < 0 for s in sizes):
        return _dynamic_slice(ctx, input, starts, dim, length, strides)
    return ctx.out(ctx.network.add_slice(input, tuple(starts), tuple(sizes), tuple(strides)))


def _dynamic_slice(ctx, input, starts, dim, length, strides):
    """Keep every other dim's (dynamic) size: the size tensor is the input shape with one entry replaced."""
    import numpy as np

    shape = ctx.shape_tensor(input)
    mask = np.ones(len(starts), dtype=np.int64)
    mask[dim] = 0
    sizes = ctx.elementwise(ctx.elementwise(shape, ctx.constant(mask), ctx.trt.ElementWiseOperation.PROD),
                            ctx.constant(np.eye(len(starts), dtype=np.int64)[dim] * length),
                            ctx.trt.ElementWiseOperation.SUM)
    layer = ctx.network.add_slice(input, tuple(starts), tuple([1] * len(starts)), tuple(strides))
    layer.set_input(2, sizes)
    return ctx.out(layer)


@converter(aten.where.self)
def where(ctx, node, condition, input, other):
    cond = ctx.cast(ctx.tensor(condition), torch.bool)
    if not isinstance(input, ctx.trt.ITensor) and not isinstance(other, ctx.trt.ITensor):
        dtype = node.meta["val"].dtype  # two scalars: torch decided the result dtype at trace time
        a, b = ctx.tensor(torch.tensor(input, dtype=dtype)), ctx.tensor(torch.tensor(other, dtype=dtype))
    else:
        a, b = ctx.promote(input, other)
    rank = max(ctx.rank(cond), ctx.rank(a), ctx.rank(b))
    cond, a, b = (ctx.unsqueeze_to(t, rank) for t in (cond, a, b))
    return ctx.out(ctx.network.add_select(cond, a, b))


@converter(aten.expand.default, checks=static_shapes)
def expand(ctx, node, input, size, implicit=False):
    out_shape = _out_shape(node)
    x = ctx.unsqueeze_to(input, len(out_shape))
    in_shape = ctx.shape(x)
    strides = tuple(0 if a == 1 and b != 1 else 1 for a, b in zip(in_shape, out_shape))
    return ctx.out(ctx.network.add_slice(x, (0,) * len(out_shape), out_shape, strides))
