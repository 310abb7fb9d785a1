"""Binary arithmetic and comparisons with torch's broadcasting and type promotion."""

from __future__ import annotations

import torch

from ..registry import converter

aten = torch.ops.aten


def _op(ctx, name):
    return getattr(ctx.trt.ElementWiseOperation, name)


def _scaled(ctx, other, alpha, like):
    if alpha == 1:
        return other
    if isinstance(other, (int, float)):
        return other * alpha
    return ctx.elementwise(ctx.tensor(other, like=like), alpha, _op(ctx, "PROD"))


@converter(aten.add.Tensor, aten.add.Scalar)
def add(ctx, node, input, other, alpha=1):
    return ctx.elementwise(input, _scaled(ctx, other, alpha, input), _op(ctx, "SUM"))


@converter(aten.sub.Tensor, aten.sub.Scalar)
def sub(ctx, node, input, other, alpha=1):
    return ctx.elementwise(input, _scaled(ctx, other, alpha, input), _op(ctx, "SUB"))


@converter(aten.rsub.Scalar, aten.rsub.Tensor)
def rsub(ctx, node, input, other, alpha=1):
    return ctx.elementwise(other, _scaled(ctx, input, alpha, input), _op(ctx, "SUB"))


@converter(aten.mul.Tensor, aten.mul.Scalar)
def mul(ctx, node, input, other):
    return ctx.elementwise(input, other, _op(ctx, "PROD"))


def _true_div_operands(ctx, input, other):
    """Integer operands divide as float32 (torch's true division)."""
    a = ctx.tensor(input, like=other if isinstance(other, ctx.trt.ITensor) else None)
    if not ctx.dtype_of(a).is_floating_point:
        a = ctx.cast(a, torch.float32)
    if isinstance(other, ctx.trt.ITensor) and not ctx.dtype_of(other).is_floating_point:
        other = ctx.cast(other, torch.float32)
    return a, other


@converter(aten.div.Tensor, aten.div.Scalar)
def div(ctx, node, input, other):
    a, b = _true_div_operands(ctx, input, other)
    return ctx.elementwise(a, b, _op(ctx, "DIV"))


@converter(aten.div.Tensor_mode, aten.div.Scalar_mode)
def div_mode(ctx, node, input, other, rounding_mode=None):
    if rounding_mode == "floor":
        return ctx.elementwise(input, other, _op(ctx, "FLOOR_DIV"))
    a, b = _true_div_operands(ctx, input, other)
    quotient = ctx.elementwise(a, b, _op(ctx, "DIV"))
    if rounding_mode == "trunc":
        sign = ctx.out(ctx.network.add_unary(quotient, ctx.trt.UnaryOperation.SIGN))
        magnitude = ctx.out(ctx.network.add_unary(quotient, ctx.trt.UnaryOperation.ABS))
        floored = ctx.out(ctx.network.add_unary(magnitude, ctx.trt.UnaryOperation.FLOOR))
        quotient = ctx.elementwise(sign, floored, _op(ctx, "PROD"))
        quotient = ctx.cast(quotient, ctx.dtype_of(ctx.tensor(input, like=other)))
    return quotient


@converter(aten.pow.Tensor_Scalar, aten.pow.Tensor_Tensor)
def pow_(ctx, node, input, exponent):
    return ctx.elementwise(input, exponent, _op(ctx, "POW"))


@converter(aten.maximum.default)
def maximum(ctx, node, input, other):
    return ctx.elementwise(input, other, _op(ctx, "MAX"))


@converter(aten.minimum.default)
def minimum(ctx, node, input, other):
    return ctx.elementwise(input, other, _op(ctx, "MIN"))


def _compare(name):
    def convert(ctx, node, input, other):
        return ctx.elementwise(input, other, _op(ctx, name))

    return convert


for _aten, _trt in (("eq", "EQUAL"), ("gt", "GREATER"), ("lt", "LESS")):
    converter(getattr(aten, _aten).Tensor, getattr(aten, _aten).Scalar)(_compare(_trt))
