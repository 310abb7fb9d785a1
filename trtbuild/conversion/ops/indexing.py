"""Reading elements by index: embedding, index_select, gather and advanced indexing (index.Tensor)."""

from __future__ import annotations

import functools

import torch

from ..context import normalize_dim
from ..registry import converter
from .checks import constant_arg

aten = torch.ops.aten


def _gather(ctx, x, index, axis):
    """x.shape[:axis] + index.shape + x.shape[axis+1:] (TensorRT's default gather = torch.take along axis)."""
    return ctx.out(ctx.network.add_gather(ctx.tensor(x), ctx.tensor(index), axis))


def _wrapped(ctx, index, size):
    """Negative indices count from the end (torch); TensorRT's gather is not documented to wrap."""
    if isinstance(index, torch.Tensor):
        if not (index < 0).any():
            return index
        if isinstance(size, int):
            return torch.where(index < 0, index + size, index)
        index = ctx.tensor(index)  # a dynamic dim's size is only known in the engine
    negative = ctx.elementwise(index, 0, ctx.trt.ElementWiseOperation.LESS)
    shifted = ctx.elementwise(index, size, ctx.trt.ElementWiseOperation.SUM)
    return ctx.out(ctx.network.add_select(negative, shifted, index))


@converter(aten.embedding.default, checks=constant_arg("weight"))
def embedding(ctx, node, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return _gather(ctx, weight, indices, 0)  # padding_idx only affects training


@converter(aten.index_select.default)
def index_select(ctx, node, input, dim, index):
    return _gather(ctx, input, index, normalize_dim(dim, ctx.rank(input)))


def _element_gather_shapes(node) -> str | None:
    val, index = node.args[0].meta.get("val"), node.args[2].meta.get("val")
    if val is None or index is None or val.dim() != index.dim():
        return "gather needs an index of the input's rank"
    return None


@converter(aten.gather.default, checks=_element_gather_shapes)
def gather(ctx, node, input, dim, index, sparse_grad=False):
    # torch reads only index.shape of the other dims: crop the input to it, TensorRT wants equal shapes
    input, index = ctx.tensor(input), ctx.tensor(index)
    dim = normalize_dim(dim, ctx.rank(input))
    shape = [ctx.size_of(input if d == dim else index, d) for d in range(ctx.rank(input))]
    rank = len(shape)
    if all(isinstance(n, int) for n in shape):
        cropped = ctx.out(ctx.network.add_slice(input, (0,) * rank, tuple(shape), (1,) * rank))
    else:
        crop = ctx.network.add_slice(input, (0,) * rank, (1,) * rank, (1,) * rank)
        crop.set_input(2, ctx.shape_from(shape))
        cropped = ctx.out(crop)
    layer = ctx.network.add_gather(cropped, index, dim)
    layer.mode = ctx.trt.GatherMode.ELEMENT
    return ctx.out(layer)


def _integer_indices(node) -> str | None:
    for index in node.args[1]:
        val = index.meta.get("val") if isinstance(index, torch.fx.Node) else None
        if index is not None and (val is None or val.dtype in (torch.bool, torch.uint8)):
            return "boolean mask indexing has a data-dependent shape"
    return None


@converter(aten.index.Tensor, checks=_integer_indices)
def index(ctx, node, input, indices):
    """x[i0, :, i2, ...]: the index tensors broadcast together; their dims replace the indexed dims in
    place when those are adjacent, else they lead the result (numpy advanced indexing)."""
    input = ctx.tensor(input)
    shape = [ctx.size_of(input, d) for d in range(ctx.rank(input))]  # ints, or size tensors when dynamic
    dims = [d for d, i in enumerate(indices) if i is not None]
    idx = [_wrapped(ctx, indices[d], shape[d]) for d in dims]
    if len(dims) == 1:
        return _gather(ctx, input, idx[0], dims[0])
    x, front = input, dims[0]
    if dims != list(range(dims[0], dims[-1] + 1)):  # not adjacent: move the indexed dims to the front
        x = _permuted(ctx, x, dims + [d for d in range(len(shape)) if d not in dims])
        front = 0
    moved = [ctx.size_of(x, d) for d in range(ctx.rank(x))]
    merged = moved[:front] + [_product(ctx, [shape[d] for d in dims])] + moved[front + len(dims):]
    flat = ctx.reshape(x, merged if all(isinstance(m, int) for m in merged) else ctx.shape_from(merged))
    return _gather(ctx, flat, _linear_index(ctx, idx, [shape[d] for d in dims]), front)


def _permuted(ctx, x, perm):
    layer = ctx.network.add_shuffle(x)
    layer.first_transpose = tuple(perm)
    return ctx.out(layer)


def _product(ctx, sizes):
    return functools.reduce(lambda a, b: ctx.size_math(a, b, "PROD"), sizes, 1)


def _linear_index(ctx, indices, sizes):
    """Row-major position of each broadcast index tuple in the merged dim."""
    linear = None
    for index, stride in zip(indices, [_product(ctx, sizes[k + 1:]) for k in range(len(sizes))]):
        term = ctx.elementwise(ctx.cast(ctx.tensor(index), torch.int64), stride, ctx.trt.ElementWiseOperation.PROD)
        linear = term if linear is None else ctx.elementwise(linear, term, ctx.trt.ElementWiseOperation.SUM)
    return linear
