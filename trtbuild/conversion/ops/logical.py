"""Boolean-valued ops: the comparisons elementwise.py lacks (ne, le, ge), logic on bools, any/all."""

from __future__ import annotations

import torch

from ..context import axes_mask
from ..registry import converter

aten = torch.ops.aten


def _op(ctx, name):
    return getattr(ctx.trt.ElementWiseOperation, name)


def _not(ctx, x):
    return ctx.out(ctx.network.add_unary(x, ctx.trt.UnaryOperation.NOT))


@converter(aten.ne.Tensor, aten.ne.Scalar)
def ne(ctx, node, input, other):
    return _not(ctx, ctx.elementwise(input, other, _op(ctx, "EQUAL")))


@converter(aten.le.Tensor, aten.le.Scalar)
def le(ctx, node, input, other):  # less or equal (not `not greater`: NaN must compare False)
    return ctx.elementwise(ctx.elementwise(input, other, _op(ctx, "LESS")),
                           ctx.elementwise(input, other, _op(ctx, "EQUAL")), _op(ctx, "OR"))


@converter(aten.ge.Tensor, aten.ge.Scalar)
def ge(ctx, node, input, other):
    return ctx.elementwise(ctx.elementwise(input, other, _op(ctx, "GREATER")),
                           ctx.elementwise(input, other, _op(ctx, "EQUAL")), _op(ctx, "OR"))


def _nonzero(ctx, x):
    """x != 0 as BOOL. Not a cast: TensorRT's float->bool cast is not documented to map 0.5 to True."""
    if ctx.dtype_of(x) == torch.bool:
        return x
    return _not(ctx, ctx.elementwise(x, 0, _op(ctx, "EQUAL")))


def _bool_operands(node) -> str | None:
    vals = [a.meta.get("val") if isinstance(a, torch.fx.Node) else a for a in node.args]
    if not all(isinstance(v, bool) or (isinstance(v, torch.Tensor) and v.dtype == torch.bool) for v in vals):
        return "bitwise ops are converted for bool tensors only (TensorRT has no integer bit ops)"
    return None


def _logic(name):
    def convert(ctx, node, input, other):
        return ctx.elementwise(_nonzero(ctx, ctx.tensor(input)), _nonzero(ctx, ctx.tensor(other)), _op(ctx, name))

    convert.__name__ = f"logical_{name.lower()}"
    return convert


for _name, _trt in (("and", "AND"), ("or", "OR"), ("xor", "XOR")):
    _bitwise = getattr(aten, f"bitwise_{_name}")
    converter(_bitwise.Tensor, _bitwise.Scalar, _bitwise.Scalar_Tensor, checks=_bool_operands)(_logic(_trt))
    converter(getattr(aten, f"logical_{_name}").default)(_logic(_trt))
    converter(getattr(aten, f"__{_name}__").Tensor, checks=_bool_operands)(_logic(_trt))  # `a & b` on masks


@converter(aten.bitwise_not.default, checks=_bool_operands)
def bitwise_not(ctx, node, input):
    return _not(ctx, input)


def _any_true(ctx, truth, dims, keepdim):
    """any() of a BOOL tensor over dims (all dims when empty). Reduce rejects BOOL: max over int32."""
    rank = ctx.rank(truth)
    if rank == 0:
        return ctx.identity(truth)
    dims = range(rank) if not dims else dims
    layer = ctx.network.add_reduce(ctx.cast(truth, torch.int32), ctx.trt.ReduceOperation.MAX,
                                   axes_mask(dims, rank), bool(keepdim))
    return ctx.cast(ctx.out(layer), torch.bool)


def _any(ctx, x, dims, keepdim):
    return _any_true(ctx, _nonzero(ctx, x), dims, keepdim)


def _all(ctx, x, dims, keepdim):  # all(x) = not any(not x)
    return _not(ctx, _any_true(ctx, _not(ctx, _nonzero(ctx, x)), dims, keepdim))


@converter(aten.any.dim, aten.all.dim)
def any_all_dim(ctx, node, input, dim, keepdim=False):
    reduce = _any if node.target is aten.any.dim else _all
    return reduce(ctx, input, [dim], keepdim)


@converter(aten.any.dims, aten.all.dims)
def any_all_dims(ctx, node, input, dim=None, keepdim=False):
    reduce = _any if node.target is aten.any.dims else _all
    return reduce(ctx, input, dim, keepdim)


@converter(aten.any.default, aten.all.default)
def any_all(ctx, node, input):
    reduce = _any if node.target is aten.any.default else _all
    return reduce(ctx, input, None, False)
