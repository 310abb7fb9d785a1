"""Tensors made from sizes alone: arange of a symbolic length (a Fill layer), full and empty of symbolic
sizes.

(An arange with static bounds never reaches a converter: lowering folds it into a constant.)"""

from __future__ import annotations

import numpy as np
import torch

from ..registry import converter

aten = torch.ops.aten


def _plain_range(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    values = [args.get(k) for k in ("start", "end", "step")]
    if any(isinstance(v, float) for v in values):
        return "arange with float bounds is not converted"
    step = args.get("step", 1)
    if isinstance(step, int) and step <= 0:
        return "arange with a non-positive step is not converted"
    return None


@converter(aten.arange.default, aten.arange.start, aten.arange.start_step, checks=_plain_range)
def arange(ctx, node, end, start=0, step=1, dtype=None, layout=None, device=None, pin_memory=None):
    dtype = node.meta["val"].dtype  # torch's choice (int64 for integer bounds)
    length = ctx.size_math(ctx.size_math(ctx.size_math(end, start, "SUB"), step - 1, "SUM"), step, "FLOOR_DIV")
    return linspace(ctx, length, start, step, dtype)


def linspace(ctx, length, first, step, dtype):
    """[first, first + step, ...] of `length` elements (ints or size tensors) as a LINSPACE Fill."""
    fill = ctx.network.add_fill((0,), ctx.trt.FillOperation.LINSPACE, ctx.trt_dtype(dtype))
    fill.set_input(0, ctx.shape_from([length]))
    first = ctx.constant(np.array(first, dtype=np.int64)) if isinstance(first, int) else first
    fill.set_input(1, ctx.cast(first, dtype))
    fill.set_input(2, ctx.cast(ctx.constant(np.array([step], dtype=np.int64)), dtype))
    return ctx.out(fill)


@converter(aten.full.default, aten.empty.memory_format)
def full(ctx, node, size, fill_value=0, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """A tensor of symbolic sizes holding one value, as a broadcast constant (empty's contents are
    unspecified: zeros). Static sizes never get here: lowering folds them into a constant."""
    value = ctx.constant(torch.tensor(fill_value, dtype=node.meta["val"].dtype).reshape((1,) * len(size)))
    return ctx.broadcast_to(value, list(size)) if size else value


@converter(aten.new_zeros.default, aten.new_ones.default)
def new_zeros_ones(ctx, node, input, size, dtype=None, layout=None, device=None, pin_memory=None):
    """`x.new_ones(size)`: ones of x's dtype unless `dtype` says otherwise (node.meta has torch's choice)."""
    return full(ctx, node, size, 1 if node.target is aten.new_ones.default else 0)
