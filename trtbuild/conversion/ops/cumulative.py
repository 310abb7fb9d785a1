"""Running sums along a dim (cumsum) as TensorRT's Cumulative layer, and their inverse, diff."""

from __future__ import annotations

import numpy as np
import torch

from ..context import normalize_dim
from ..registry import converter

aten = torch.ops.aten


@converter(aten.cumsum.default)
def cumsum(ctx, node, input, dim, dtype=None):
    x = ctx.cast(ctx.tensor(input), node.meta["val"].dtype)  # torch sums bool and integers in int64
    rank = ctx.rank(x)
    if rank == 0:
        return ctx.identity(x)
    axis = ctx.constant(np.array(normalize_dim(dim, rank), dtype=np.int32))  # a build-time 0-d shape tensor
    return ctx.out(ctx.network.add_cumulative(x, axis, ctx.trt.CumulativeOperation.SUM, False, False))


def _diff_fits(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    if args["input"].meta["val"].dim() == 0:
        return "diff of a 0-d tensor is an error in torch"
    extra = (args.get("prepend"), args.get("append"))
    if any(t is not None and not isinstance(t, torch.fx.Node) for t in extra):
        return "diff with a scalar prepend or append is not converted"
    n, dim = args.get("n", 1), args.get("dim", -1)
    length = sum(t.meta["val"].shape[dim] for t in (args["input"], *extra) if t is not None)
    if not isinstance(length, int):
        # a dynamic dim is at least 1 long: one difference never needs a negative size
        return None if n == 1 else "diff with n > 1 along a dynamic dim is not converted"
    return None if length >= n else "diff that leaves nothing along its dim is not converted"


@converter(aten.diff.default, checks=_diff_fits)
def diff(ctx, node, input, n=1, dim=-1, prepend=None, append=None):
    """n-th forward difference along `dim`, after joining prepend and append to the input
    (`!=` for bool, as torch does). The dim may be dynamic."""
    x = ctx.tensor(input)
    rank = ctx.rank(x)
    dim = normalize_dim(dim, rank)
    parts = [ctx.tensor(t) for t in (prepend, x, append) if t is not None]
    if len(parts) > 1:
        layer = ctx.network.add_concatenation(parts)
        layer.axis = dim
        x = ctx.out(layer)
    op = ctx.trt.ElementWiseOperation.XOR if ctx.dtype_of(x) == torch.bool else ctx.trt.ElementWiseOperation.SUB
    for _ in range(n):
        sizes = [ctx.size_of(x, d) for d in range(rank)]
        sizes[dim] = ctx.size_math(sizes[dim], 1, "SUB")
        later = ctx.slice(x, [int(d == dim) for d in range(rank)], sizes, [1] * rank).get_output(0)
        earlier = ctx.slice(x, [0] * rank, sizes, [1] * rank).get_output(0)
        x = ctx.elementwise(later, earlier, op)
    return x
