"""Padding: constant, reflect and replicate, as one Slice layer in FILL, REFLECT or CLAMP mode.

torch lists pads from the last dim backwards, (before, after) per dim; negative pads crop.
"""

from __future__ import annotations

import torch

from ..registry import converter
from .checks import static_shapes

aten = torch.ops.aten


def _padded_slice(ctx, x, pad, mode):
    shape = ctx.shape(x)
    starts, sizes = [0] * len(shape), list(shape)
    for i in range(len(pad) // 2):
        dim = len(shape) - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        starts[dim], sizes[dim] = -before, shape[dim] + before + after
    layer = ctx.network.add_slice(x, tuple(starts), tuple(sizes), (1,) * len(shape))
    layer.mode = getattr(ctx.trt.SampleMode, mode)
    return layer


@converter(aten.constant_pad_nd.default, checks=static_shapes)
def constant_pad_nd(ctx, node, input, pad, value=0):
    layer = _padded_slice(ctx, input, pad, "FILL")
    if value:
        layer.set_input(4, ctx.constant(torch.tensor(value, dtype=ctx.dtype_of(input))))
    return ctx.out(layer)


@converter(aten.reflection_pad1d.default, aten.reflection_pad2d.default, aten.reflection_pad3d.default,
           checks=static_shapes)
def reflection_pad(ctx, node, input, padding):
    return ctx.out(_padded_slice(ctx, input, padding, "REFLECT"))


@converter(aten.replication_pad1d.default, aten.replication_pad2d.default, aten.replication_pad3d.default,
           checks=static_shapes)
def replication_pad(ctx, node, input, padding):
    return ctx.out(_padded_slice(ctx, input, padding, "CLAMP"))
