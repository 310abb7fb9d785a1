"""Reading elements by index: embedding (and bags of them), index_select, gather and advanced indexing
(index.Tensor)."""

from __future__ import annotations

import functools

import torch

from ..context import normalize_dim
from ..registry import converter
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


@converter(aten._embedding_bag.default, aten._embedding_bag_forward_only.default, checks=_bag_intermediate_fits)
def embedding_bag(ctx, node, weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                  per_sample_weights=None, include_last_offset=False, padding_idx=-1):
    """Bag b reduces the rows of indices[offsets[b]:offsets[b + 1]] (the last bag runs to the end unless
    include_last_offset): sum (weighted by per_sample_weights), mean or max; an empty bag is 0.
    The other three outputs (offset2bag, bag_size, max_indices) are built only when the graph reads
    them, as torch's CPU kernel gives them (see _bag_bookkeeping)."""
    rows = _gather(ctx, weight, indices, 0)  # [N, D]
    if per_sample_weights is not None:
        rows = ctx.elementwise(rows, ctx.reshape(ctx.tensor(per_sample_weights), (-1, 1)),
                               ctx.trt.ElementWiseOperation.PROD)
    indices = ctx.tensor(indices)
    fast = _fast_path(node, padding_idx)
    member = counted = _bag_members(ctx, indices, offsets, include_last_offset, padding_idx)
    if include_last_offset and (mode != 0 or not fast):
        # torch's CPU kernel (2.14) ends the last bag at the end of `indices`, not at the last offset,
        # for max, for the mean's divisor, and for sums off its fast path; eager is the spec
        counted = _bag_members(ctx, indices, offsets, include_last_offset, padding_idx, last_to_end=True)
        member = counted if mode == 2 or not fast else member
    output = _reduce_bags(ctx, rows, member, mode, counted)
    if {user.args[1] for user in node.users} <= {0}:
        return (output, None, None, None)
    dtypes = [val.dtype for val in node.meta["val"][1:]]
    return (output, *_bag_bookkeeping(ctx, rows, indices, offsets, counted, mode, fast, include_last_offset,
                                      padding_idx, dtypes))


def _fast_path(node, padding_idx) -> bool:
    """Whether torch's CPU kernel sums bags with its index_select fast path (float32/16 and bfloat16
    weights, no padding_idx), which stops the last bag at the last offset and leaves offset2bag
    empty in sum mode; its other path maps positions to bags (offset2bag) and sums to the end."""
    dtype = node.meta["val"][0].dtype  # the weights' as the model has them (truncation narrows tensors only)
    no_padding = padding_idx is None or padding_idx < 0
    return no_padding and dtype in (torch.float32, torch.float16, torch.bfloat16)


def _bag_bookkeeping(ctx, rows, indices, offsets, counted, mode, fast, include_last_offset, padding_idx, dtypes):
    """(offset2bag, bag_size, max_indices) in the indices' dtype, with the CPU kernel's quirks, checked
    against eager (torch 2.14): in sum mode offset2bag is empty on the fast path, and bag_size and
    max_indices are zeros; offset2bag counts padding entries (bag_size does not); with
    include_last_offset the positions past the last offset belong to the last bag; in mean mode
    max_indices repeats bag_size; in max mode it holds, per bag and column, the index (a value of
    `indices`) of the first row reaching the maximum, 0 for an empty bag."""
    offset2bag_t, size_t, max_t = dtypes
    bag_size = ctx.cast(_reduce_middle(ctx, ctx.cast(counted, torch.int64), "SUM", axis=1), size_t)  # [bags]
    if mode == 0:
        zeros = ctx.elementwise(bag_size, 0, ctx.trt.ElementWiseOperation.PROD)
        if fast:
            offset2bag = _take(ctx, ctx.cast(indices, offset2bag_t), 0, 0)  # empty
        else:
            offset2bag = _offset2bag(ctx, indices, offsets, include_last_offset, offset2bag_t)
        return offset2bag, zeros, ctx.cast(zeros, max_t)
    offset2bag = _offset2bag(ctx, indices, offsets, include_last_offset, offset2bag_t)
    if mode == 1:
        return offset2bag, bag_size, ctx.cast(bag_size, max_t)
    return offset2bag, bag_size, ctx.cast(_first_max_index(ctx, rows, indices, counted), max_t)


def _offset2bag(ctx, indices, offsets, include_last_offset, dtype):
    """[N]: the bag of each index position, the last bag whose start is at or before it (an empty bag
    owns no position; past the last bag's end, the last bag)."""
    ew = ctx.trt.ElementWiseOperation
    offsets = ctx.cast(ctx.tensor(offsets), torch.int64)
    bags = ctx.size_of(offsets, 0)
    if include_last_offset:
        bags = ctx.size_math(bags, 1, "SUB")
    position = ctx.reshape(linspace(ctx, ctx.size_of(indices, 0), 0, 1, torch.int64), (1, -1))
    before = ctx.elementwise(position, ctx.reshape(_take(ctx, offsets, 0, bags), (-1, 1)), ew.LESS)
    started = ctx.out(ctx.network.add_unary(before, ctx.trt.UnaryOperation.NOT))  # [bags, N]: start <= position
    count = _reduce_middle(ctx, ctx.cast(started, torch.int64), "SUM", axis=0)
    return ctx.cast(ctx.elementwise(count, 1, ew.SUB), dtype)


def _first_max_index(ctx, rows, indices, member):
    """[bags, D]: indices[p] for the first position p of the bag whose row is the bag's maximum in that
    column (the CPU kernel replaces its running maximum only on a strictly greater value); 0 when the
    bag is empty. Positions as a [bags, N, D] select, like the reduction itself."""
    ew, dtype = ctx.trt.ElementWiseOperation, ctx.dtype_of(rows)
    count = ctx.size_of(indices, 0)
    in_bag = ctx.reshape(member, [ctx.size_of(member, 0), count, 1])
    lowest = ctx.constant(torch.full((1, 1, 1), float("-inf"), dtype=dtype))
    picked = ctx.select(in_bag, ctx.unsqueeze_to(rows, 3), lowest)  # [bags, N, D]
    peak = ctx.out(ctx.network.add_reduce(picked, ctx.trt.ReduceOperation.MAX, 1 << 1, True))  # [bags, 1, D]
    reaching = ctx.elementwise(ctx.elementwise(picked, peak, ew.EQUAL), in_bag, ew.AND)
    position = ctx.reshape(linspace(ctx, count, 0, 1, torch.int64), (1, -1, 1))
    past_end = ctx.reshape(ctx.shape_from([count]), (1, 1, 1))
    first = _reduce_middle(ctx, ctx.select(reaching, position, past_end), "MIN")  # [bags, D]; N when empty
    is_first = ctx.elementwise(position, ctx.reshape(first, [ctx.size_of(first, 0), 1, ctx.size_of(first, 1)]),
                               ew.EQUAL)
    values = ctx.reshape(ctx.cast(indices, torch.int64), (1, -1, 1))
    zero = ctx.constant(torch.zeros((1, 1, 1), dtype=torch.int64))
    return _reduce_middle(ctx, ctx.select(is_first, values, zero), "SUM")


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


def _reduce_middle(ctx, x, op, axis=1):
    return ctx.out(ctx.network.add_reduce(x, getattr(ctx.trt.ReduceOperation, op), 1 << axis, False))


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
