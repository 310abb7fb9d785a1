"""Sources and pass-throughs: constants, fills, casts, shapes and assertions."""

from __future__ import annotations

import torch

from .base import EvaluationError, describe, given, handles, int_input


@handles("CONSTANT", "IConstantLayer")
def _constant(layer, xs, ev):
    value = ev.read_weights(layer, "weights", key=layer.name)
    shape = tuple(layer.shape)
    return torch.zeros(shape) if value is None else value.reshape(shape)


@handles("FILL", "IFillLayer")
def _fill(layer, xs, ev):
    """LINSPACE: alpha + sum_k beta[k] * i_k (a static beta is used for every dim). Inputs 0-2 replace
    shape, alpha and beta. RANDOM_UNIFORM in [alpha, beta), RANDOM_NORMAL mean alpha, std beta, drawn
    from torch's seeded generator: not TensorRT's values."""
    shape = int_input(xs, 0, layer.shape)
    alpha = xs[1] if given(xs, 1) is not None else torch.tensor(layer.alpha, dtype=torch.float64)
    beta = xs[2] if given(xs, 2) is not None else torch.tensor(layer.beta, dtype=torch.float64)
    op = layer.operation.name
    if op == "RANDOM_UNIFORM":
        return torch.rand(shape, generator=ev.generator, dtype=torch.float64) * (beta - alpha) + alpha
    if op == "RANDOM_NORMAL":
        return torch.randn(shape, generator=ev.generator, dtype=torch.float64) * beta + alpha
    deltas = beta.flatten().expand(len(shape)) if beta.numel() == 1 else beta.flatten()
    out = alpha.reshape(()).expand(shape)
    for d, n in enumerate(shape):
        out = out + deltas[d] * torch.arange(n).reshape([-1 if e == d else 1 for e in range(len(shape))])
    return out


@handles("ATTENTION_OUTPUT", "IAttentionOutputLayer")
@handles("IDENTITY", "IIdentityLayer")
@handles("CAST", "ICastLayer")
def _cast(layer, xs, ev):
    return xs[0]  # the cast to the declared dtype (float -> int truncates) happens for every output


@handles("SHAPE", "IShapeLayer")
def _shape(layer, xs, ev):
    return torch.tensor(list(xs[0].shape), dtype=torch.int64)


@handles("ASSERTION", "IAssertionLayer")
def _assertion(layer, xs, ev):
    if not bool(xs[0].all()):
        raise EvaluationError(f"{describe(layer)}: assertion failed: {layer.message}")
    return ()
