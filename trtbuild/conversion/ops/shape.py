"""Ops that move data without arithmetic: view/reshape/flatten, resize, permute, cat, (un)squeeze."""

from __future__ import annotations

import functools

import numpy as np

import torch

from ..context import normalize_dim
from ..registry import converter

aten = torch.ops.aten


@converter(aten.view.default, aten._unsafe_view.default, aten.reshape.default)
def view(ctx, node, input, size=None, shape=None):
    size = size if size is not None else shape  # reshape calls it `shape`
    return ctx.reshape(input, size)  # symbolic sizes become a runtime shape tensor


@converter(aten.flatten.using_ints)
def flatten(ctx, node, input, start_dim=0, end_dim=-1):
    rank = ctx.rank(input)
    if rank == 0:
        return ctx.reshape(input, (1,))
    start, end = normalize_dim(start_dim, rank), normalize_dim(end_dim, rank)
    sizes = [ctx.size_of(input, d) for d in range(start)] + [-1] + \
        [ctx.size_of(input, d) for d in range(end + 1, rank)]
    return ctx.reshape(input, sizes)


@converter(aten.unflatten.int)
def unflatten(ctx, node, input, dim, sizes):
    """One dim becomes `sizes` (one of them may be -1); the other dims keep their (maybe symbolic) sizes."""
    rank = ctx.rank(input)
    dim = normalize_dim(dim, rank)
    return ctx.reshape(input, [ctx.size_of(input, d) for d in range(dim)] + list(sizes) +
                       [ctx.size_of(input, d) for d in range(dim + 1, rank)])


@converter(aten.resize.default)
def resize(ctx, node, input, size, memory_format=None):
    """The functional form of resize_ (lowering rewrites the in-place op): the input's elements in
    row-major order fill the new shape. torch leaves the elements past the input's count
    uninitialized; a FILL slice of the flattened input writes zeros there."""
    flat = ctx.reshape(input, (-1,))
    count = functools.reduce(lambda a, b: ctx.size_math(a, b, "PROD"), size, 1)
    filled = ctx.slice(flat, [0], [count], [1], mode="FILL").get_output(0)
    return ctx.reshape(filled, size)


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


@converter(aten.unsqueeze.default)
def unsqueeze(ctx, node, input, dim):
    axis = normalize_dim(dim, ctx.rank(input) + 1)
    return ctx.out(ctx.network.add_unsqueeze(input, ctx.constant(np.array([axis], dtype=np.int64))))


@converter(aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default)
def squeeze(ctx, node, input, dim=None):
    """torch drops only the named dims that have size 1 (a dynamic dim is never dropped here)."""
    rank = ctx.rank(input)
    dims = range(rank) if dim is None else (dim if isinstance(dim, (list, tuple)) else [dim])
    axes = sorted({normalize_dim(d, rank) for d in dims if ctx.shape(input)[normalize_dim(d, rank)] == 1})
    if not axes:
        return ctx.identity(input)
    return ctx.out(ctx.network.add_squeeze(input, ctx.constant(np.array(axes, dtype=np.int64))))


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


@converter(aten.slice.Tensor)
def slice_(ctx, node, input, dim=0, start=None, end=None, step=1):
    input = ctx.tensor(input)
    rank = ctx.rank(input)
    dim = normalize_dim(dim, rank)
    size = ctx.size_of(input, dim)
    if isinstance(size, int) and all(isinstance(b, (int, type(None))) for b in (start, end)):
        begin, stop, _ = slice(start, end, step).indices(size)
    else:
        begin, stop = _bound(ctx, start, size, 0), _bound(ctx, end, size, size)
    length = ctx.size_math(ctx.size_math(ctx.size_math(stop, begin, "SUB"), step - 1, "SUM"), step, "FLOOR_DIV")
    length = ctx.size_math(length, 0, "MAX")
    starts = [0] * rank
    starts[dim] = begin
    sizes = [ctx.size_of(input, d) if d != dim else length for d in range(rank)]
    strides = [1] * rank
    strides[dim] = step
    return ctx.slice(input, starts, sizes, strides).get_output(0)


def _bound(ctx, value, size, default):
    """torch's slice bound on a dim of `size`: None is `default`, a negative bound counts from the end,
    and the result is clamped to [0, size]. A symbolic bound's sign is only known at run time."""
    if value is None:
        return default
    if isinstance(value, int):
        if value < 0:
            return ctx.size_math(ctx.size_math(value, size, "SUM"), 0, "MAX")
        return ctx.size_math(value, size, "MIN")
    value = ctx.cast(value, torch.int64)
    ew = ctx.trt.ElementWiseOperation
    negative = ctx.elementwise(value, 0, ew.LESS)
    wrapped = ctx.select(negative, ctx.size_math(value, size, "SUM"), value)
    return ctx.size_math(ctx.size_math(wrapped, 0, "MAX"), size, "MIN")


@converter(aten.where.self)
def where(ctx, node, condition, input, other):
    cond = ctx.cast(ctx.tensor(condition), torch.bool)
    if not isinstance(input, ctx.trt.ITensor) and not isinstance(other, ctx.trt.ITensor):
        dtype = node.meta["val"].dtype  # two scalars: torch decided the result dtype at trace time
        a, b = ctx.tensor(torch.as_tensor(input, dtype=dtype)), ctx.tensor(torch.as_tensor(other, dtype=dtype))
    else:
        a, b = ctx.promote(input, other)
    return ctx.select(cond, a, b)


@converter(aten.masked_fill.Scalar, aten.masked_fill.Tensor)
def masked_fill(ctx, node, input, mask, value):
    """where(mask, value, input); the value takes input's dtype (2.7 -> 2 for ints)."""
    dtype = node.meta["val"].dtype
    if isinstance(value, ctx.trt.ITensor):
        value = ctx.cast(value, dtype)
    else:
        value = ctx.tensor(torch.as_tensor(value).to(dtype))
    return ctx.select(ctx.cast(ctx.tensor(mask), torch.bool), value, input)


@converter(aten.expand.default)
def expand(ctx, node, input, size, implicit=False):
    x = ctx.tensor(input)
    source = node.args[0].meta["val"].shape if isinstance(node.args[0], torch.fx.Node) else tuple(x.shape)
    x = ctx.unsqueeze_to(x, len(size))
    sizes = [ctx.size_of(x, d) if isinstance(s, int) and s == -1 else s for d, s in enumerate(size)]
    return ctx.broadcast_to(x, sizes, source)  # the FX shape knows sizes TensorRT sees as -1
