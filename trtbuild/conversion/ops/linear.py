"""Matrix products: linear, addmm, mm, bmm, matmul."""

from __future__ import annotations

import torch

from ..registry import converter

aten = torch.ops.aten


def matmul_tensors(ctx, a, b):
    """torch.matmul semantics for ITensors: 1-D operands as vectors, batch dims broadcast."""
    a, b = ctx.tensor(a), ctx.tensor(b, like=a)
    op = ctx.trt.MatrixOperation
    op_a = op.VECTOR if ctx.rank(a) == 1 else op.NONE
    op_b = op.VECTOR if ctx.rank(b) == 1 else op.NONE
    if op_a == op.NONE and op_b == op.NONE:
        rank = max(ctx.rank(a), ctx.rank(b))
        a, b = ctx.unsqueeze_to(a, rank), ctx.unsqueeze_to(b, rank)
    elif op_a == op.VECTOR and op_b == op.NONE and ctx.rank(b) > 2:
        pass  # TensorRT broadcasts the vector against b's batch
    return ctx.out(ctx.network.add_matrix_multiply(a, op_a, b, op_b))


@converter(aten.linear.default)
def linear(ctx, node, input, weight, bias=None):
    rhs = weight.t() if isinstance(weight, torch.Tensor) else _transpose_last(ctx, weight)
    out = matmul_tensors(ctx, input, rhs)
    if bias is not None:
        out = ctx.elementwise(out, bias, ctx.trt.ElementWiseOperation.SUM)
    return out


def _transpose_last(ctx, x):
    rank = ctx.rank(x)
    layer = ctx.network.add_shuffle(x)
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    layer.first_transpose = tuple(perm)
    return ctx.out(layer)


@converter(aten.mm.default, aten.bmm.default, aten.matmul.default)
def mm(ctx, node, input, mat2=None, other=None):
    return matmul_tensors(ctx, input, mat2 if mat2 is not None else other)


@converter(aten.addmm.default)
def addmm(ctx, node, input, mat1, mat2, beta=1, alpha=1):
    prod_op = ctx.trt.ElementWiseOperation.PROD
    out = matmul_tensors(ctx, mat1, mat2)
    if alpha != 1:
        out = ctx.elementwise(out, alpha, prod_op)
    bias = input if beta == 1 else ctx.elementwise(ctx.tensor(input, like=out), beta, prod_op)
    return ctx.elementwise(out, bias, ctx.trt.ElementWiseOperation.SUM)
