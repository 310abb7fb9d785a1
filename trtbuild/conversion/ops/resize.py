"""Upsampling (torch's interpolate) as TensorRT's Resize layer.

torch maps output pixel o to input coordinate o / s (nearest), (o + 0.5) / s - 0.5 (linear, cubic
and nearest-exact, without align_corners) or o (n - 1) / (m - 1) (align_corners), where s is the
scale factor when one is given, else m / n. TensorRT's Resize uses the same formulas with the scales
it is given (else m / n), so scale factors are passed as scales and output sizes as the shape; the
output size rule floor(n s) is the same on both sides. Bicubic is TensorRT's cubic with torch's
coefficient -0.75; torch clamps the taps at the border, as TensorRT does without exclude_outside.
"""

from __future__ import annotations

import torch

from ..registry import converter

aten = torch.ops.aten

NEAREST = (aten.upsample_nearest1d.vec, aten.upsample_nearest2d.vec, aten.upsample_nearest3d.vec)
NEAREST_EXACT = (aten._upsample_nearest_exact1d.vec, aten._upsample_nearest_exact2d.vec,
                 aten._upsample_nearest_exact3d.vec)
LINEAR = (aten.upsample_linear1d.vec, aten.upsample_bilinear2d.vec, aten.upsample_trilinear3d.vec)
CUBIC = (aten.upsample_bicubic2d.vec,)


def _static_scales(node) -> str | None:
    from ..interpreter import node_args

    scales = node_args(node).get("scale_factors")
    if scales is not None and not all(isinstance(s, (int, float)) for s in scales):
        return "scale factors computed at run time are not supported (TensorRT takes them at build time)"
    return None


def _resize(ctx, node, input, output_size, scale_factors, mode, transform, rounding="FLOOR"):
    x = ctx.tensor(input)
    layer = ctx.network.add_resize(x)
    layer.resize_mode = getattr(ctx.trt.InterpolationMode, mode)
    layer.coordinate_transformation = getattr(ctx.trt.ResizeCoordinateTransformation, transform)
    layer.nearest_rounding = getattr(ctx.trt.ResizeRoundMode, rounding)
    layer.selector_for_single_pixel = ctx.trt.ResizeSelector.FORMULA
    layer.exclude_outside = False
    if mode == "CUBIC":
        layer.cubic_coeff = -0.75
    leading = [ctx.size_of(x, d) for d in range(ctx.rank(x) - len(output_size or scale_factors))]
    if scale_factors is not None:
        layer.scales = [1.0] * len(leading) + [float(s) for s in scale_factors]
    elif all(isinstance(n, int) for n in leading + list(output_size)):
        layer.shape = tuple(leading) + tuple(output_size)
    else:
        layer.set_input(1, ctx.shape_from(leading + list(output_size)))
    return ctx.out(layer)


@converter(*NEAREST, checks=_static_scales)
def upsample_nearest(ctx, node, input, output_size, scale_factors):
    return _resize(ctx, node, input, output_size, scale_factors, "NEAREST", "ASYMMETRIC", "FLOOR")


@converter(*NEAREST_EXACT, checks=_static_scales)
def upsample_nearest_exact(ctx, node, input, output_size, scale_factors):
    return _resize(ctx, node, input, output_size, scale_factors, "NEAREST", "HALF_PIXEL", "HALF_UP")


@converter(*LINEAR, *CUBIC, checks=_static_scales)
def upsample_interpolated(ctx, node, input, output_size, align_corners, scale_factors):
    mode = "CUBIC" if node.target in CUBIC else "LINEAR"
    return _resize(ctx, node, input, output_size, scale_factors, mode,
                   "ALIGN_CORNERS" if align_corners else "HALF_PIXEL")
