"""Pointwise activations that TensorRT has as fused activation layers."""

from __future__ import annotations

import torch

from ..registry import converter

aten = torch.ops.aten


def _activation(ctx, x, kind, alpha=None, beta=None):
    layer = ctx.network.add_activation(x, getattr(ctx.trt.ActivationType, kind))
    if alpha is not None:
        layer.alpha = float(alpha)
    if beta is not None:
        layer.beta = float(beta)
    return ctx.out(layer)


@converter(aten.relu.default)
def relu(ctx, node, input):
    return _activation(ctx, input, "RELU")


@converter(aten.sigmoid.default)
def sigmoid(ctx, node, input):
    return _activation(ctx, input, "SIGMOID")


@converter(aten.tanh.default)
def tanh(ctx, node, input):
    return _activation(ctx, input, "TANH")


@converter(aten.hardtanh.default)
def hardtanh(ctx, node, input, min_val, max_val):
    return _activation(ctx, input, "CLIP", min_val, max_val)


@converter(aten.clamp.default, aten.clamp.Tensor)
def clamp(ctx, node, input, min=None, max=None):
    # CLIP needs finite bounds and float input; elementwise max/min handle one-sided and integer clamps
    out = input
    if min is not None:
        out = ctx.elementwise(out, min, ctx.trt.ElementWiseOperation.MAX)
    if max is not None:
        out = ctx.elementwise(out, max, ctx.trt.ElementWiseOperation.MIN)
    return out


@converter(aten.leaky_relu.default)
def leaky_relu(ctx, node, input, negative_slope):
    return _activation(ctx, input, "LEAKY_RELU", negative_slope)


@converter(aten.elu.default)
def elu(ctx, node, input, alpha, scale, input_scale):
    if scale != 1 or input_scale != 1:
        raise ctx.error("elu with scale or input_scale other than 1 is not supported")
    return _activation(ctx, input, "ELU", alpha)


@converter(aten.gelu.default)
def gelu(ctx, node, input, approximate="none"):
    return _activation(ctx, input, "GELU_TANH" if approximate == "tanh" else "GELU_ERF")


@converter(aten.hardsigmoid.default)
def hardsigmoid(ctx, node, input):
    return _activation(ctx, input, "HARD_SIGMOID", 1 / 6, 0.5)


@converter(aten.hardswish.default)
def hardswish(ctx, node, input):
    gate = _activation(ctx, input, "HARD_SIGMOID", 1 / 6, 0.5)
    return ctx.elementwise(input, gate, ctx.trt.ElementWiseOperation.PROD)


@converter(aten.silu.default)
def silu(ctx, node, input):
    return ctx.elementwise(input, _activation(ctx, input, "SIGMOID"), ctx.trt.ElementWiseOperation.PROD)


@converter(aten.softplus.default)
def softplus(ctx, node, input, beta=1, threshold=20):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (torch's linear tail)."""
    smooth = _activation(ctx, input, "SOFTPLUS", 1 / beta, beta)
    linear = ctx.elementwise(ctx.elementwise(input, beta, ctx.trt.ElementWiseOperation.PROD), threshold,
                             ctx.trt.ElementWiseOperation.GREATER)
    return ctx.select(linear, input, smooth)
