"""Numeric tests for the converters the model zoo needs: normalization, softmax, attention, indexing,
split/stack, padding and boolean ops. Same harness and Case table as test_ops.py (whose coverage
test also reads CASES from here), plus the cases that must fall back instead of converting."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from .harness import assert_falls_back, check_case
from .test_ops import A, Case, r, ri

LN = {"w": torch.randn(4, 5), "b": torch.randn(4, 5)}
GN = {"w": torch.randn(6), "b": torch.randn(6)}
EMB = {"table": torch.randn(10, 4)}


def keep_mask(*shape):
    mask = torch.rand(*shape) > 0.4
    mask[..., 0] = True  # a row with every key masked is NaN in eager
    return mask


def sdpa(**kw):
    return lambda s, q, k, v: F.scaled_dot_product_attention(q, k, v, **kw)


CASES = [
    # layer norm and group norm
    Case("layer-norm-last-two-dims", lambda s, x: F.layer_norm(x, (4, 5), s.w, s.b, 1e-3), (r(2, 3, 4, 5),),
         ("aten.layer_norm.default",), LN),
    Case("layer-norm-no-affine-1d", lambda s, x: F.layer_norm(x, (5,)) + F.layer_norm(x[0, 0, 0], (5,)),
         (r(2, 3, 4, 5),), ("aten.layer_norm.default",)),
    Case("layer-norm-weight-only", lambda s, x: F.layer_norm(x, (5,), s.w[0]), (r(3, 5) * 4 + 2,),
         ("aten.layer_norm.default",), LN),
    Case("native-layer-norm", lambda s, x: A.native_layer_norm.default(x, [4, 5], s.w, None, 1e-5)[0],
         (r(3, 4, 5),), ("aten.native_layer_norm.default",), LN),
    Case("group-norm", lambda s, x: F.group_norm(x, 3, s.w, s.b, 1e-4), (r(2, 6, 4, 5),),
         ("aten.group_norm.default",), GN),
    Case("group-norm-one-group-3d", lambda s, x: F.group_norm(x, 1, s.w, s.b), (r(2, 6, 7),),
         ("aten.group_norm.default",), GN),
    Case("group-norm-instance-5d-no-affine", lambda s, x: F.group_norm(x, 6), (r(1, 6, 2, 3, 4),),
         ("aten.group_norm.default",)),
    Case("native-group-norm", lambda s, x: A.native_group_norm.default(x, s.w, s.b, 2, 6, 20, 2, 1e-5)[0],
         (r(2, 6, 4, 5),), ("aten.native_group_norm.default",), GN),
    # softmax
    Case("softmax-dims", lambda s, x: torch.softmax(x, -1) + torch.softmax(x, 0) + x.softmax(1), (r(2, 3, 4) * 5,),
         ("aten.softmax.int",)),
    Case("softmax-dtype-1d-0d", lambda s, x: torch.softmax(x, 0, dtype=torch.float32) + torch.softmax(x[0].float(), 0)
         + torch.softmax(x[0, 0].float(), -1), (r(3, 4).half(),), ("aten.softmax.int",)),
    Case("softmax-underscore", lambda s, x: A._softmax.default(x, 1, False) + A._softmax.default(x, -1, False),
         (r(2, 5) * 8,), ("aten._softmax.default",)),
    Case("log-softmax", lambda s, x: F.log_softmax(x, -1) + F.log_softmax(x, 0, dtype=torch.float32),
         (r(3, 6) * 30,), ("aten.log_softmax.int",)),
    Case("log-softmax-underscore", lambda s, x: A._log_softmax.default(x, 1, False), (r(2, 5) * 50,),
         ("aten._log_softmax.default",)),
    # scaled dot product attention
    Case("sdpa", sdpa(), (r(2, 4, 6, 8), r(2, 4, 7, 8), r(2, 4, 7, 8)), ("aten.scaled_dot_product_attention.default",)),
    Case("sdpa-bool-mask-broadcast", lambda s, q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=s.m),
         (r(2, 4, 6, 8), r(2, 4, 7, 8), r(2, 4, 7, 8)), ("aten.scaled_dot_product_attention.default",),
         {"m": keep_mask(2, 1, 1, 7)}),
    Case("sdpa-float-mask-2d-scale", lambda s, q, k, v: F.scaled_dot_product_attention(q, k, v, s.m, scale=0.3),
         (r(1, 2, 5, 4), r(1, 2, 5, 4), r(1, 2, 5, 4)), ("aten.scaled_dot_product_attention.default",),
         {"m": torch.randn(5, 5)}),
    Case("sdpa-runtime-mask", lambda s, q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m > 0),
         (r(2, 2, 3, 4), r(2, 2, 3, 4), r(2, 2, 3, 4), torch.rand(2, 1, 3, 3) + 0.01),
         ("aten.scaled_dot_product_attention.default",)),
    Case("sdpa-bool-mask-row-all-false-is-zero", lambda s, q, k, v, m: F.scaled_dot_product_attention(q, k, v, m > 0),
         (r(2, 2, 3, 4), r(2, 2, 5, 4), r(2, 2, 5, 4), torch.tensor([[1.0] * 5, [0.0] * 5, [0.0, 1, 0, 0, 1]])),
         ("aten.scaled_dot_product_attention.default",)),
    Case("sdpa-float-mask-row-all-inf-is-zero", lambda s, q, k, v: F.scaled_dot_product_attention(q, k, v, s.m),
         (r(2, 2, 3, 4), r(2, 2, 5, 4), r(2, 2, 5, 4)), ("aten.scaled_dot_product_attention.default",),
         {"m": torch.tensor([[0.0] * 5, [-float("inf")] * 5, [-float("inf"), 1, 0, 0, 2]]).expand(2, 1, 3, 5)}),
    Case("sdpa-causal", sdpa(is_causal=True), (r(2, 3, 6, 8), r(2, 3, 6, 8), r(2, 3, 6, 8)),
         ("aten.scaled_dot_product_attention.default",)),
    Case("sdpa-causal-rectangular", sdpa(is_causal=True), (r(1, 2, 3, 4), r(1, 2, 5, 4), r(1, 2, 5, 4)),
         ("aten.scaled_dot_product_attention.default",)),
    Case("sdpa-3d", lambda s, q, k, v: F.scaled_dot_product_attention(q, k, v, s.m),
         (r(2, 5, 8), r(2, 6, 8), r(2, 6, 8)), ("aten.scaled_dot_product_attention.default",),
         {"m": keep_mask(2, 5, 6)}),
    Case("sdpa-grouped-query", sdpa(enable_gqa=True), (r(1, 4, 5, 8), r(1, 2, 5, 8), r(1, 2, 5, 8)),
         ("aten.scaled_dot_product_attention.default",)),
    # indexing
    Case("embedding", lambda s, i: F.embedding(i, s.table), (ri(0, 10, 2, 5),), ("aten.embedding.default",), EMB),
    Case("embedding-int32-0d", lambda s, i: F.embedding(i, s.table) + F.embedding(i[0, 0], s.table),
         (ri(0, 10, 3, 2, dtype=torch.int32),), ("aten.embedding.default",), EMB),
    Case("index-select", lambda s, x, i: torch.index_select(x, -1, i).sum(-1, keepdim=True)
         + torch.index_select(x, 1, s.i), (r(2, 5, 4), ri(0, 4, 3)), ("aten.index_select.default",),
         {"i": torch.tensor([4, 0, 2, 2, 1])}),
    Case("gather-smaller-index", lambda s, x, i: torch.gather(x, 1, i) + torch.gather(x, -1, i[:, :2, :2]).sum(),
         (r(3, 5, 4), ri(0, 3, 2, 4, 3)), ("aten.gather.default",)),
    Case("index-one-tensor-negative", lambda s, x, i: x[:, i] + x[i, 0, :3].sum(), (r(4, 4, 3), ri(-4, 4, 2, 3)),
         ("aten.index.Tensor",)),
    Case("index-adjacent-broadcast", lambda s, x, i, j: x[:, i, j], (r(2, 4, 5, 3), ri(-4, 4, 3, 1), ri(0, 5, 2)),
         ("aten.index.Tensor",)),
    Case("index-separated", lambda s, x, i, j: x[i, :, j], (r(3, 4, 5), ri(0, 3, 2, 2), ri(-5, 5, 2)),
         ("aten.index.Tensor",)),
    Case("index-constant", lambda s, x: x[s.i, s.j] * 2, (r(3, 5),), ("aten.index.Tensor",),
         {"i": torch.tensor([[0], [2]]), "j": torch.tensor([1, -1, 3])}),
    Case("index-ops-on-a-constant", lambda s, i: s.table[i] + torch.gather(s.table, 0, i[:, :1].expand(3, 4))[0]
         + torch.index_select(s.table, 0, i[:, 0]).sum(0), (ri(0, 10, 3, 2),),
         ("aten.index.Tensor", "aten.gather.default", "aten.index_select.default"), EMB),
    # split, unbind, stack
    Case("split-chunk", lambda s, x: torch.cat([p * k for k, p in enumerate(x.split(2, dim=-1))], 1)
         + sum(x.chunk(3, 1)[0].split(1, 0)).sum(), (r(3, 7),), ("aten.split.Tensor",)),
    Case("chunk-uneven", lambda s, x: torch.cat([p * (k + 1) for k, p in enumerate(x.chunk(5, -1))], -1)
         + x.chunk(2, 0)[1].sum(), (r(3, 7),), ("aten.chunk.default",)),  # 7 in 5 chunks: 2, 2, 2, 1
    Case("unflatten", lambda s, x: x.unflatten(-1, (2, -1)).sum(-2) + x.unflatten(0, (1, 2, 1)).sum((0, 2, 4))[..., None],
         (r(2, 3, 8),), ("aten.unflatten.int",)),
    # what Hugging Face attention masks are made of, as torch.export leaves them
    Case("tensor-to", lambda s, x: (x * 3).to(torch.int32).to("cpu") + (x * 2).to(dtype=torch.int32, device="cpu")
         + x.to(torch.bool).to(torch.int32), (r(3, 4),), ("aten.to.dtype", "aten.to.device", "aten.to.dtype_layout")),
    Case("mask-operators", lambda s, x, y: ((x > 0) & (y > 0)) | ((x < 0.5) ^ (y < 0)), (r(3, 4), r(3, 4)),
         ("aten.__and__.Tensor", "aten.__or__.Tensor", "aten.__xor__.Tensor")),
    Case("diff", lambda s, x, y: x.diff()[:, :2] + torch.diff(y, n=2, dim=0, prepend=x[:1], append=y[:2])[:3, 1:3]
         + (x > 0).diff(dim=0).to(torch.float32).sum(), (r(3, 4), r(3, 4)), ("aten.diff.default",)),
    Case("split-with-sizes", lambda s, x: sum(p.sum(0) for p in x.split([1, 3, 2], dim=0)), (r(6, 4),),
         ("aten.split_with_sizes.default",)),
    Case("unbind", lambda s, x: sum(x.unbind(1)) + x.unbind(-1)[2].sum(), (r(2, 3, 4),), ("aten.unbind.int",)),
    Case("stack", lambda s, x, y: torch.stack([x, y, x], dim=-1) + torch.stack([x, y]).sum(0, keepdim=True)[..., None],
         (r(2, 3), r(2, 3)), ("aten.stack.default",)),
    Case("stack-promotes", lambda s, x, y: torch.stack([x, y], 1), (r(2, 3), ri(0, 5, 2, 3, dtype=torch.int32)),
         ("aten.stack.default",)),
    # padding: F.pad exports as aten.pad; the per-mode ops are what a re-traced program holds
    Case("pad-modes", lambda s, x: F.pad(x, (1, 2, 0, 3), value=-1.5)[:, :4, :5] + F.pad(x, (2, 1, 1, 0))[:, :4, :5]
         + F.pad(x, (2, 1, 1, 3), mode="reflect")[:, :4, :5] + F.pad(x, (1, 3), mode="replicate")[:, :, :5]
         + F.pad(x, (1, 2, 3, 0), mode="circular")[:, :4, :5], (r(2, 4, 5),), ("aten.pad.default",)),
    Case("pad-int-crop-3d", lambda s, x: F.pad(x, (-1, 2, 1, -1)) + 1, (ri(0, 9, 3, 4, 5),), ("aten.pad.default",)),
    Case("constant-pad", lambda s, x: A.constant_pad_nd.default(x, [1, 2, 0, 3], -1.5) + 1, (r(2, 3, 4),),
         ("aten.constant_pad_nd.default",)),
    Case("constant-pad-crop-int", lambda s, x: A.constant_pad_nd.default(x, [-1, 2, 1, -1]), (ri(0, 9, 3, 4, 5),),
         ("aten.constant_pad_nd.default",)),
    Case("reflection-pad", lambda s, x: A.reflection_pad2d.default(x, [2, 1, 1, 3])[:, :5, :5]
         + A.reflection_pad1d.default(x[0], [3, 2])[:, :5], (r(2, 5, 5),),
         ("aten.reflection_pad2d.default", "aten.reflection_pad1d.default")),
    Case("reflection-pad-3d", lambda s, x: A.reflection_pad3d.default(x, [1, 1, 2, 0, 0, 1]), (r(1, 2, 3, 4, 3),),
         ("aten.reflection_pad3d.default",)),
    Case("replication-pad", lambda s, x: A.replication_pad2d.default(x, [2, 1, 1, 3])[:, :5, :5]
         + A.replication_pad1d.default(x[0], [3, 2])[:, :5], (r(2, 5, 5),),
         ("aten.replication_pad2d.default", "aten.replication_pad1d.default")),
    Case("replication-pad-3d", lambda s, x: A.replication_pad3d.default(x, [1, 0, 2, 1, 1, 1]), (r(1, 2, 3, 4, 3),),
         ("aten.replication_pad3d.default",)),
    # masked_fill: the value takes the input's dtype; input and mask broadcast against each other
    Case("masked-fill", lambda s, x, m: x.masked_fill(m, -100.0) + x.masked_fill(~m, x[0, 0, 0]),
         (r(2, 3, 4), torch.rand(3, 4) > 0.5), ("aten.masked_fill.Scalar", "aten.masked_fill.Tensor")),
    Case("masked-fill-int-broadcast", lambda s, x, m: torch.masked_fill(x, m, 2.7),
         (ri(-5, 5, 4, dtype=torch.int32), torch.rand(3, 1, 4) > 0.5), ("aten.masked_fill.Scalar",)),
    # cumulative sums
    Case("cumsum", lambda s, x: x.cumsum(-1) + x.cumsum(0), (r(3, 5),), ("aten.cumsum.default",)),
    Case("cumsum-int-bool-0d-dtype", lambda s, x: (x.cumsum(1) + (x > 0).cumsum(0) + x[0, 0].cumsum(0)
                                                    + x.cumsum(1, dtype=torch.float32)),
         (ri(-3, 4, 3, 4, dtype=torch.int32),), ("aten.cumsum.default",)),
    # comparisons, logic, any/all
    Case("ne-le-ge", lambda s, x, y: torch.stack([x != y, x <= y, x >= y, x != 0.5, x <= 0, x >= 0]),
         (torch.tensor([[0.5, 1.0, float("nan")], [2.0, -1.0, 0.0]]), torch.tensor([0.5, 2.0, float("nan")])),
         ("aten.ne.Tensor", "aten.le.Tensor", "aten.ge.Tensor", "aten.ne.Scalar", "aten.le.Scalar", "aten.ge.Scalar")),
    Case("compare-int-float", lambda s, x: torch.bitwise_or(torch.bitwise_and(x <= 1.5, x >= 0), x != 3), (ri(-3, 5, 3, 4),),
         ("aten.le.Scalar", "aten.ge.Scalar", "aten.ne.Scalar", "aten.bitwise_and.Tensor", "aten.bitwise_or.Tensor")),
    Case("bool-logic", lambda s, x, y: torch.stack([torch.bitwise_xor(x > 0, y > 0), ~(x > y), torch.logical_and(x, y > 0),
                                                    torch.logical_or(x > 1, y), torch.logical_xor(x, y)]),
         (r(3, 4), r(4)), ("aten.bitwise_xor.Tensor", "aten.bitwise_not.default", "aten.logical_and.default",
                           "aten.logical_or.default", "aten.logical_xor.default")),
    Case("any-all-dim", lambda s, x: torch.stack([(x > 1).any(1), x.all(-1), (x > -2).all(1, keepdim=True)[:, 0]]),
         (r(3, 4, 4),), ("aten.any.dim", "aten.all.dim")),
    Case("any-all-dims-int", lambda s, x: torch.any(x, dim=(0, 2), keepdim=True) | torch.all(x, dim=(0, 2)),
         (ri(-1, 2, 3, 4, 5),), ("aten.any.dims", "aten.all.dims")),
    Case("any-all-everything", lambda s, x: torch.stack([torch.any(x > 2), torch.all(x > -3), torch.all(x)]),
         (r(3, 4),), ("aten.any.default", "aten.all.default")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_converter_matches_eager(case):
    check_case(case)


FALLBACKS = [
    ("integer-bitwise-and", lambda x, y: x & y, (ri(0, 9, 4), ri(0, 9, 4)), "aten.__and__.Tensor",
     "bool tensors only"),
    ("attention-dropout", lambda q: F.scaled_dot_product_attention(q, q, q, dropout_p=0.5), (r(1, 2, 3, 4),),
     "aten.scaled_dot_product_attention.default", "dropout"),
    ("attention-shared-query",
     lambda q, k: F.scaled_dot_product_attention(q, k, k) + F.scaled_dot_product_attention(q, q, q),
     (r(1, 2, 3, 4), r(1, 2, 3, 4)), "aten.scaled_dot_product_attention.default", "feeds another attention"),
    ("attention-value-head-size", lambda q, v: F.scaled_dot_product_attention(q, q, v), (r(1, 2, 3, 4), r(1, 2, 3, 6)),
     "aten.scaled_dot_product_attention.default", "key and value of one shape"),
]


@pytest.mark.parametrize("fn, args, op, reason", [f[1:] for f in FALLBACKS], ids=[f[0] for f in FALLBACKS])
def test_unconvertible_case_falls_back_with_a_reason(fn, args, op, reason):
    assert_falls_back(fn, args, op, reason)
