"""Padding: constant, reflect, replicate and circular, as one Slice layer in FILL, REFLECT, CLAMP or
WRAP mode. torch lists pads from the last dim backwards, (before, after) per dim; negative pads crop.
A padded dim starts at -before and is before + size + after long (a size tensor when the dim is dynamic).
"""

from __future__ import annotations

import torch

from ..registry import converter

aten = torch.ops.aten
# F.pad's modes, which torch.export keeps whole as aten.pad
_SLICE_MODES = {"constant": "FILL", "reflect": "REFLECT", "replicate": "CLAMP", "circular": "WRAP"}


def _padded(ctx, x, pad, mode):
    rank = ctx.rank(x)
    starts, sizes = [0] * rank, [ctx.size_of(x, d) for d in range(rank)]
    for i in range(len(pad) // 2):
        dim = rank - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        starts[dim] = ctx.size_math(0, before, "SUB")
        sizes[dim] = ctx.size_math(ctx.size_math(sizes[dim], before, "SUM"), after, "SUM")
    return ctx.slice(x, starts, sizes, [1] * rank, mode=mode)


@converter(aten.constant_pad_nd.default)
def constant_pad_nd(ctx, node, input, pad, value=0):
    layer = _padded(ctx, input, pad, "FILL")
    if value:
        layer.set_input(4, ctx.constant(torch.tensor(value, dtype=ctx.dtype_of(input))))
    return layer.get_output(0)


@converter(aten.reflection_pad1d.default, aten.reflection_pad2d.default, aten.reflection_pad3d.default)
def reflection_pad(ctx, node, input, padding):
    return _padded(ctx, input, padding, "REFLECT").get_output(0)


@converter(aten.replication_pad1d.default, aten.replication_pad2d.default, aten.replication_pad3d.default)
def replication_pad(ctx, node, input, padding):
    return _padded(ctx, input, padding, "CLAMP").get_output(0)


@converter(aten._pad_circular.default)
def circular_pad(ctx, node, input, pad):
    """Circular padding reads past either end from the other end: WRAP mode."""
    return _padded(ctx, input, pad, "WRAP").get_output(0)


def _known_mode(node) -> str | None:
    from ..interpreter import node_args

    mode = node_args(node).get("mode", "constant")
    return None if mode in _SLICE_MODES else f"pad mode {mode!r} is not converted"


@converter(aten.pad.default, checks=_known_mode)
def pad(ctx, node, input, pad, mode="constant", value=None):
    if mode == "constant":
        return constant_pad_nd(ctx, node, input, pad, value or 0)
    return _padded(ctx, input, pad, _SLICE_MODES[mode]).get_output(0)
