"""Sampling an image at grid coordinates: grid_sampler_2d as TensorRT's GridSample layer."""

from __future__ import annotations

import torch

from ..registry import converter

aten = torch.ops.aten

# torch's integer codes of F.grid_sample's `mode` and `padding_mode`
INTERPOLATION = {0: "LINEAR", 1: "NEAREST", 2: "CUBIC"}
PADDING = {0: "FILL", 1: "CLAMP", 2: "REFLECT"}


def _float_input(node) -> str | None:
    if node.args[0].meta["val"].dtype not in (torch.float32, torch.float16, torch.bfloat16):
        return "GridSample takes float16, bfloat16 or float32 inputs only"
    return None


@converter(aten.grid_sampler_2d.default, checks=_float_input)
def grid_sampler_2d(ctx, node, input, grid, interpolation_mode, padding_mode, align_corners):
    x = ctx.tensor(input)
    layer = ctx.network.add_grid_sample(x, ctx.cast(ctx.tensor(grid), ctx.dtype_of(x)))
    layer.interpolation_mode = getattr(ctx.trt.InterpolationMode, INTERPOLATION[interpolation_mode])
    layer.sample_mode = getattr(ctx.trt.SampleMode, PADDING[padding_mode])
    layer.align_corners = bool(align_corners)
    return ctx.out(layer)
