"""Pairwise p-norm distances: cdist (between two sets of rows) and pdist (within one set, i < j).

The p-norm of the differences is summed over the feature dim: the count of nonzero differences for
p = 0, the largest |d| for p = inf, (sum |d|^p)^(1/p) otherwise. For p = 2 torch may instead use
|a|^2 + |b|^2 - 2 a.b (a matrix product, clamped at 0 before the root); it does so exactly when
compute_mode asks for it, or for mode 0 (the default) when either set has more than 25 rows, and so
do we, so that both round alike (the product loses digits where distances are near zero).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..registry import converter
from .linear import matmul_tensors

aten = torch.ops.aten


def _float_rows(node) -> str | None:
    vals = [a.meta.get("val") for a in node.args if isinstance(a, torch.fx.Node)]
    if any(v is None or not v.dtype.is_floating_point or v.dim() < 2 for v in vals):
        return "needs float inputs with rows (at least 2 dims)"
    if any(not isinstance(v.shape[-1], int) for v in vals):
        return "the feature dim must be static"
    return None


def _reduce(ctx, x, op, keep=False):
    return ctx.out(ctx.network.add_reduce(x, getattr(ctx.trt.ReduceOperation, op), 1 << (ctx.rank(x) - 1), keep))


def _unary(ctx, x, name):
    return ctx.out(ctx.network.add_unary(x, getattr(ctx.trt.UnaryOperation, name)))


def _unsqueeze(ctx, x, axis):
    return ctx.out(ctx.network.add_unsqueeze(x, ctx.constant(np.array([axis], dtype=np.int64))))


def _norm_of_differences(ctx, a, b, p):
    """[..., P, R]: the p-norm of a[..., i, :] - b[..., j, :] (batch dims broadcast)."""
    op = ctx.trt.ElementWiseOperation
    diff = ctx.elementwise(_unsqueeze(ctx, a, ctx.rank(a) - 1), _unsqueeze(ctx, b, ctx.rank(b) - 2), op.SUB)
    if p == 0:
        nonzero = _unary(ctx, ctx.elementwise(diff, 0.0, op.EQUAL), "NOT")
        return _reduce(ctx, ctx.cast(nonzero, ctx.dtype_of(a)), "SUM")
    if p == 2:
        return _unary(ctx, _reduce(ctx, ctx.elementwise(diff, diff, op.PROD), "SUM"), "SQRT")
    magnitude = _unary(ctx, diff, "ABS")
    if math.isinf(p):
        return _reduce(ctx, magnitude, "MAX")
    if p == 1:
        return _reduce(ctx, magnitude, "SUM")
    return ctx.elementwise(_reduce(ctx, ctx.elementwise(magnitude, float(p), op.POW), "SUM"), 1.0 / p, op.POW)


def _euclidean_by_product(ctx, a, b):
    """sqrt(max(0, |a|^2 + |b|^2 - 2 a.b)), as torch's matrix-product path."""
    op = ctx.trt.ElementWiseOperation
    rank = ctx.rank(b)
    flip = ctx.network.add_shuffle(b)
    flip.first_transpose = tuple(range(rank - 2)) + (rank - 1, rank - 2)
    b_t = ctx.out(flip)
    cross = ctx.elementwise(matmul_tensors(ctx, a, b_t), -2.0, op.PROD)
    a_norm = _reduce(ctx, ctx.elementwise(a, a, op.PROD), "SUM", keep=True)  # [..., P, 1]
    b_norm = ctx.out(ctx.network.add_reduce(ctx.elementwise(b_t, b_t, op.PROD), ctx.trt.ReduceOperation.SUM,
                                            1 << (rank - 2), True))  # [..., 1, R]
    squared = ctx.elementwise(ctx.elementwise(cross, a_norm, op.SUM), b_norm, op.SUM)
    return _unary(ctx, ctx.elementwise(squared, 0.0, op.MAX), "SQRT")


def _uses_product(node, p, compute_mode) -> bool:
    """torch's choice; with a row count unknown until run time, mode 0 takes the differences (the
    more accurate formula: the two differ by torch's own rounding, mostly near zero distance)."""
    if p != 2:
        return False
    mode = compute_mode or 0
    rows = [a.meta["val"].shape[-2] for a in node.args[:2]]
    return mode == 1 or (mode == 0 and any(isinstance(r, int) and r > 25 for r in rows))


@converter(aten._cdist_forward.default, checks=_float_rows)
def cdist(ctx, node, x1, x2, p, compute_mode=None):
    a, b = ctx.promote(x1, x2)
    if _uses_product(node, p, compute_mode):
        return _euclidean_by_product(ctx, a, b)
    return _norm_of_differences(ctx, a, b, p)


@converter(aten._pdist_forward.default, checks=_float_rows)
def pdist(ctx, node, input, p=2.0):
    """The distances of rows i < j, row-major: cdist(x, x) read at those positions."""
    x = ctx.tensor(input)
    full = ctx.reshape(_norm_of_differences(ctx, x, x, p), (-1,))
    rows = ctx.size_of(x, 0)
    if isinstance(rows, int):
        i, j = np.triu_indices(rows, 1)
        flat = ctx.constant((i * rows + j).astype(np.int64))
    else:
        flat = _pair_positions(ctx, rows)
    return ctx.out(ctx.network.add_gather(full, flat, 0))


def _pair_positions(ctx, n):
    """For a row count n known at run time: i * n + j of the k-th pair (i < j), k = 0 .. n(n-1)/2 - 1.

    Row i starts at s(i) = i n - i (i + 1) / 2; i is the largest row with s(i) <= k, estimated with a
    float square root and corrected by one either way with exact integer comparisons."""
    op, i64 = ctx.trt.ElementWiseOperation, torch.int64
    math_ = lambda a, b, name: ctx.elementwise(a, b, getattr(op, name))  # noqa: E731
    count = math_(math_(n, math_(n, 1, "SUB"), "PROD"), 2, "FLOOR_DIV")
    fill = ctx.network.add_fill((0,), ctx.trt.FillOperation.LINSPACE, ctx.trt.DataType.INT64)
    fill.set_input(0, ctx.reshape(count, (1,)))
    fill.set_input(1, ctx.constant(np.array(0, dtype=np.int64)))
    fill.set_input(2, ctx.constant(np.array([1], dtype=np.int64)))
    k = ctx.out(fill)
    twice_n_minus_1 = math_(math_(n, 2, "PROD"), 1, "SUB")
    radicand = math_(math_(twice_n_minus_1, twice_n_minus_1, "PROD"), math_(k, 8, "PROD"), "SUB")
    root = _unary(ctx, ctx.cast(radicand, torch.float32), "SQRT")
    estimate = _unary(ctx, math_(math_(ctx.cast(twice_n_minus_1, torch.float32), root, "SUB"), 0.5, "PROD"), "FLOOR")
    i = ctx.cast(estimate, i64)

    def start(row):
        return math_(math_(row, n, "PROD"), math_(math_(row, math_(row, 1, "SUM"), "PROD"), 2, "FLOOR_DIV"), "SUB")

    i = ctx.select(math_(k, start(i), "LESS"), math_(i, 1, "SUB"), i)
    following = math_(i, 1, "SUM")
    i = ctx.select(math_(k, start(following), "LESS"), i, following)
    j = math_(math_(math_(k, start(i), "SUB"), i, "SUM"), 1, "SUM")
    return math_(math_(i, n, "PROD"), j, "SUM")
