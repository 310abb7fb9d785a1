"""Reductions, softmax, normalization, top-k and cumulative layers."""

from __future__ import annotations

import torch

from .base import given, handles, mask_axes


@handles("REDUCE", "IReduceLayer")
def _reduce(layer, xs, ev):
    x, keep = xs[0], layer.keep_dims
    dims, op = mask_axes(layer.axes, xs[0].dim()), layer.op.name
    if not dims:
        return x
    if op == "PROD":
        for d in sorted(dims, reverse=True):
            x = x.prod(d, keepdim=keep)
        return x
    if op == "AVG":  # integer averages: computed exactly, then truncated by the cast (uncertain)
        return (x if x.is_floating_point() else x.double()).mean(dims, keepdim=keep)
    return {"SUM": torch.sum, "MAX": torch.amax, "MIN": torch.amin}[op](x, dims, keepdim=keep)


@handles("SOFTMAX", "ISoftMaxLayer")
def _softmax(layer, xs, ev):
    return torch.softmax(xs[0], dim=mask_axes(layer.axes, xs[0].dim())[0])


@handles("NORMALIZATION", "INormalizationLayer")
def _normalization(layer, xs, ev):
    """(x - mean) / sqrt(var + eps) * S + B over the `axes` bitmask (biased variance). With num_groups
    G > 1 the statistics are per group over (C/G, spatial dims); S and B have shape [1, G, 1, ...] for
    the deprecated add_normalization and [1, C, 1, ...] for add_normalization_v2 (`is_v2`)."""
    x, scale, bias, groups = xs[0], xs[1], xs[2], layer.num_groups
    if groups == 1:
        dims = mask_axes(layer.axes, x.dim())
        mean, var = x.mean(dims, keepdim=True), x.var(dims, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + layer.epsilon) * scale + bias
    g = x.reshape(x.shape[0], groups, -1)
    g = (g - g.mean(-1, keepdim=True)) / torch.sqrt(g.var(-1, keepdim=True, unbiased=False) + layer.epsilon)
    if not layer.is_v2:
        return (g * scale.reshape(1, groups, 1) + bias.reshape(1, groups, 1)).reshape(x.shape)
    return g.reshape(x.shape) * scale + bias


@handles("TOPK", "ITopKLayer")
def _topk(layer, xs, ev):
    """Sorted; the order of ties is torch's (uncertain)."""
    k = int(xs[1]) if given(xs, 1) is not None else layer.k
    values, indices = torch.topk(xs[0], k, mask_axes(layer.axes, xs[0].dim())[0], largest=layer.op.name == "MAX")
    return values, indices


@handles("CUMULATIVE", "ICumulativeLayer")
def _cumulative(layer, xs, ev):
    x, axis = xs[0], int(xs[1])
    y = x.flip(axis) if layer.reverse else x
    y = y.cumsum(axis, dtype=y.dtype)
    y = y - (x.flip(axis) if layer.reverse else x) if layer.exclusive else y
    return y.flip(axis) if layer.reverse else y
