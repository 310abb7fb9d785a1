"""Symbolic sizes: `sym_size` and python arithmetic on sizes, as 0-d INT64 shape tensors.

With dynamic dims, torch.export writes sizes as graph values (`sym_size.int(x, 0) * 12`); they
become TensorRT shape tensors that feed reshape, expand and slice.
"""

from __future__ import annotations

import operator

import numpy as np
import torch

from ..registry import converter

aten = torch.ops.aten


@converter(aten.sym_size.int)
def sym_size(ctx, node, input, dim):
    size = ctx.size_of(input, dim)
    return ctx.constant(np.array(size, dtype=np.int64)) if isinstance(size, int) else size


def _size_arithmetic(op_name):
    def convert(ctx, node, a, b):
        return ctx.elementwise(ctx.tensor(a, like=b if not isinstance(b, int) else None),
                               ctx.tensor(b, like=a if not isinstance(a, int) else None),
                               getattr(ctx.trt.ElementWiseOperation, op_name))

    convert.__name__ = f"size_{op_name.lower()}"
    return convert


for _op, _trt in ((operator.add, "SUM"), (operator.sub, "SUB"), (operator.mul, "PROD"),
                  (operator.floordiv, "FLOOR_DIV")):
    converter(_op)(_size_arithmetic(_trt))


@converter(operator.neg)
def size_neg(ctx, node, a):
    return ctx.size_math(0, a, "SUB")


@converter(operator.mod)
def size_mod(ctx, node, a, b):
    return ctx.size_math(a, b, "MOD")
