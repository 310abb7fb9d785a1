"""Pointwise layers: activations, elementwise and unary ops, PReLU, select, scale."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .base import handles


_ACTIVATIONS: dict[str, Callable] = {
    "RELU": lambda x, a, b: torch.relu(x),
    "SIGMOID": lambda x, a, b: torch.sigmoid(x),
    "TANH": lambda x, a, b: torch.tanh(x),
    "LEAKY_RELU": lambda x, a, b: torch.where(x >= 0, x, a * x),
    "ELU": lambda x, a, b: torch.where(x >= 0, x, a * torch.expm1(x)),
    "SELU": lambda x, a, b: torch.where(x > 0, b * x, b * (a * torch.exp(x) - a)),
    "SOFTSIGN": lambda x, a, b: x / (1 + x.abs()),
    "SOFTPLUS": lambda x, a, b: a * F.softplus(b * x),
    "CLIP": lambda x, a, b: x.clamp(a, b),
    "HARD_SIGMOID": lambda x, a, b: (a * x + b).clamp(0, 1),
    "SCALED_TANH": lambda x, a, b: a * torch.tanh(b * x),
    "THRESHOLDED_RELU": lambda x, a, b: torch.where(x > a, x, torch.zeros_like(x)),
    "GELU_ERF": lambda x, a, b: F.gelu(x),
    "GELU_TANH": lambda x, a, b: F.gelu(x, approximate="tanh"),
}


@handles("ACTIVATION", "IActivationLayer")
def _activation(layer, xs, ev):
    return _ACTIVATIONS[layer.type.name](xs[0], layer.alpha, layer.beta)  # `type` is the ActivationType here


def _int_aware_div(a, b):
    """Integer DIV truncates toward zero (uncertain: inferred, not confirmed on a GPU)."""
    return a / b if a.is_floating_point() else torch.div(a, b, rounding_mode="trunc")


_ELEMENTWISE: dict[str, Callable] = {
    "SUM": torch.add, "PROD": torch.mul, "MAX": torch.maximum, "MIN": torch.minimum, "SUB": torch.sub,
    "DIV": _int_aware_div, "POW": torch.pow, "FLOOR_DIV": lambda a, b: torch.div(a, b, rounding_mode="floor"),
    "AND": torch.logical_and, "OR": torch.logical_or, "XOR": torch.logical_xor,
    "EQUAL": torch.eq, "GREATER": torch.gt, "LESS": torch.lt,
}


_UNARY: dict[str, Callable] = {
    "EXP": torch.exp, "LOG": torch.log, "SQRT": torch.sqrt, "RECIP": torch.reciprocal, "ABS": torch.abs,
    "NEG": torch.neg, "SIN": torch.sin, "COS": torch.cos, "TAN": torch.tan, "SINH": torch.sinh,
    "COSH": torch.cosh, "ASIN": torch.asin, "ACOS": torch.acos, "ATAN": torch.atan, "ASINH": torch.asinh,
    "ACOSH": torch.acosh, "ATANH": torch.atanh, "CEIL": torch.ceil, "FLOOR": torch.floor, "ERF": torch.erf,
    "NOT": torch.logical_not, "SIGN": torch.sign, "ROUND": torch.round,  # half to even
    "ISINF": torch.isinf, "ISNAN": torch.isnan,
}


@handles("ELEMENTWISE", "IElementWiseLayer")
def _elementwise(layer, xs, ev):
    return _ELEMENTWISE[layer.op.name](xs[0], xs[1])  # same rank; size-1 dims broadcast


@handles("UNARY", "IUnaryLayer")
def _unary(layer, xs, ev):
    return _UNARY[layer.op.name](xs[0])


@handles("PARAMETRIC_RELU", "IParametricReLULayer")
def _parametric_relu(layer, xs, ev):
    return torch.where(xs[0] >= 0, xs[0], xs[0] * xs[1])


@handles("SELECT", "ISelectLayer")
def _select(layer, xs, ev):
    return torch.where(xs[0], xs[1], xs[2])


@handles("SCALE", "IScaleLayer")
def _scale(layer, xs, ev):
    """(x * scale + shift) ** power; empty weights mean 1, 0, 1. CHANNEL weights lie along
    channel_axis; ELEMENTWISE weights have shape x.shape[channel_axis:] (uncertain for ranks > 4)."""
    x, axis, mode = xs[0], layer.channel_axis, layer.mode.name

    def coefficients(attr):
        w = ev.read_weights(layer, attr)
        if w is None:
            return None
        if mode == "CHANNEL":
            return w.to(x.dtype).reshape([-1 if d == axis else 1 for d in range(x.dim())])
        return w.to(x.dtype).reshape(x.shape[axis:] if mode == "ELEMENTWISE" else ())

    scale, shift, power = coefficients("scale"), coefficients("shift"), coefficients("power")
    y = x if scale is None else x * scale
    y = y if shift is None else y + shift
    return y if power is None else y ** power
