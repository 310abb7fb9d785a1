"""Binary arithmetic and comparisons with torch's broadcasting and type promotion."""

from __future__ import annotations

import math

import torch

from ..registry import converter
from .unary import truncated

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
    if rounding_mode == "trunc" and not node.meta["val"].dtype.is_floating_point:
        return _trunc_div_int(ctx, input, other)
    a, b = _true_div_operands(ctx, input, other)
    quotient = ctx.elementwise(a, b, _op(ctx, "DIV"))
    if rounding_mode == "trunc":  # bf16 / fp32 divides in fp32: the result keeps torch's dtype
        quotient = ctx.cast(truncated(ctx, quotient), node.meta["val"].dtype)
    return quotient


def _trunc_div_int(ctx, a, b):
    """Integer division toward zero from FLOOR_DIV (exact; a float quotient loses digits past 2**24)."""
    a, b = ctx.promote(a, b)
    floored = ctx.elementwise(a, b, _op(ctx, "FLOOR_DIV"))
    inexact = _nonzero(ctx, ctx.elementwise(a, ctx.elementwise(floored, b, _op(ctx, "PROD")), _op(ctx, "SUB")))
    fix = ctx.elementwise(inexact, _signs_differ(ctx, a, b), _op(ctx, "AND"))
    return ctx.select(fix, ctx.elementwise(floored, 1, _op(ctx, "SUM")), floored)


@converter(aten.pow.Tensor_Scalar, aten.pow.Tensor_Tensor)
def pow_(ctx, node, input, exponent):
    return ctx.elementwise(input, exponent, _op(ctx, "POW"))


@converter(aten.pow.Scalar)
def pow_scalar(ctx, node, input, exponent):
    """A python number raised to a tensor: the result dtype is torch's (an int base of a float tensor is float)."""
    dtype = node.meta["val"].dtype
    return ctx.elementwise(ctx.constant(torch.tensor(input, dtype=dtype)), ctx.cast(exponent, dtype), _op(ctx, "POW"))


@converter(torch.ops.prims.div.default)
def prims_div(ctx, node, input, other):
    """True division for floats; integers divide rounding toward zero (C semantics)."""
    if node.meta["val"].dtype.is_floating_point:
        return ctx.elementwise(input, other, _op(ctx, "DIV"))
    return _trunc_div_int(ctx, input, other)


def _fmod(ctx, a, b):
    """a - trunc(a / b) * b, with a's sign (C fmod). Integers go through FLOOR_DIV, which is exact."""
    op = lambda name: _op(ctx, name)  # noqa: E731
    a, b = ctx.promote(a, b)
    if not ctx.dtype_of(a).is_floating_point:
        rem = _remainder_int(ctx, a, b)
        fix = ctx.elementwise(_nonzero(ctx, rem), _signs_differ(ctx, a, b), op("AND"))
        return ctx.select(fix, ctx.elementwise(rem, b, op("SUB")), rem)
    whole = truncated(ctx, ctx.elementwise(a, b, op("DIV")))
    # a whole quotient of 0 contributes nothing, also when b is infinite (fmod(a, inf) = a)
    taken = ctx.select(ctx.elementwise(whole, 0, op("EQUAL")), ctx.tensor(0.0, like=a),
                    ctx.elementwise(whole, b, op("PROD")))
    return ctx.elementwise(a, taken, op("SUB"))


def _remainder_int(ctx, a, b):
    """a - floor(a / b) * b: b's sign (Python %)."""
    floored = ctx.elementwise(a, b, _op(ctx, "FLOOR_DIV"))
    return ctx.elementwise(a, ctx.elementwise(floored, b, _op(ctx, "PROD")), _op(ctx, "SUB"))


def _nonzero(ctx, x):
    return ctx.out(ctx.network.add_unary(ctx.elementwise(x, 0, _op(ctx, "EQUAL")), ctx.trt.UnaryOperation.NOT))


def _signs_differ(ctx, a, b):
    return ctx.elementwise(ctx.elementwise(a, 0, _op(ctx, "LESS")), ctx.elementwise(b, 0, _op(ctx, "LESS")),
                           _op(ctx, "XOR"))


@converter(aten.fmod.Tensor)
def fmod(ctx, node, input, other):
    return _fmod(ctx, input, other)


@converter(aten.remainder.Tensor, aten.remainder.Scalar, aten.remainder.Scalar_Tensor)
def remainder(ctx, node, input, other):
    """Python's %: b's sign. Floats adjust C's fmod (as ATen does) rather than a - floor(a/b)*b, which
    turns remainder(a, inf) into NaN."""
    a, b = ctx.promote(input, other)
    if not ctx.dtype_of(a).is_floating_point:
        return _remainder_int(ctx, a, b)
    rem = _fmod(ctx, a, b)
    fix = ctx.elementwise(_nonzero(ctx, rem), _signs_differ(ctx, rem, b), _op(ctx, "AND"))
    return ctx.select(fix, ctx.elementwise(rem, b, _op(ctx, "SUM")), rem)


@converter(aten.atan2.default)
def atan2(ctx, node, input, other):
    """atan2(y, x) in four quadrants from atan(y / x), IEEE special cases included: signed zeros
    (atan2(+-0, -0) = +-pi), x = 0 (+-pi/2), both infinite (+-pi/4, +-3pi/4)."""
    dtype = node.meta["val"].dtype  # integers give float32
    y, x = ctx.promote(*(ctx.cast(ctx.tensor(v), dtype) for v in (input, other)))
    op = lambda name: _op(ctx, name)  # noqa: E731
    both_zero = ctx.elementwise(ctx.elementwise(y, 0, op("EQUAL")), ctx.elementwise(x, 0, op("EQUAL")), op("AND"))
    both_inf = ctx.elementwise(_isinf(ctx, y), _isinf(ctx, x), op("AND"))
    ratio = ctx.elementwise(y, x, op("DIV"))  # 0/0 and inf/inf are NaN: replaced by a ratio of the same angle
    ratio = ctx.select(both_inf, ctx.elementwise(_sign(ctx, y), _sign(ctx, x), op("PROD")), ratio)
    ratio = ctx.select(both_zero, y, ratio)
    angle = ctx.out(ctx.network.add_unary(ratio, ctx.trt.UnaryOperation.ATAN))
    half_turn = ctx.select(_sign_bit(ctx, y), ctx.tensor(-math.pi, like=y), ctx.tensor(math.pi, like=y))
    return ctx.select(_sign_bit(ctx, x), ctx.elementwise(angle, half_turn, op("SUM")), angle)


def _unary(ctx, x, name):
    return ctx.out(ctx.network.add_unary(x, getattr(ctx.trt.UnaryOperation, name)))


def _isinf(ctx, x):
    return _unary(ctx, x, "ISINF")


def _sign(ctx, x):
    return _unary(ctx, x, "SIGN")


def _sign_bit(ctx, x):
    """x < 0, or x is -0 (1 / -0 = -inf)."""
    reciprocal = ctx.elementwise(ctx.tensor(1.0, like=x), x, _op(ctx, "DIV"))
    return ctx.elementwise(ctx.elementwise(x, 0, _op(ctx, "LESS")), ctx.elementwise(reciprocal, 0, _op(ctx, "LESS")),
                           _op(ctx, "OR"))


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
