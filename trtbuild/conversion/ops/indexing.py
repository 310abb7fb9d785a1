"""Reading elements by index: embedding (and bags of them), index_select, gather and advanced indexing
(index.Tensor)."""

from __future__ import annotations

import functools

import torch

from ..context import normalize_dim
from ..registry import converter
from .checks import only_first_output_used
from .creation import linspace

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


@converter(aten.embedding.default)
def embedding(ctx, node, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return _gather(ctx, weight, indices, 0)  # padding_idx only affects training


def _bag_intermediate_fits(node) -> str | None:
    """Bags are summed as a select-and-reduce over a [bags, indices, dim] tensor: keep that bounded."""
    from ..interpreter import node_args

    args = node_args(node)
    offsets, indices, weight = (args[k].meta["val"] if isinstance(args[k], torch.fx.Node) else args[k]
                                for k in ("offsets", "indices", "weight"))
    sizes = [offsets.shape[0], indices.numel(), weight.shape[1]]
    if all(isinstance(n, int) for n in sizes) and sizes[0] * sizes[1] * sizes[2] > BAG_ELEMENTS:
        return (f"{sizes[0]} bags over {sizes[1]} indices need a {sizes[0]}x{sizes[1]}x{sizes[2]} intermediate "
                "(TensorRT has no segmented reduction)")
    return None


BAG_ELEMENTS = 1 << 26


@converter(aten._embedding_bag.default, aten._embedding_bag_forward_only.default,
           checks=(only_first_output_used, _bag_intermediate_fits))
def embedding_bag(ctx, node, weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                  per_sample_weights=None, include_last_offset=False, padding_idx=-1):
    """Bag b reduces the rows of indices[offsets[b]:offsets[b + 1]] (the last bag runs to the end unless
    include_last_offset): sum (weighted by per_sample_weights), mean or max; an empty bag is 0. Only the
    output is converted; offset2bag, bag_size and max_indices are training bookkeeping."""
    rows = _gather(ctx, weight, indices, 0)  # [N, D]
    if per_sample_weights is not None:
        rows = ctx.elementwise(rows, ctx.reshape(ctx.tensor(per_sample_weights), (-1, 1)),
                               ctx.trt.ElementWiseOperation.PROD)
    indices = ctx.tensor(indices)
    member = counted = _bag_members(ctx, indices, offsets, include_last_offset, padding_idx)
    if include_last_offset and mode != 0:
        # torch's CPU kernel (2.14) ends the last bag at the end of `indices`, not at the last offset,
        # for max and for the mean's divisor (the mean's sum stops at the last offset); eager is the spec
        counted = _bag_members(ctx, indices, offsets, include_last_offset, padding_idx, last_to_end=True)
        member = counted if mode == 2 else member
    return (_reduce_bags(ctx, rows, member, mode, counted),)  # the graph reads output 0 of the op's four


def _bag_members(ctx, indices, offsets, include_last_offset, padding_idx, last_to_end=False):
    """[bags, N] bool: which index positions each bag takes (padding_idx entries belong to none).
    `last_to_end`: the last bag runs to the end of `indices` even when include_last_offset names its end."""
    ew = ctx.trt.ElementWiseOperation
    offsets = ctx.cast(ctx.tensor(offsets), torch.int64)
    count, bags = ctx.size_of(indices, 0), ctx.size_of(offsets, 0)
    if include_last_offset:
        bags = ctx.size_math(bags, 1, "SUB")
    if include_last_offset and not last_to_end:
        ends = _take(ctx, offsets, 1, bags)
    else:
        ends = ctx.out(ctx.network.add_concatenation([_take(ctx, offsets, 1, ctx.size_math(bags, 1, "SUB")),
                                                      ctx.shape_from([count])]))
    position = ctx.reshape(linspace(ctx, count, 0, 1, torch.int64), (1, -1))
    before_start = ctx.elementwise(position, ctx.reshape(_take(ctx, offsets, 0, bags), (-1, 1)), ew.LESS)
    before_end = ctx.elementwise(position, ctx.reshape(ends, (-1, 1)), ew.LESS)
    member = ctx.elementwise(before_start, before_end, ew.XOR)  # start <= position < end
    if padding_idx is not None and padding_idx >= 0:
        padding = ctx.elementwise(indices, padding_idx, ew.EQUAL)
        kept = ctx.out(ctx.network.add_unary(padding, ctx.trt.UnaryOperation.NOT))
        member = ctx.elementwise(member, ctx.reshape(kept, (1, -1)), ew.AND)
    return member


def _reduce_bags(ctx, rows, member, mode, counted):
    """mode 0 sum, 1 mean, 2 max of rows [N, D] per bag: a select over [bags, N, D] and a reduce over N.
    `counted` ([bags, N] bool) gives the bag sizes: the mean's divisor, and which bags are empty."""
    ew, dtype = ctx.trt.ElementWiseOperation, ctx.dtype_of(rows)

    def column(m):  # [bags, N] -> [bags, N, 1], to broadcast over the rows' D
        return ctx.reshape(m, [ctx.size_of(m, 0), ctx.size_of(m, 1), 1])

    skipped = ctx.constant(torch.full((1, 1, 1), float("-inf") if mode == 2 else 0.0, dtype=dtype))
    picked = ctx.select(column(member), ctx.unsqueeze_to(rows, 3), skipped)
    reduced = _reduce_middle(ctx, picked, "MAX" if mode == 2 else "SUM")
    sizes = _reduce_middle(ctx, ctx.cast(column(counted), dtype), "SUM")  # [bags, 1]
    if mode == 1:
        return ctx.elementwise(reduced, ctx.elementwise(sizes, 1, ew.MAX), ew.DIV)
    if mode == 2:
        empty = ctx.elementwise(sizes, 0, ew.EQUAL)
        return ctx.select(empty, ctx.constant(torch.zeros((1, 1), dtype=dtype)), reduced)
    return reduced


def _take(ctx, x, first, length):
    """x[first:first + length] of a 1-D tensor (length an int or a size tensor)."""
    return ctx.slice(x, [first], [length], [1]).get_output(0)


def _reduce_middle(ctx, x, op):
    return ctx.out(ctx.network.add_reduce(x, getattr(ctx.trt.ReduceOperation, op), 1 << 1, False))


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
