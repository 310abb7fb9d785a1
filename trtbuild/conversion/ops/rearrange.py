"""Ops that reorder or replicate elements without arithmetic on them: repeat, flip, roll, diagonal,
as_strided. Most are one Slice layer: WRAP mode reads past the end of a dim from its start (repeat,
roll), a negative stride reads it backwards (flip), a stride of n+1 walks a flattened n-by-n block
along its diagonal."""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..context import normalize_dim
from ..registry import converter

aten = torch.ops.aten


def _sizes(ctx, x):
    return [ctx.size_of(x, d) for d in range(ctx.rank(x))]


@converter(aten.repeat.default)
def repeat(ctx, node, input, repeats):
    """Output dim d is size_d * repeats_d; reading it with WRAP takes element i from i mod size_d."""
    x = ctx.unsqueeze_to(ctx.tensor(input), len(repeats))
    sizes = [ctx.size_math(n, r, "PROD") for n, r in zip(_sizes(ctx, x), repeats)]
    return ctx.slice(x, [0] * len(sizes), sizes, [1] * len(sizes), mode="WRAP").get_output(0)


@converter(aten.flip.default)
def flip(ctx, node, input, dims):
    x = ctx.tensor(input)
    rank = ctx.rank(x)
    flipped = {normalize_dim(d, rank) for d in dims}
    if not flipped:
        return ctx.identity(x)
    sizes = _sizes(ctx, x)
    starts = [ctx.size_math(n, 1, "SUB") if d in flipped else 0 for d, n in enumerate(sizes)]
    strides = [-1 if d in flipped else 1 for d in range(rank)]
    return ctx.slice(x, starts, sizes, strides).get_output(0)


@converter(aten.roll.default)
def roll(ctx, node, input, shifts, dims=()):
    """out[i] = x[(i - shift) mod n]: a WRAP slice starting at -shift (kept in [0, n) so the layer only
    ever wraps past the end). Without dims torch rolls the flattened tensor."""
    x = ctx.tensor(input)
    if not dims:
        flat = ctx.reshape(x, (-1,))
        rolled = roll(ctx, node, flat, shifts, [0])
        shape = _sizes(ctx, x)
        return ctx.reshape(rolled, shape)
    rank = ctx.rank(x)
    sizes = _sizes(ctx, x)
    starts = [0] * rank
    for shift, dim in zip(shifts, dims):
        d = normalize_dim(dim, rank)
        starts[d] = ctx.size_math(starts[d], shift, "SUB")
    starts = [s if isinstance(n, int) and n == 0 else ctx.size_math(s, n, "MOD") for s, n in zip(starts, sizes)]
    return ctx.slice(x, starts, sizes, [1] * rank, mode="WRAP").get_output(0)


def _static_diagonal_dims(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    shape = node.args[0].meta["val"].shape
    if any(not isinstance(shape[d], int) for d in (args["dim1"], args["dim2"])):
        return "diagonal of dynamic dims is not supported"
    return None


@converter(aten.diagonal.default, checks=_static_diagonal_dims)
def diagonal(ctx, node, input, offset=0, dim1=0, dim2=1):
    """Move dim1, dim2 last, flatten them to n1*n2 and step by n2+1 from the first diagonal element."""
    x = ctx.tensor(input)
    rank = ctx.rank(x)
    d1, d2 = normalize_dim(dim1, rank), normalize_dim(dim2, rank)
    rest = [d for d in range(rank) if d not in (d1, d2)]
    layer = ctx.network.add_shuffle(x)
    layer.first_transpose = tuple(rest + [d1, d2])
    moved = ctx.out(layer)
    n1, n2 = ctx.shape(x)[d1], ctx.shape(x)[d2]
    length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    first = offset if offset >= 0 else -offset * n2
    lead = [ctx.size_of(moved, d) for d in range(len(rest))]
    flat = ctx.reshape(moved, lead + [n1 * n2])
    starts = [0] * len(rest) + [first if length else 0]
    return ctx.slice(flat, starts, lead + [length], [1] * len(rest) + [n2 + 1]).get_output(0)


def _static_as_strided(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    values = [*node.args[0].meta["val"].shape, *args["size"], *args["stride"], args.get("storage_offset") or 0]
    if any(not isinstance(v, int) for v in values):
        return "as_strided with dynamic sizes, strides or offset is not supported"
    return None


@converter(aten.as_strided.default, checks=_static_as_strided)
def as_strided(ctx, node, input, size, stride, storage_offset=None):
    """Element positions in the (contiguous) input's storage are known at build time: one gather."""
    positions = torch.full((), storage_offset or 0, dtype=torch.int64)
    for n, s in zip(size, stride):
        positions = positions.unsqueeze(-1) + torch.arange(n) * s
    numel = functools.reduce(lambda a, b: a * b, ctx.shape(input), 1)
    if positions.numel() and int(positions.max()) >= numel:
        raise ctx.error(f"as_strided reads position {int(positions.max())} of a tensor with {numel} elements")
    index_dtype = np.int32 if numel < 2 ** 31 else np.int64
    flat = ctx.reshape(ctx.tensor(input), (numel,))
    index = ctx.constant(positions.numpy().astype(index_dtype))
    return ctx.out(ctx.network.add_gather(flat, index, 0))
