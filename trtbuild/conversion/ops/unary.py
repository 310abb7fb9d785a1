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


def _plain_copy(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    device = args.get("device")
    if device is not None and torch.device(device).type not in ("cpu", "cuda"):
        return f"copy to device {device} is not supported"
    return None


@converter(aten._to_copy.default, checks=_plain_copy)
def to_copy(ctx, node, input, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False,
            memory_format=None):
    x = ctx.tensor(input)
    if dtype is None or dtype == ctx.dtype_of(x):
        return ctx.identity(x)
    if dtype == torch.bool:  # torch: nonzero -> True; a float->bool cast must not truncate 0.5 to 0
        return _unary(ctx, ctx.elementwise(x, 0, ctx.trt.ElementWiseOperation.EQUAL), "NOT")
    return ctx.cast(x, dtype)

