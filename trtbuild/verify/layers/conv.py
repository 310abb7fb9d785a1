"""Convolution, deconvolution and pooling layers."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import given, handles, pad_trailing


def _spatial_padding(layer, sizes, kernel, stride, dilation) -> list[tuple[int, int, int]]:
    """(pre, post, extra) padding per spatial dim; `extra` is the tail EXPLICIT_ROUND_UP adds so the
    last (partial) window exists: O = ceil((M - DK) / S) + 1, with M the explicitly padded size."""
    mode = layer.padding_mode.name
    result = []
    for d, n in enumerate(sizes):
        dk, s = 1 + dilation[d] * (kernel[d] - 1), stride[d]
        if mode.startswith("SAME"):
            total = max(0, (math.ceil(n / s) - 1) * s + dk - n)
            pre = total // 2 if mode == "SAME_UPPER" else total - total // 2
            result.append((pre, total - pre, 0))
            continue
        pre, post = layer.pre_padding[d], layer.post_padding[d]
        extra = 0
        if mode == "EXPLICIT_ROUND_UP":
            m = n + pre + post
            extra = max(0, (math.ceil((m - dk) / s)) * s + dk - m)
        result.append((pre, post, extra))
    return result


@handles("CONVOLUTION", "IConvolutionLayer")
def _convolution(layer, xs, ev):
    """Zero padding; EXPLICIT_ROUND_UP's extra tail is zero-padded too (uncertain: not confirmed on a GPU)."""
    x, k, (w, b) = xs[0], tuple(layer.kernel_size_nd), _kernel_and_bias(layer, xs, ev)
    stride, dilation = tuple(layer.stride_nd), tuple(layer.dilation_nd)
    pads = _spatial_padding(layer, x.shape[2:], k, stride, dilation)
    x = pad_trailing(x, [(pre, post + extra) for pre, post, extra in pads])
    w = w.reshape(layer.num_output_maps, -1, *k)
    return getattr(F, f"conv{len(k)}d")(x, w, b, stride, 0, dilation, layer.num_groups)


def _kernel_and_bias(layer, xs, ev) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The kernel and bias, from inputs 1 and 2 when given as tensors, else from the layer's weights."""
    w = given(xs, 1) if given(xs, 1) is not None else ev.read_weights(layer, "kernel")
    b = given(xs, 2) if given(xs, 2) is not None else ev.read_weights(layer, "bias")
    return w.to(xs[0].dtype), None if b is None else b.to(xs[0].dtype).flatten()


@handles("DECONVOLUTION", "IDeconvolutionLayer")
def _deconvolution(layer, xs, ev):
    """ConvTranspose, then pre/post padding crops the output. SAME_* modes crop DK - S in total, the
    smaller half first for SAME_UPPER (uncertain: not confirmed on a GPU)."""
    x, k, (w, b) = xs[0], tuple(layer.kernel_size_nd), _kernel_and_bias(layer, xs, ev)
    stride, dilation = tuple(layer.stride_nd), tuple(layer.dilation_nd)
    w = w.reshape(x.shape[1], -1, *k)
    y = getattr(F, f"conv_transpose{len(k)}d")(x, w, b, stride, 0, 0, layer.num_groups, dilation)
    if layer.padding_mode.name.startswith("SAME"):
        crops = []
        for d in range(len(k)):
            total = max(0, 1 + dilation[d] * (k[d] - 1) - stride[d])
            small = total // 2
            crops.append((small, total - small) if layer.padding_mode.name == "SAME_UPPER" else (total - small, small))
    else:
        crops = list(zip(layer.pre_padding, layer.post_padding))
    return pad_trailing(y, [(-a, -b) for a, b in crops])


@handles("POOLING", "IPoolingLayer")
def _pooling(layer, xs, ev):
    """MAX pads with -inf, AVERAGE with 0. The EXPLICIT_ROUND_UP tail never counts towards an average
    (like torch's ceil_mode); explicit padding counts unless average_count_excludes_padding. The
    tail rule is uncertain (not confirmed on a GPU)."""
    x, k, s = xs[0], tuple(layer.window_size_nd), tuple(layer.stride_nd)
    pads = _spatial_padding(layer, x.shape[-len(k):], k, s, (1,) * len(k))
    explicit, tail = [(a, b) for a, b, _ in pads], [(0, e) for *_, e in pads]
    kind = layer.type.name  # the PoolingType once downcast

    def max_pool():
        return getattr(F, f"max_pool{len(k)}d")(pad_trailing(pad_trailing(x, explicit, -math.inf), tail, -math.inf), k, s)

    def avg_pool():
        pool = getattr(F, f"avg_pool{len(k)}d")
        ones = torch.ones((1, 1, *x.shape[-len(k):]), dtype=x.dtype)
        counted = pad_trailing(pad_trailing(ones, explicit, 0.0 if layer.average_count_excludes_padding else 1.0), tail, 0.0)
        return pool(pad_trailing(pad_trailing(x, explicit), tail), k, s) / pool(counted, k, s)

    if kind == "MAX":
        return max_pool()
    if kind == "AVERAGE":
        return avg_pool()
    return layer.blend_factor * max_pool() + (1 - layer.blend_factor) * avg_pool()  # MAX_AVERAGE_BLEND
