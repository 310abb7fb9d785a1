"""Data movement: shuffle, slice, concatenation, padding, squeeze and unsqueeze."""

from __future__ import annotations

import torch

from .base import EvaluationError, describe, given, handles, int_input, ints, pad_trailing


@handles("SHUFFLE", "IShuffleLayer")
def _shuffle(layer, xs, ev):
    x = xs[0].permute(list(layer.first_transpose)[: xs[0].dim()])
    dims = int_input(xs, 1, layer.reshape_dims)
    if dims is not None:  # None: no reshape
        if layer.zero_is_placeholder:
            dims = [x.shape[d] if v == 0 else v for d, v in enumerate(dims)]
        x = x.reshape(dims)
    return x.permute(list(layer.second_transpose)[: x.dim()])


@handles("SLICE", "ISliceLayer")
def _slice(layer, xs, ev):
    """out[i] = x[start + i * stride] per axis; out-of-range coordinates follow the mode (WRAP: modulo,
    CLAMP, FILL: value from input 4 or 0, REFLECT: mirrored without repeating the edge, as torch's
    reflect padding, uncertain). Inputs 1-3 replace start/shape/stride, input 5 (or `axes`) names the axes."""
    x, rank, mode = xs[0], xs[0].dim(), layer.mode.name
    start, size, stride = ([0] * rank, list(x.shape), [1] * rank)
    starts, sizes, strides = (int_input(xs, i, getattr(layer, a)) for i, a in ((1, "start"), (2, "shape"), (3, "stride")))
    axes = int_input(xs, 5, layer.axes)
    for j, axis in enumerate(axes if axes is not None else range(rank)):
        start[axis % rank], size[axis % rank], stride[axis % rank] = (starts[j], sizes[j], strides[j])
    inside = torch.ones((), dtype=torch.bool)
    for d in range(rank):
        n, idx = x.shape[d], start[d] + torch.arange(size[d]) * stride[d]
        valid = (idx >= 0) & (idx < n)
        if mode == "STRICT_BOUNDS" and not bool(valid.all()):
            raise EvaluationError(f"{describe(layer)}: slice reads outside dim {d} (size {n}): {idx.tolist()}")
        if mode == "WRAP":
            idx = idx % n
        elif mode == "REFLECT":
            period = max(2 * (n - 1), 1)
            idx = idx % period
            idx = torch.where(idx >= n, period - idx, idx)
        elif mode == "FILL":
            inside = inside & valid.reshape([-1 if e == d else 1 for e in range(rank)])
        x = x.index_select(d, idx.clamp(0, max(n - 1, 0)))
    if mode == "FILL":
        fill = given(xs, 4)
        x = torch.where(inside, x, (fill if fill is not None else torch.zeros(())).to(x.dtype))
    return x


@handles("CONCATENATION", "IConcatenationLayer")
def _concatenation(layer, xs, ev):
    return torch.cat(xs, layer.axis)


@handles("PADDING", "IPaddingLayer")
def _padding(layer, xs, ev):
    """Zero padding (negative values crop) of the trailing dims (the last two)."""
    return pad_trailing(xs[0], list(zip(layer.pre_padding_nd, layer.post_padding_nd)))


@handles("SQUEEZE", "ISqueezeLayer")
def _squeeze(layer, xs, ev):
    x = xs[0]
    axes = {a % x.dim() for a in ints(xs[1])}
    if any(x.shape[a] != 1 for a in axes):
        raise EvaluationError(f"{describe(layer)}: cannot squeeze axes {sorted(axes)} of shape {list(x.shape)}")
    return x.reshape([n for d, n in enumerate(x.shape) if d not in axes])


@handles("UNSQUEEZE", "IUnsqueezeLayer")
def _unsqueeze(layer, xs, ev):
    x = xs[0]
    rank = x.dim() + len(xs[1].flatten())
    for a in sorted(a % rank for a in ints(xs[1])):
        x = x.unsqueeze(a)
    return x
