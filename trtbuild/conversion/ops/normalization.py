"""Normalization: batch norm (inference) folded into a scale and shift; layer and group norm as
TensorRT's fused Normalization layer."""

from __future__ import annotations

import torch

from ..registry import converter
from .checks import only_first_output_used

aten = torch.ops.aten


@converter(aten._native_batch_norm_legit_no_training.default, checks=only_first_output_used)
def batch_norm(ctx, node, input, weight, bias, running_mean, running_var, momentum, eps):
    dtype = ctx.dtype_of(input)
    shape = (1, -1) + (1,) * (ctx.rank(input) - 2)
    stats = (weight, bias, running_mean, running_var)
    if all(v is None or isinstance(v, torch.Tensor) for v in stats):
        scale, shift = _folded(weight, bias, running_mean, running_var, eps)
        scale, shift = scale.reshape(shape).to(dtype), shift.reshape(shape).to(dtype)
    else:  # statistics or affine parameters computed at run time: the same algebra as layers
        scale, shift = _runtime_scale_shift(ctx, *stats, eps, dtype)
        scale, shift = ctx.reshape(scale, shape), ctx.reshape(shift, shape)
    scaled = ctx.elementwise(input, scale, ctx.trt.ElementWiseOperation.PROD)
    return ctx.elementwise(scaled, shift, ctx.trt.ElementWiseOperation.SUM), None, None


def _folded(weight, bias, running_mean, running_var, eps):
    """Fold in float64 so the folded constants carry no more rounding than eager's own math."""
    var, mean = running_var.double(), running_mean.double()
    scale = torch.rsqrt(var + eps) * (weight.double() if weight is not None else 1.0)
    shift = (bias.double() if bias is not None else 0.0) - mean * scale
    return scale, shift


def _runtime_scale_shift(ctx, weight, bias, running_mean, running_var, eps, dtype):
    op, unary = ctx.trt.ElementWiseOperation, ctx.trt.UnaryOperation
    mean, var = (ctx.cast(ctx.tensor(v), dtype) for v in (running_mean, running_var))
    root = ctx.out(ctx.network.add_unary(ctx.elementwise(var, float(eps), op.SUM), unary.SQRT))
    scale = ctx.out(ctx.network.add_unary(root, unary.RECIP))
    if weight is not None:
        scale = ctx.elementwise(scale, ctx.cast(ctx.tensor(weight), dtype), op.PROD)
    shift = ctx.elementwise(mean, scale, op.PROD)
    shift = ctx.elementwise(ctx.cast(ctx.tensor(bias), dtype), shift, op.SUB) if bias is not None else \
        ctx.elementwise(0.0, shift, op.SUB)
    return scale, shift


def _affine(ctx, value, fill, shape, dtype):
    """Scale or bias as a tensor of `shape` (the Normalization layer wants input rank and dtype)."""
    if value is None:
        value = torch.full(shape, fill)
    if isinstance(value, torch.Tensor):
        return ctx.constant(value.reshape(shape), dtype)
    return ctx.cast(ctx.reshape(value, shape), dtype)


def _normalization(ctx, x, weight, bias, axes, affine_shape, eps, groups=1):
    dtype = ctx.dtype_of(x)
    scale = _affine(ctx, weight, 1.0, affine_shape, dtype)
    shift = _affine(ctx, bias, 0.0, affine_shape, dtype)
    # v2 takes per-channel scale/bias for group norm (the v1 layer wants them per group)
    layer = ctx.network.add_normalization_v2(x, scale, shift, axes)
    layer.epsilon = float(eps)
    layer.num_groups = groups
    return ctx.out(layer)


def _float_input(node) -> str | None:
    val = node.args[0].meta.get("val")
    return None if val is not None and val.dtype.is_floating_point else "normalization needs a float input"


@converter(aten.layer_norm.default, checks=_float_input)
def layer_norm(ctx, node, input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    rank, k = ctx.rank(input), len(normalized_shape)
    axes = ((1 << k) - 1) << (rank - k)  # the last k dims
    return _normalization(ctx, input, weight, bias, axes, (1,) * (rank - k) + tuple(normalized_shape), eps)


@converter(aten.native_layer_norm.default, checks=(_float_input, only_first_output_used))
def native_layer_norm(ctx, node, input, normalized_shape, weight, bias, eps):
    return layer_norm(ctx, node, input, normalized_shape, weight, bias, eps), None, None


def _group_args(node) -> str | None:
    val = node.args[0].meta.get("val")
    if val is None or val.dim() < 3:
        return "group norm is converted for (N, C, *spatial) inputs only"
    return _float_input(node)


@converter(aten.group_norm.default, checks=(_group_args,))
def group_norm(ctx, node, input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    return _group_norm(ctx, input, weight, bias, num_groups, eps)


@converter(aten.native_group_norm.default, checks=(_group_args, only_first_output_used))
def native_group_norm(ctx, node, input, weight, bias, N, C, HxW, group, eps):
    return _group_norm(ctx, input, weight, bias, group, eps), None, None


def _group_norm(ctx, x, weight, bias, groups, eps):
    rank, channels = ctx.rank(x), ctx.shape(x)[1]
    affine_shape = (1, channels) + (1,) * (rank - 2)
    if groups == 1:  # one group: statistics over every dim but the batch
        return _normalization(ctx, x, weight, bias, (1 << rank) - 2, affine_shape, eps)
    spatial = ((1 << rank) - 1) & ~0b11  # with num_groups > 1 the layer adds C/G to the spatial axes
    return _normalization(ctx, x, weight, bias, spatial, affine_shape, eps, groups)



def _inference(node) -> str | None:
    from ..interpreter import node_args

    return "batch norm in training mode is not converted" if node_args(node)["training"] else None


@converter(aten.batch_norm.default, checks=_inference)
def batch_norm_inference(ctx, node, input, weight, bias, running_mean, running_var, training, momentum, eps,
                         cudnn_enabled):
    """The un-decomposed op that torch.export keeps when lowering skips run_decompositions."""
    return batch_norm(ctx, node, input, weight, bias, running_mean, running_var, momentum, eps)[0]
