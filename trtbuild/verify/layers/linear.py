"""Matrix multiply, einsum and attention layers."""

from __future__ import annotations

import math

import torch

from .base import EvaluationError, describe, handles


@handles("MATRIX_MULTIPLY", "IMatrixMultiplyLayer")
def _matrix_multiply(layer, xs, ev):
    """TRANSPOSE swaps the last two dims; VECTOR makes input 0 a row, input 1 a column."""
    a, b, op0, op1 = xs[0], xs[1], layer.op0.name, layer.op1.name
    a = a.unsqueeze(-2) if op0 == "VECTOR" else a.transpose(-1, -2) if op0 == "TRANSPOSE" else a
    b = b.unsqueeze(-1) if op1 == "VECTOR" else b.transpose(-1, -2) if op1 == "TRANSPOSE" else b
    y = torch.matmul(a, b)
    y = y.squeeze(-1) if op1 == "VECTOR" else y
    return y.squeeze(-2 if op1 != "VECTOR" else -1) if op0 == "VECTOR" else y


@handles("EINSUM", "IEinsumLayer")
def _einsum(layer, xs, ev):
    return torch.einsum(layer.equation, *xs)


@handles("ATTENTION_INPUT", "IAttentionInputLayer")
def _attention_input(layer, xs, ev):
    """IAttention, computed by its input boundary layer (the output boundary layer copies the result):
    softmax(Q·Kᵀ + mask)·V, with no scale. A bool mask keeps True positions, a float mask is added.
    With fewer key/value heads, query head h reads key/value head h // (Hq / Hkv). Causal UPPER_LEFT
    keeps keys j <= i, LOWER_RIGHT aligns the diagonal with the last key. A row whose keys are all
    masked comes out NaN, as torch's plain softmax (uncertain: not confirmed on a GPU)."""
    att = layer.attention
    if att.query_form.name != "PADDED_BHND" or att.key_value_form.name != "PADDED_BHND":
        raise EvaluationError(f"{describe(layer)}: only the padded BHND attention layout is supported")
    if att.normalization_quantize_scale is not None:
        raise EvaluationError(f"{describe(layer)}: quantized attention normalization is not supported")
    q, k, v = xs[:3]
    mask = xs[3] if att.mask is not None else None
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    scores = q @ k.transpose(-1, -2)
    rows, cols = scores.shape[-2:]
    if att.causal_kind.name != "NONE":
        offset = 0 if att.causal_kind.name == "UPPER_LEFT" else cols - rows
        mask = torch.ones(rows, cols, dtype=torch.bool).tril(offset)
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf) if mask.dtype == torch.bool else scores + mask
    if att.norm_op.name == "SOFTMAX":
        scores = scores.softmax(-1)
    return scores @ v
