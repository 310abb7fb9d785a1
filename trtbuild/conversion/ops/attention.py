"""scaled_dot_product_attention as TensorRT's fused attention (IAttention).

IAttention computes softmax(Q·Kᵀ + mask)·V without a scale: TensorRT asks for Q to be scaled
beforehand. It wants 4-D [batch, heads, seq, head_dim] tensors with K and V of one shape; a bool
mask keeps True positions, a float mask is added. It is marked decomposable so TensorRT may build
it from several kernels where no fused kernel fits (fp32, for one).
"""

from __future__ import annotations

import math

import torch
from torch.fx.experimental.symbolic_shapes import statically_known_true

from ..registry import converter

aten = torch.ops.aten


def _attention_supported(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    q, k, v = (args[name].meta["val"] for name in ("query", "key", "value"))
    if not q.dtype.is_floating_point or not q.dtype == k.dtype == v.dtype:
        return "query, key and value must share one float dtype"
    if q.dim() not in (3, 4) or not q.dim() == k.dim() == v.dim():
        return "only 3-D or 4-D query, key and value are converted"
    if args.get("dropout_p"):
        return "attention dropout is not supported"
    if not isinstance(q.shape[-1], int):
        return "the head size must be static"
    if not (_same(k.shape, v.shape) and _same(q.shape[-1:], v.shape[-1:])):
        return "TensorRT attention needs key and value of one shape, with query's head size"
    if not _same(q.shape[:1], k.shape[:1]):
        return "query and key/value batch sizes differ"
    if q.dim() == 3 and not all(isinstance(d, int) for d in q.shape):
        return "3-D attention with dynamic sizes is not converted"
    heads_q, heads_kv = q.shape[1] if q.dim() == 4 else 1, k.shape[1] if k.dim() == 4 else 1
    if heads_q % heads_kv:
        return f"{heads_q} query heads cannot share {heads_kv} key/value heads"
    if sum(user.target is node.target for user in args["query"].users) > 1:
        # the scaled query would feed two attentions: TensorRT-RTX 1.7's builder crashes on that
        return "the query feeds another attention (TensorRT cannot build a scaled query shared by two attentions)"
    return None


def _same(a, b) -> bool:
    """Equal sizes, decided without guarding (a comparison of symbolic sizes would specialize them)."""
    return len(a) == len(b) and all(statically_known_true(x == y) for x, y in zip(a, b))


@converter(aten.scaled_dot_product_attention.default, checks=_attention_supported)
def scaled_dot_product_attention(ctx, node, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    three_d = ctx.rank(query) == 3
    if three_d:  # [batch, seq, dim] is one head
        query, key, value = (_with_unit_heads(ctx, t) for t in (query, key, value))
    head_dim = ctx.shape(query)[-1]
    factor = scale if scale is not None else 1 / math.sqrt(head_dim)
    query = ctx.elementwise(query, factor, ctx.trt.ElementWiseOperation.PROD)
    kind = ctx.trt.CausalMaskKind.UPPER_LEFT if is_causal else ctx.trt.CausalMaskKind.NONE
    attention = ctx.network.add_attention_v2(query, key, value, ctx.trt.AttentionNormalizationOp.SOFTMAX, kind)
    attended = None
    if attn_mask is not None:
        mask = ctx.tensor(attn_mask)
        if three_d:
            mask = _with_unit_heads(ctx, ctx.unsqueeze_to(mask, 3))
        attention.mask, attended = _mask(ctx, mask, ctx.size_of(query, 2), ctx.size_of(key, 2), ctx.dtype_of(query))
    attention.decomposable = True
    out = ctx.out(attention)
    if attended is not None:
        out = ctx.elementwise(out, attended, ctx.trt.ElementWiseOperation.PROD)
    return ctx.reshape(out, ctx.shape(out)[:1] + ctx.shape(out)[2:]) if three_d else out


def _outputs_besides_attention(node) -> str | None:
    from .checks import only_first_output_used

    if only_first_output_used(node):
        return "uses the log-sum-exp or random-state outputs (only the attention output is converted)"
    return None


@converter(aten._scaled_dot_product_efficient_attention.default,
           checks=(_attention_supported, _outputs_besides_attention))
def efficient_attention(ctx, node, query, key, value, attn_bias, compute_log_sumexp, dropout_p=0.0,
                        is_causal=False, scale=None):
    """The memory-efficient kernel's op (what CUDA exports of sdpa hold): the same attention, the
    bias added like a float mask. TensorRT takes a mask or a causal kind, not both: with both, the
    causal part (key j after query i, upper left) becomes -inf in the bias."""
    if is_causal and attn_bias is not None:
        bias = ctx.tensor(attn_bias)
        rows = ctx.positions(ctx.size_of(query, 2), 4, 2)
        cols = ctx.positions(ctx.size_of(key, 2), 4, 3)
        future = ctx.elementwise(rows, cols, ctx.trt.ElementWiseOperation.LESS)
        attn_bias = ctx.select(future, ctx.tensor(float("-inf"), like=bias), bias)
        is_causal = False
    out = scaled_dot_product_attention(ctx, node, query, key, value, attn_bias, dropout_p, is_causal, scale)
    return out, None, None, None


def _with_unit_heads(ctx, x):
    batch, seq, dim = ctx.shape(x)
    return ctx.reshape(x, (batch, 1, seq, dim))


def _mask(ctx, mask, seq_q, seq_kv, dtype):
    """(mask for IAttention, 0/1 factor per query row).

    The mask is bool, or additive in the query's dtype, shaped [a0, a1, seq_q, seq_kv] (a0, a1 broadcast).
    torch returns 0 for a query whose keys are all masked; TensorRT does not document that case. Such
    rows are unmasked here and their output multiplied by 0 afterwards, so neither NaN nor a guess
    reaches the result.
    """
    op = ctx.trt.ElementWiseOperation
    mask = ctx.unsqueeze_to(mask, 4)
    is_bool = ctx.dtype_of(mask) == torch.bool
    if not is_bool:
        mask = ctx.cast(mask, dtype)
    allowed = mask if is_bool else _not(ctx, ctx.elementwise(mask, -math.inf, op.EQUAL))
    rows = ctx.out(ctx.network.add_reduce(ctx.cast(allowed, torch.int32), ctx.trt.ReduceOperation.MAX, 1 << 3, True))
    attended = ctx.cast(rows, torch.bool)
    if is_bool:
        mask = ctx.elementwise(mask, _not(ctx, attended), op.OR)
    else:
        zero = ctx.constant(torch.zeros((1, 1, 1, 1), dtype=ctx.dtype_of(mask)))
        mask = ctx.out(ctx.network.add_select(attended, mask, zero))
    return _expanded(ctx, mask, seq_q, seq_kv), ctx.cast(rows, dtype)


def _not(ctx, x):
    return ctx.out(ctx.network.add_unary(x, ctx.trt.UnaryOperation.NOT))


def _expanded(ctx, mask, seq_q, seq_kv):
    """The mask's last two dims at full size (IAttention does not broadcast them); seq sizes may be tensors."""
    a0, a1, rows, cols = ctx.shape(mask)
    if rows != 1 and cols != 1:
        return mask
    stride = (1, 1, 0 if rows == 1 else 1, 0 if cols == 1 else 1)
    sizes = [ctx.size_of(mask, 0), ctx.size_of(mask, 1), seq_q if rows == 1 else ctx.size_of(mask, 2),
             seq_kv if cols == 1 else ctx.size_of(mask, 3)]
    if all(isinstance(n, int) for n in sizes):
        return ctx.out(ctx.network.add_slice(mask, (0, 0, 0, 0), tuple(sizes), stride))
    layer = ctx.network.add_slice(mask, (0, 0, 0, 0), (1, 1, 1, 1), stride)
    layer.set_input(2, ctx.shape_from(sizes))
    return ctx.out(layer)
