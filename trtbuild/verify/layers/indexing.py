"""Gather, scatter and one-hot layers."""

from __future__ import annotations

import torch

from .base import handles


@handles("GATHER", "IGatherLayer")
def _gather(layer, xs, ev):
    """DEFAULT: x.shape[:axis] + idx.shape + x.shape[axis+1:], negative indices wrap (uncertain);
    with num_elementwise_dims 1 the leading dim of x and idx is a shared batch dim (uncertain).
    ELEMENT = torch.gather. ND = ONNX GatherND with batch_dims = num_elementwise_dims."""
    x, idx, axis, batch = xs[0], xs[1].long(), layer.axis % xs[0].dim(), layer.num_elementwise_dims
    mode = layer.mode.name
    if mode == "ELEMENT":
        return torch.gather(x, axis, idx)
    if mode == "ND":
        k = idx.shape[-1]
        flat_x = x.reshape(-1, *x.shape[batch:])
        flat_i = idx.reshape(flat_x.shape[0], -1, k)
        rows = torch.arange(flat_x.shape[0]).unsqueeze(1).expand(flat_i.shape[:2])
        picked = flat_x[(rows, *flat_i.unbind(-1))]
        return picked.reshape((*idx.shape[:-1], *x.shape[batch + k:]))

    def default(x, idx, axis):
        idx = torch.where(idx < 0, idx + x.shape[axis], idx)
        out = x.index_select(axis, idx.flatten())
        return out.reshape((*x.shape[:axis], *idx.shape, *x.shape[axis + 1:]))  # tuple: 0-d idx gives ()

    if batch == 0:
        return default(x, idx, axis)
    return torch.stack([default(x[b], idx[b], axis - 1) for b in range(x.shape[0])])


@handles("SCATTER", "IScatterLayer")
def _scatter(layer, xs, ev):
    data, idx, updates = xs[0], xs[1].long(), xs[2]
    if layer.mode.name == "ELEMENT":
        return data.scatter(layer.axis % data.dim(), idx, updates)
    out = data.clone()  # ND, as ONNX ScatterND
    out[tuple(idx.unbind(-1))] = updates
    return out


@handles("ONE_HOT", "IOneHotLayer")
def _one_hot(layer, xs, ev):
    """values = [off, on]; negative indices count from depth (uncertain); others out of range are all off."""
    idx, values, depth = xs[0].long(), xs[1].flatten(), int(xs[2])
    idx = torch.where(idx < 0, idx + depth, idx)
    out = torch.where(idx.unsqueeze(-1) == torch.arange(depth), values[1], values[0])
    return out.movedim(-1, layer.axis % out.dim())
