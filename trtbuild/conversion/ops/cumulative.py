"""Running sums along a dim (cumsum) as TensorRT's Cumulative layer."""

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
