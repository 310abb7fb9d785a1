"""Random tensors and dropout.

rand/randn/randperm draw from TensorRT's random fill, so an engine's values are samples of the same
distribution as torch's but never torch's own numbers (no engine can replay torch's generator):
compare their shapes, dtypes and statistics, not their values. TensorRT documents RANDOM_UNIFORM
between alpha and beta without saying whether beta itself can be drawn (torch.rand excludes 1).
A random permutation is the order of n uniform samples (TopK, so n <= 3840).

Dropout in inference (train=False) is the identity with an all-True mask. Training-mode dropout with
0 < p < 1 is refused: it would silently replace torch's random mask with TensorRT's.
"""

from __future__ import annotations

import numpy as np
import torch

from ..registry import converter
from .sorting import MAX_TOPK, top_k

aten = torch.ops.aten


def _fill(ctx, node, size, operation, alpha, beta):
    dtype = node.meta["val"].dtype
    sample_dtype = dtype if dtype in (torch.float16, torch.float32) else torch.float32
    static = all(isinstance(n, int) for n in size)
    layer = ctx.network.add_fill(tuple(size) if static else (0,) * len(size),
                                 getattr(ctx.trt.FillOperation, operation), ctx.trt_dtype(sample_dtype))
    if not static:
        layer.set_input(0, ctx.shape_from(size))
    layer.alpha, layer.beta = alpha, beta
    return ctx.cast(ctx.out(layer), dtype)


def _float_result(node) -> str | None:
    if not node.meta["val"].dtype.is_floating_point:
        return "random values of an integer dtype are not supported"
    return None


@converter(aten.rand.default, checks=_float_result)
def rand(ctx, node, size, dtype=None, layout=None, device=None, pin_memory=None):
    return _fill(ctx, node, size, "RANDOM_UNIFORM", 0.0, 1.0)


@converter(aten.randn.default, checks=_float_result)
def randn(ctx, node, size, dtype=None, layout=None, device=None, pin_memory=None):
    return _fill(ctx, node, size, "RANDOM_NORMAL", 0.0, 1.0)


def _permutation_length(node) -> str | None:
    n = node.args[0]
    if not isinstance(n, int):
        return "randperm of a length known only at run time: TensorRT's TopK needs k at build time"
    if n > MAX_TOPK:
        return f"randperm orders n uniform samples with TensorRT's TopK, which takes k <= {MAX_TOPK}, here {n}"
    return None


@converter(aten.randperm.default, checks=_permutation_length)
def randperm(ctx, node, n, dtype=torch.int64, layout=None, device=None, pin_memory=None):
    samples = ctx.network.add_fill((n,), ctx.trt.FillOperation.RANDOM_UNIFORM, ctx.trt.DataType.FLOAT)
    samples.alpha, samples.beta = 0.0, 1.0
    _, order = top_k(ctx, ctx.out(samples), n, 0, True)
    return ctx.cast(order, node.meta["val"].dtype)


def _deterministic(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    if args["train"] is not False and 0 < args["p"] < 1:
        return "dropout in training mode draws a random mask (torch's generator cannot be replayed in TensorRT)"
    return None


@converter(aten.native_dropout.default, checks=_deterministic)
def native_dropout(ctx, node, input, p, train):
    """Inference: (input, all True). Training with p = 1 drops everything, with p = 0 nothing."""
    x = ctx.tensor(input)
    dropped = train is not False and p == 1
    mask = _filled(ctx, not dropped, x)
    if dropped:
        return ctx.elementwise(x, 0.0, ctx.trt.ElementWiseOperation.PROD), mask
    return ctx.identity(x), mask


def _filled(ctx, value, like):
    """A bool tensor of like's shape holding `value` (a broadcast constant)."""
    rank = ctx.rank(like)
    one = ctx.constant(np.full((1,) * rank, value, dtype=np.bool_))
    layer = ctx.network.add_slice(one, (0,) * rank, (1,) * rank, (0,) * rank)
    layer.set_input(2, ctx.shape_tensor(like))
    return ctx.out(layer)
