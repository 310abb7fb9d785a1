"""Writing elements by index: scatter, slice_scatter, select_scatter, index_put and copy.

Each becomes one Scatter layer: ELEMENT mode is torch.scatter along an axis (slice_scatter is a
scatter whose index is start + step * arange along the dim), ND mode writes whole slices at index
tuples (index_put). Like torch, a write to the same place twice (non-accumulating) keeps one of the
values without saying which. TensorRT's Scatter has no add reduction: index_put with
accumulate=True adds one-hot sums instead (or gathers, adds and scatters when the indices are
constants known to be distinct).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..context import normalize_dim
from ..registry import converter
from .creation import linspace
from .indexing import _permuted, _wrapped

aten = torch.ops.aten

SCATTER_DTYPES = {torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.int32, torch.int64}


def _sizes(ctx, x):
    return [ctx.size_of(x, d) for d in range(ctx.rank(x))]


def _scatter(ctx, data, index, updates, mode, axis=0):
    """A Scatter layer; bool/uint8 data (which Scatter does not take) goes through int32."""
    dtype = ctx.dtype_of(data)
    carrier = dtype if dtype in SCATTER_DTYPES else torch.int32
    layer = ctx.network.add_scatter(ctx.cast(data, carrier), ctx.tensor(index), ctx.cast(updates, carrier),
                                    getattr(ctx.trt.ScatterMode, mode))
    layer.axis = axis
    return ctx.cast(ctx.out(layer), dtype)


def _crop(ctx, x, sizes):
    return ctx.slice(x, [0] * len(sizes), sizes, [1] * len(sizes)).get_output(0)


@converter(aten.scatter.src)
def scatter_src(ctx, node, input, dim, index, src):
    """torch reads src only over index's shape: crop it to that (ELEMENT mode wants equal shapes)."""
    x, index = ctx.tensor(input), ctx.tensor(index)
    updates = _crop(ctx, ctx.cast(ctx.tensor(src), ctx.dtype_of(x)), _sizes(ctx, index))
    return _scatter(ctx, x, index, updates, "ELEMENT", normalize_dim(dim, ctx.rank(x)))


@converter(aten.scatter.value)
def scatter_value(ctx, node, input, dim, index, value):
    x, index = ctx.tensor(input), ctx.tensor(index)
    fill = ctx.constant(torch.tensor(value, dtype=ctx.dtype_of(x)))
    updates = ctx.broadcast_to(fill, _sizes(ctx, index))
    return _scatter(ctx, x, index, updates, "ELEMENT", normalize_dim(dim, ctx.rank(x)))


def _slice_start(ctx, start, size):
    """torch's slice start: None is 0, a negative start counts from the end (clamped at 0)."""
    if start is None:
        return 0
    if isinstance(start, int) and start < 0:
        shifted = ctx.size_math(start, size, "SUM")
        return max(shifted, 0) if isinstance(shifted, int) else ctx.size_math(shifted, 0, "MAX")
    return start


@converter(aten.slice_scatter.default)
def slice_scatter(ctx, node, input, src, dim=0, start=None, end=None, step=1):
    """src fills input[start:end:step] along dim; its length there is the slice's length."""
    x = ctx.tensor(input)
    src = ctx.cast(ctx.tensor(src), ctx.dtype_of(x))
    dim = normalize_dim(dim, ctx.rank(x))
    first = _slice_start(ctx, start, ctx.size_of(x, dim))
    positions = linspace(ctx, ctx.size_of(src, dim), first, step, torch.int64)
    along = [1] * ctx.rank(src)
    along[dim] = -1
    index = ctx.broadcast_to(ctx.reshape(positions, along), _sizes(ctx, src))
    return _scatter(ctx, x, index, src, "ELEMENT", dim)


@converter(aten.select_scatter.default)
def select_scatter(ctx, node, input, src, dim, index):
    x = ctx.tensor(input)
    dim = normalize_dim(dim, ctx.rank(x))
    grown = ctx.out(ctx.network.add_unsqueeze(ctx.tensor(src), ctx.constant(np.array([dim], dtype=np.int64))))
    return slice_scatter(ctx, node, x, grown, dim, index, None, 1)


@converter(aten.copy.default)
def copy(ctx, node, input, src, non_blocking=False):
    """The result is src broadcast to input's shape, in input's dtype."""
    x = ctx.tensor(input)
    source = node.args[1].meta["val"].shape if isinstance(node.args[1], torch.fx.Node) else None
    return ctx.broadcast_to(ctx.cast(ctx.tensor(src, like=x), ctx.dtype_of(x)), _sizes(ctx, x), source)


def _mask_index(node) -> int | None:
    """Position of a boolean-mask index in index_put's indices, or None."""
    for k, index in enumerate(node.args[1]):
        val = index.meta.get("val") if isinstance(index, torch.fx.Node) else index
        if isinstance(val, torch.Tensor) and val.dtype in (torch.bool, torch.uint8):
            return k
    return None


def _index_put_supported(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    mask = _mask_index(node)
    if mask is not None:
        others = [i for k, i in enumerate(args["indices"]) if k != mask and i is not None]
        values = args["values"].meta["val"] if isinstance(args["values"], torch.fx.Node) else args["values"]
        if others or not isinstance(values.numel(), int) or values.numel() != 1:
            return ("index_put with a boolean mask writes as many values as the mask has true elements, a "
                    "data-dependent count (TensorRT-RTX has no NonZero runner); only a single value is converted")
    if args.get("accumulate") and node.meta["val"].dtype == torch.bool:
        return "accumulating index_put on bool tensors is not converted"
    return None


@converter(aten.index_put.default, checks=_index_put_supported)
def index_put(ctx, node, input, indices, values, accumulate=False):
    """x[i0, :, i2, ...] = values (or += values): a ScatterND over the indexed dims moved to the front."""
    x = ctx.tensor(input)
    values = ctx.cast(ctx.tensor(values, like=x), ctx.dtype_of(x))
    mask = _mask_index(node)
    if mask is not None:
        return _masked_fill(ctx, x, indices[mask], mask, values)
    shape = _sizes(ctx, x)
    dims = [d for d, i in enumerate(indices) if i is not None]
    rest = [d for d in range(len(shape)) if d not in dims]
    # a constant index into a dynamic dim wraps at run time
    given = [ctx.tensor(indices[d]) if not isinstance(shape[d], int) else indices[d] for d in dims]
    index, batch = _stacked_indices(ctx, [_wrapped(ctx, i, shape[d]) for i, d in zip(given, dims)])
    if any(isinstance(n, int) and n == 0 for n in batch):
        return ctx.identity(x)  # no index: nothing is written
    moved = _permuted(ctx, x, dims + rest)
    updates = _updates(ctx, node, values, shape, dims, rest, batch)
    if not accumulate:
        result = _scatter(ctx, moved, index, updates, "ND")
    elif isinstance(index, torch.Tensor) and _distinct(index):
        gathered = ctx.out(ctx.network.add_gather_v2(moved, ctx.tensor(index), ctx.trt.GatherMode.ND))
        sums = ctx.elementwise(gathered, updates, ctx.trt.ElementWiseOperation.SUM)
        result = _scatter(ctx, moved, index, sums, "ND")
    else:
        result = _scatter_add(ctx, moved, index, updates, len(dims), batch)
    return _permuted(ctx, result, _inverse(dims + rest))


def _masked_fill(ctx, x, mask, position, value):
    """x[..., mask, ...] = one value: a select over the dims the mask covers."""
    mask = ctx.cast(ctx.tensor(mask), torch.bool)
    after = ctx.rank(x) - position - ctx.rank(mask)
    mask = ctx.reshape(mask, [1] * position + _sizes(ctx, mask) + [1] * after)
    return ctx.select(mask, ctx.reshape(value, [1] * ctx.rank(x)), x)


def _stacked_indices(ctx, indices):
    """The index tensors broadcast together and stacked on a last dim of length K: (ScatterND's index,
    the broadcast shape). Constant indices stay a torch tensor so they can be checked at build time."""
    if all(isinstance(i, torch.Tensor) for i in indices):
        stacked = torch.stack(torch.broadcast_tensors(*[i.long() for i in indices]), -1)
        return stacked, list(stacked.shape[:-1])
    items = [ctx.cast(ctx.tensor(i), torch.int64) for i in indices]
    if len(items) > 1:
        zero = functools.reduce(lambda a, b: ctx.elementwise(a, b, ctx.trt.ElementWiseOperation.SUM),
                                [ctx.elementwise(i, 0, ctx.trt.ElementWiseOperation.PROD) for i in items])
        items = [ctx.elementwise(i, zero, ctx.trt.ElementWiseOperation.SUM) for i in items]
    batch = _sizes(ctx, items[0])
    axis = ctx.constant(np.array([len(batch)], dtype=np.int64))
    grown = [ctx.out(ctx.network.add_unsqueeze(i, axis)) for i in items]
    if len(grown) == 1:
        return grown[0], batch
    layer = ctx.network.add_concatenation(grown)
    layer.axis = len(batch)
    return ctx.out(layer), batch


def _updates(ctx, node, values, shape, dims, rest, batch):
    """values broadcast to what x[indices] would be, reordered to batch + the un-indexed dims.

    torch puts the broadcast index dims where the indexed dims were when those are adjacent, else first."""
    adjacent = dims == list(range(dims[0], dims[-1] + 1))
    lead = dims[0] if adjacent else 0
    target = [shape[d] for d in rest[:lead]] + batch + [shape[d] for d in rest[lead:]]
    source = node.args[2].meta["val"].shape if isinstance(node.args[2], torch.fx.Node) else None
    expanded = ctx.broadcast_to(values, target, source)
    b = len(batch)
    return _permuted(ctx, expanded, list(range(lead, lead + b)) + list(range(lead)) + list(range(lead + b, len(target))))


def _inverse(perm):
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return inverse


def _distinct(index: torch.Tensor) -> bool:
    rows = index.reshape(-1, index.shape[-1])
    return len(torch.unique(rows, dim=0)) == len(rows)


def _scatter_add(ctx, x, index, updates, k, batch):
    """x + sum of the updates that land on each position, duplicates included: compare every target
    position of the K indexed dims with every index, select the matching updates and reduce."""
    ew = ctx.trt.ElementWiseOperation
    sizes = _sizes(ctx, x)
    targets = functools.reduce(lambda a, b: ctx.size_math(a, b, "PROD"), sizes[:k], 1)
    width = functools.reduce(lambda a, b: ctx.size_math(a, b, "PROD"), sizes[k:], 1)
    count = functools.reduce(lambda a, b: ctx.size_math(a, b, "PROD"), batch, 1)
    index = ctx.tensor(index)
    linear = None
    for j in range(k):
        stride = functools.reduce(lambda a, b: ctx.size_math(a, b, "PROD"), sizes[j + 1:k], 1)
        column = ctx.slice(index, [0] * len(batch) + [j], batch + [1], [1] * (len(batch) + 1)).get_output(0)
        term = ctx.elementwise(column, stride, ew.PROD)
        linear = term if linear is None else ctx.elementwise(linear, term, ew.SUM)
    positions = ctx.reshape(linspace(ctx, targets, 0, 1, torch.int64), [targets, 1])
    hits = ctx.elementwise(positions, ctx.reshape(linear, [1, count]), ew.EQUAL)
    picked = ctx.select(ctx.reshape(hits, [targets, count, 1]), ctx.reshape(updates, [1, count, width]),
                        ctx.constant(torch.zeros((1, 1, 1), dtype=ctx.dtype_of(x))))
    summed = ctx.out(ctx.network.add_reduce(picked, ctx.trt.ReduceOperation.SUM, 1 << 1, False))
    return ctx.elementwise(x, ctx.reshape(summed, sizes), ew.SUM)
