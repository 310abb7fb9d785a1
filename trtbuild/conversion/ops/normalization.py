"""Batch normalization (inference) folded into one scale and one shift per channel."""

from __future__ import annotations

import torch

from ..registry import converter
from .checks import constant_arg, only_first_output_used

aten = torch.ops.aten


@converter(aten._native_batch_norm_legit_no_training.default,
           checks=(only_first_output_used, constant_arg("weight", "bias", "running_mean", "running_var")))
def batch_norm(ctx, node, input, weight, bias, running_mean, running_var, momentum, eps):
    # Fold in float64 so the folded constants carry no more rounding than eager's own math.
    var, mean = running_var.double(), running_mean.double()
    scale = torch.rsqrt(var + eps) * (weight.double() if weight is not None else 1.0)
    shift = (bias.double() if bias is not None else 0.0) - mean * scale
    dtype = ctx.dtype_of(input)
    shape = (1, mean.numel()) + (1,) * (ctx.rank(input) - 2)
    scaled = ctx.elementwise(input, scale.reshape(shape).to(dtype), ctx.trt.ElementWiseOperation.PROD)
    return ctx.elementwise(scaled, shift.reshape(shape).to(dtype), ctx.trt.ElementWiseOperation.SUM), None, None
