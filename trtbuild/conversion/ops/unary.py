"""Pointwise unary math and dtype casts."""

from __future__ import annotations

import torch

from ..registry import converter

aten = torch.ops.aten

# aten op -> TensorRT UnaryOperation. Float-only ops take integer inputs as float32 (torch promotes).
UNARY = {
    "abs": "ABS", "neg": "NEG", "exp": "EXP", "log": "LOG", "sqrt": "SQRT", "rsqrt": None, "reciprocal": "RECIP",
    "sin": "SIN", "cos": "COS", "tan": "TAN", "asin": "ASIN", "acos": "ACOS", "atan": "ATAN", "sinh": "SINH",
    "cosh": "COSH", "asinh": "ASINH", "acosh": "ACOSH", "atanh": "ATANH", "erf": "ERF", "floor": "FLOOR",
    "ceil": "CEIL", "round": "ROUND", "sign": "SIGN", "logical_not": "NOT",
}
KEEPS_INT = {"abs", "neg", "sign", "floor", "ceil", "round", "logical_not"}


def _unary(ctx, x, op):
    return ctx.out(ctx.network.add_unary(x, getattr(ctx.trt.UnaryOperation, op)))


def _make(name, op):
    def convert(ctx, node, input):
        x = ctx.tensor(input)
        if name == "logical_not":
            return _unary(ctx, ctx.cast(x, torch.bool), "NOT")
        if name not in KEEPS_INT and not ctx.dtype_of(x).is_floating_point:
            x = ctx.cast(x, torch.float32)
        if name in ("floor", "ceil", "round") and not ctx.dtype_of(x).is_floating_point:
            return ctx.identity(x)
        if name in ("abs", "neg") and ctx.dtype_of(x) in (torch.int32, torch.int64):
            zero_minus = ctx.elementwise(0, x, ctx.trt.ElementWiseOperation.SUB)
            if name == "neg":
                return zero_minus
            return ctx.elementwise(x, zero_minus, ctx.trt.ElementWiseOperation.MAX)
        if name == "rsqrt":
            return _unary(ctx, _unary(ctx, x, "SQRT"), "RECIP")
        return _unary(ctx, x, op)

    convert.__name__ = name
    return convert


for _name, _op in UNARY.items():
    converter(getattr(aten, _name).default)(_make(_name, _op))


def _float(ctx, x):
    x = ctx.tensor(x)
    return x if ctx.dtype_of(x).is_floating_point else ctx.cast(x, torch.float32)


def truncated(ctx, x):
    """Round toward zero: sign(x) * floor(|x|) (TensorRT has no TRUNC); integers are already whole."""
    if not ctx.dtype_of(x).is_floating_point:
        return ctx.identity(x)
    magnitude = _unary(ctx, _unary(ctx, x, "ABS"), "FLOOR")
    return ctx.elementwise(_unary(ctx, x, "SIGN"), magnitude, ctx.trt.ElementWiseOperation.PROD)


@converter(aten.trunc.default)
def trunc(ctx, node, input):
    return truncated(ctx, ctx.tensor(input))


def _equals(ctx, x, value):
    return ctx.elementwise(x, value, ctx.trt.ElementWiseOperation.EQUAL)


@converter(aten.expm1.default)
def expm1(ctx, node, input):
    """exp(x) - 1 without cancellation near 0 (Kahan): u = exp(x); (u - 1) * x / log(u), with x where
    u rounds to 1, -1 where u - 1 rounds to -1 and u where exp overflows."""
    op = ctx.trt.ElementWiseOperation
    x = _float(ctx, input)
    u = _unary(ctx, x, "EXP")
    u_minus_1 = ctx.elementwise(u, 1, op.SUB)
    ratio = ctx.elementwise(x, _unary(ctx, u, "LOG"), op.DIV)  # about 1: no overflow in the product
    result = ctx.elementwise(u_minus_1, ratio, op.PROD)
    result = ctx.select(_equals(ctx, u, float("inf")), u, result)
    result = ctx.select(_equals(ctx, u_minus_1, -1), -1.0, result)
    return ctx.select(_equals(ctx, u, 1), x, result)


@converter(aten.log1p.default)
def log1p(ctx, node, input):
    """log(1 + x) without cancellation near 0 (Kahan): u = 1 + x; log(u) * x / (u - 1), with x where u
    rounds to 1 and u where it overflows."""
    op = ctx.trt.ElementWiseOperation
    x = _float(ctx, input)
    u = ctx.elementwise(x, 1, op.SUM)
    ratio = ctx.elementwise(x, ctx.elementwise(u, 1, op.SUB), op.DIV)
    result = ctx.elementwise(_unary(ctx, u, "LOG"), ratio, op.PROD)
    result = ctx.select(_equals(ctx, u, float("inf")), u, result)
    return ctx.select(_equals(ctx, u, 1), x, result)


def _nowhere(ctx, x):
    """All False in x's shape: integers are never NaN or infinite."""
    return _unary(ctx, _equals(ctx, x, x), "NOT")


@converter(aten.isnan.default)
def isnan(ctx, node, input):
    x = ctx.tensor(input)
    return _unary(ctx, x, "ISNAN") if ctx.dtype_of(x).is_floating_point else _nowhere(ctx, x)


@converter(aten.isinf.default)
def isinf(ctx, node, input):
    x = ctx.tensor(input)
    return _unary(ctx, x, "ISINF") if ctx.dtype_of(x).is_floating_point else _nowhere(ctx, x)


def _plain_copy(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    device = args.get("device")
    if device is not None and torch.device(device).type not in ("cpu", "cuda"):
        return f"copy to device {device} is not supported"
    return None


@converter(aten._to_copy.default, aten.to.dtype, aten.to.device, aten.to.dtype_layout, checks=_plain_copy)
def to_copy(ctx, node, input, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False,
            memory_format=None, copy=False):
    """`Tensor.to` and its functional `_to_copy`: a cast, or the input itself (a copy or an alias of it
    is the same values inside an engine)."""
    x = ctx.tensor(input)
    if dtype is None or dtype == ctx.dtype_of(x):
        return ctx.identity(x)
    if dtype == torch.bool:  # torch: nonzero -> True; a float->bool cast must not truncate 0.5 to 0
        return _unary(ctx, ctx.elementwise(x, 0, ctx.trt.ElementWiseOperation.EQUAL), "NOT")
    return ctx.cast(x, dtype)

