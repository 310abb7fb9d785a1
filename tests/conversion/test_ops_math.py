"""Numeric tests for math, reduction, pooling and resize converters beyond the zoo's needs (issue 13):
special values included (signed zeros, infinities, NaN), since these ops are built from several
TensorRT layers. Same harness and Case table as test_ops.py, whose coverage test reads CASES here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trtbuild.api import make_settings
from trtbuild.inputs import Input
from trtbuild.lowering import lower
from trtbuild.partitioning.support import fallback_reason
from .harness import Fn, check_converted
from .test_ops import A, Case, r, ri

P = torch.ops.prims
INF, NAN = float("inf"), float("nan")
SPECIAL = torch.tensor([0.0, -0.0, 1.5, -2.5, INF, -INF, NAN, 3.0, -1e-8, 7.0])


def grid(values):
    """Every pair of `values`: (y, x) as two 1-D tensors."""
    a, b = torch.meshgrid(values, values, indexing="ij")
    return a.flatten(), b.flatten()


CASES = [
    # elementwise
    Case("atan2-quadrants-and-special-values", lambda s, y, x: torch.atan2(y, x), grid(SPECIAL), ("aten.atan2.default",)),
    Case("atan2-int-broadcast", lambda s, y, x: torch.atan2(y, x), (ri(-5, 5, 3, 4, dtype=torch.int32),
                                                                   ri(-5, 5, 4, dtype=torch.int32)),
         ("aten.atan2.default",)),
    Case("fmod-remainder-float", lambda s, a, b: torch.stack([torch.fmod(a, b), torch.remainder(a, b), a % 2.5,
                                                               A.remainder.Scalar_Tensor(3.0, b)]),
         (torch.tensor([-7.0, 7.0, -7.5, 7.5, 5.0, -5.0, 0.0, 4.0]), torch.tensor([2.0, -2.0, 2.0, -2.0, INF, INF, 3.0, -4.0])),
         ("aten.fmod.Tensor", "aten.remainder.Tensor", "aten.remainder.Scalar", "aten.remainder.Scalar_Tensor")),
    Case("fmod-remainder-int", lambda s, a, b: torch.stack([torch.fmod(a, b), torch.remainder(a, b), a % 3]),
         (torch.tensor([-7, 7, -7, 7, -6, 6, 0, 2**40 + 3]), torch.tensor([2, -2, -2, 2, 4, -4, 5, 2**20])),
         ("aten.fmod.Tensor", "aten.remainder.Tensor", "aten.remainder.Scalar")),
    Case("trunc-divisions-int-exact", lambda s, a, b: torch.stack([torch.div(a, b, rounding_mode="trunc"), P.div(a, b)]),
         (torch.tensor([-7, 7, -7, 7, 2**40 + 3, -(2**40) - 3]), torch.tensor([2, 2, -2, -2, 7, 7])),
         ("aten.div.Tensor_mode", "prims.div.default")),
    Case("prims-div-float", lambda s, a, b: P.div(a, b), (r(3, 4), r(3, 4) + 3), ("prims.div.default",)),
    Case("pow-scalar-base", lambda s, x: A.pow.Scalar(2, x) + A.pow.Scalar(0.5, x), (r(3, 4),), ("aten.pow.Scalar",)),
    Case("clamp-tensor-bounds", lambda s, x: A.clamp.Tensor(x, s.lo, s.hi) + A.clamp.Tensor(x, None, s.hi),
         (r(3, 4),), ("aten.clamp.Tensor",), {"lo": -torch.rand(3, 4), "hi": torch.rand(4) - 0.5}),
    Case("bitwise-bool-scalars", lambda s, x: torch.stack([A.bitwise_and.Scalar(x, True), A.bitwise_or.Scalar(x, False),
                                                           A.bitwise_xor.Scalar(x, True),
                                                           A.bitwise_and.Scalar_Tensor(False, x),
                                                           A.bitwise_or.Scalar_Tensor(True, x),
                                                           A.bitwise_xor.Scalar_Tensor(False, x)]),
         (r(3, 4) > 0,), ("aten.bitwise_and.Scalar", "aten.bitwise_or.Scalar", "aten.bitwise_xor.Scalar",
                          "aten.bitwise_and.Scalar_Tensor", "aten.bitwise_or.Scalar_Tensor",
                          "aten.bitwise_xor.Scalar_Tensor")),
    # unary
    Case("expm1-log1p-accurate-near-zero", lambda s, x: torch.stack([torch.expm1(x), torch.log1p(x)]),
         (torch.tensor([1e-8, -1e-8, 1e-4, 0.3, -0.3, 5.0, 88.5, 100.0, -100.0, 0.0, -1.0, -2.0, INF, -INF, NAN, 3e38]),),
         ("aten.expm1.default", "aten.log1p.default"), tol={"rtol": 1e-6, "atol": 0}),
    Case("expm1-int", lambda s, x: torch.expm1(x), (ri(-5, 5, 3, 4, dtype=torch.int32),), ("aten.expm1.default",)),
    Case("trunc-isnan-isinf", lambda s, x: torch.stack([torch.trunc(x), torch.isnan(x).float(), torch.isinf(x).float()]),
         (torch.tensor([-2.5, -0.5, 0.5, 2.5, 3.0, INF, -INF, NAN]),),
         ("aten.trunc.default", "aten.isnan.default", "aten.isinf.default")),
    Case("trunc-isnan-isinf-int", lambda s, x: torch.stack([torch.trunc(x), torch.isnan(x).int(), torch.isinf(x).int()]),
         (ri(-5, 5, 3, 4, dtype=torch.int32),), ("aten.trunc.default", "aten.isnan.default", "aten.isinf.default")),
    # reductions
    Case("prod", lambda s, x: x.prod(1) + x.prod(-1, keepdim=True).sum() + x.prod(), (r(2, 3, 4) + 1,),
         ("aten.prod.dim_int", "aten.prod.default")),
    Case("prod-int-is-int64", lambda s, x: x.prod(0) + x.prod(), (ri(-3, 4, 3, 4, dtype=torch.int32),),
         ("aten.prod.dim_int", "aten.prod.default")),
    Case("prims-sum", lambda s, x: P.sum(x, [0, 2]).sum(0) + P.sum(x, []).sum() + P.sum(x, [1])[0, 0],
         (r(2, 3, 4),), ("prims.sum.default",)),
    Case("max-min-everything", lambda s, x: torch.stack([torch.max(x), torch.min(x)]), (r(3, 4, 5),),
         ("aten.max.default", "aten.min.default")),
    # first index of the extreme, NaN wins (torch's documented semantics)
    Case("argmax-argmin-ties-take-the-first", lambda s, x: torch.stack([x.argmax(0), x.argmin(0), x.argmax(1, True)[:, 0],
                                                                        x.argmin(-1)]),
         (torch.tensor([[3, 1, 3, 0], [3, 1, 0, 3], [2, 1, 3, 0], [-1, 1, 0, 3]]),),
         ("aten.argmax.default", "aten.argmin.default")),
    Case("argmax-argmin-nan-wins", lambda s, x: torch.stack([x.argmax(1), x.argmin(1)]),
         (torch.tensor([[1.0, NAN, 3.0, NAN], [1.0, 2.0, 3.0, -1.0]]),), ("aten.argmax.default", "aten.argmin.default")),
    Case("argmax-flattened", lambda s, x: x.argmax() + x.argmin(None, True).sum(), (r(3, 4, 5),),
         ("aten.argmax.default", "aten.argmin.default")),
    Case("max-min-dim-values-and-indices", lambda s, x: torch.stack([torch.max(x, 1)[0], torch.max(x, 1)[1].float(),
                                                                     torch.min(x, -1)[0], torch.min(x, -1)[1].float()]),
         (torch.tensor([[3.0, 1.0, 3.0, 0.0], [NAN, 1.0, 0.0, NAN], [2.0, 2.0, -3.0, -3.0]]),),
         ("aten.max.dim", "aten.min.dim")),
    Case("max-dim-keepdim-int", lambda s, x: torch.max(x, 0, keepdim=True)[0] + torch.min(x, 2, True)[1],
         (ri(-5, 5, 3, 4, 5, dtype=torch.int32),), ("aten.max.dim", "aten.min.dim")),
    Case("topk-sort", lambda s, x: torch.cat([torch.topk(x, 3, 1)[0], torch.topk(x, 2, -1, largest=False)[0].sum(-1, True)
                                              .expand(4, 3), torch.sort(x, 1)[0][:, :3], torch.sort(x, 0, True)[0][:, 1:4]]),
         (r(4, 6),), ("aten.topk.default", "aten.sort.default")),
    Case("topk-sort-indices", lambda s, x: torch.cat([torch.topk(x, 3, 0)[1], torch.sort(x, -1, descending=True)[1]]),
         (r(5, 4),), ("aten.topk.default", "aten.sort.default")),
    Case("topk-sort-vector", lambda s, x: torch.cat([torch.topk(x, 3)[0], torch.sort(x)[0], torch.sort(x)[1].float()]),
         (r(6),), ("aten.topk.default", "aten.sort.default")),
    Case("sort-stable-false", lambda s, x: A.sort.stable(x, stable=False, dim=0)[0], (r(5, 4),), ("aten.sort.stable",)),
    # convolution and batch norm
    Case("conv-transpose-output-padding", lambda s, x: F.conv_transpose2d(x, s.w, s.b, stride=2, padding=1, output_padding=1)
         + F.conv_transpose2d(x, s.w, s.b, stride=3, padding=(1, 0), output_padding=(2, 1)).sum(),
         (r(1, 4, 5, 6),), ("aten.convolution.default",), {"w": torch.randn(4, 3, 3, 3), "b": torch.randn(3)}),
    Case("conv-transpose-1d-3d-output-padding", lambda s, x, y: F.conv_transpose1d(x, s.w1, None, 3, 0, 2).sum()
         + F.conv_transpose3d(y, s.w3, s.b, 2, 1, 1, groups=2),
         (r(1, 4, 7), r(1, 4, 3, 4, 2)), ("aten.convolution.default",),
         {"w1": torch.randn(4, 2, 3), "w3": torch.randn(4, 1, 3, 2, 3), "b": torch.randn(2)}),
    Case("conv-runtime-weights", lambda s, x, w, b: F.conv2d(x, w, b, padding=1) + F.conv1d(x[:, :, 0], w[:, :, 0], None, padding=1)[:, :, None],
         (r(1, 4, 6, 6), r(5, 4, 3, 3), r(5)), ("aten.conv2d.default", "aten.conv1d.default")),
    Case("conv-transpose-runtime-weight", lambda s, x, w: F.conv_transpose2d(x, w, s.b, 2, 1, 1), (r(2, 4, 3, 5), r(4, 3, 3, 3)),
         ("aten.convolution.default",), {"b": torch.randn(3)}),
    Case("batch-norm-runtime-statistics", lambda s, x, w, m: F.batch_norm(x, m, s.v, w, None, False, 0.1, 1e-3)
         + A._native_batch_norm_legit_no_training.default(x, None, s.b, m, s.v, 0.1, 1e-5)[0],
         (r(2, 3, 4, 4), r(3), r(3)), ("aten._native_batch_norm_legit_no_training.default",),
         {"v": torch.rand(3) + 0.5, "b": torch.randn(3)}),
    # pooling
    Case("pool-3d", lambda s, x: A.max_pool3d_with_indices.default(x, [3, 3, 3], [2, 1, 2], [1, 1, 1])[0] + F.avg_pool3d(x, 3, (2, 1, 2), 1)
         + F.avg_pool3d(x, 3, (2, 1, 2), 1, count_include_pad=False), (r(1, 2, 7, 6, 5),),
         ("aten.max_pool3d_with_indices.default", "aten.avg_pool3d.default")),
    Case("pool-3d-ceil-unbatched", lambda s, x: A.max_pool3d.default(x, [2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], True),
         (r(2, 5, 6, 7),), ("aten.max_pool3d.default",)),
    Case("max-pool-window-smaller-than-stride", lambda s, x: F.max_pool1d(x, 5, 2) + F.max_pool1d(x, 2, 3, ceil_mode=True).sum(),
         (r(1, 3, 32),), ("aten.max_pool2d_with_indices.default",)),
    Case("avg-pool-divisor-override", lambda s, x: F.avg_pool2d(x, 3, 2, 1, divisor_override=5)
         + F.avg_pool2d(x, 3, 2, 1, count_include_pad=False, divisor_override=4), (r(1, 2, 7, 7),),
         ("aten.avg_pool2d.default",)),
    Case("avg-pool-unbatched", lambda s, x: F.avg_pool2d(x, 2, 1), (r(3, 5, 6),), ("aten.avg_pool2d.default",)),
    Case("adaptive-avg-uneven-and-upsampling", lambda s, x: F.adaptive_avg_pool2d(x, (3, 5)).sum()
         + F.adaptive_avg_pool2d(x, (7, 11)), (r(2, 3, 7, 4),), ("aten.adaptive_avg_pool2d.default",)),
    Case("adaptive-avg-unbatched-1d", lambda s, x: F.adaptive_avg_pool1d(x, 3) * 2, (r(3, 8),),
         ("aten.adaptive_avg_pool2d.default",)),
    Case("adaptive-avg-3d", lambda s, x: A._adaptive_avg_pool3d.default(x, [2, 4, 3]).sum()
         + A._adaptive_avg_pool3d.default(x, [3, 2, 1]) + A._adaptive_avg_pool3d.default(x, [1, 1, 1]),
         (r(2, 2, 6, 4, 5),), ("aten._adaptive_avg_pool3d.default",)),
    Case("adaptive-avg-3d-unbatched", lambda s, x: A._adaptive_avg_pool3d.default(x, [3, 2, 5])
         + A.adaptive_avg_pool3d.default(x, [3, 2, 5]), (r(2, 5, 4, 3),),
         ("aten._adaptive_avg_pool3d.default", "aten.adaptive_avg_pool3d.default")),
    # distances
    Case("cdist-p-norms", lambda s, a, b: torch.stack([A._cdist_forward.default(a, b, p, None)
                                                       for p in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, INF)]),
         (r(2, 4, 3), r(2, 5, 3)), ("aten._cdist_forward.default",), tol={"rtol": 1e-5, "atol": 1e-5}),
    Case("cdist-broadcast-and-product", lambda s, a, b, c: A._cdist_forward.default(a, b, 2.0, 1).sum()
         + A._cdist_forward.default(a, c, 2.0, None).sum() + A._cdist_forward.default(c, a[0], 2.0, 2).sum(),
         (r(2, 2, 30, 5), r(3, 5), r(2, 27, 5)), ("aten._cdist_forward.default",), tol={"rtol": 1e-4, "atol": 1e-4}),
    Case("pdist", lambda s, x: torch.cat([A._pdist_forward.default(x, p) for p in (0.0, 0.4, 1.0, 2.0, 3.3, INF)]),
         (r(5, 3),), ("aten._pdist_forward.default",), tol={"rtol": 1e-5, "atol": 1e-5}),
    # resize
    Case("upsample-nearest", lambda s, x: A.upsample_nearest2d.vec(x, None, [0.5, 1.5]).sum(-1, True)
         + A.upsample_nearest2d.vec(x, [4, 3], None).sum((-1, -2), True), (r(2, 3, 7, 6),),
         ("aten.upsample_nearest2d.vec",)),
    Case("upsample-nearest-1d-3d", lambda s, x, y: A.upsample_nearest1d.vec(x, None, [1.5]).sum()
         + A.upsample_nearest3d.vec(y, [3, 5, 2], None).sum() + A.upsample_nearest3d.vec(y, None, [0.5, 1.0, 1.7]).sum(),
         (r(1, 2, 7), r(1, 2, 4, 3, 5)), ("aten.upsample_nearest1d.vec", "aten.upsample_nearest3d.vec")),
    Case("upsample-nearest-exact", lambda s, x: F.interpolate(x, size=(5, 9), mode="nearest-exact").sum(-1)
         + F.interpolate(x, scale_factor=(1.5, 0.75), mode="nearest-exact").sum(-1).sum(-1, True),
         (r(1, 2, 5, 6),), ("aten._upsample_nearest_exact2d.vec",)),
    Case("upsample-nearest-exact-1d-3d", lambda s, x, y: A._upsample_nearest_exact1d.vec(x, None, [1.6]).sum()
         + A._upsample_nearest_exact3d.vec(y, [3, 5, 2], None).sum(), (r(1, 2, 7), r(1, 2, 4, 3, 5)),
         ("aten._upsample_nearest_exact1d.vec", "aten._upsample_nearest_exact3d.vec")),
    Case("upsample-linear", lambda s, x: F.interpolate(x, size=(5, 9), mode="bilinear").sum(-1)
         + F.interpolate(x, scale_factor=(1.5, 0.75), mode="bilinear", align_corners=True).sum(-1).sum(-1, True)
         + F.interpolate(x, scale_factor=(2.5, 1.25), mode="bilinear").sum(-1).sum(-1, True),
         (r(1, 2, 5, 6),), ("aten.upsample_bilinear2d.vec",)),
    Case("upsample-linear-1d-3d-bicubic", lambda s, x, y: F.interpolate(x, size=11, mode="linear", align_corners=True).sum()
         + F.interpolate(y, scale_factor=(1.5, 2.0, 0.5), mode="trilinear").sum()
         + F.interpolate(y[0], size=(4, 5), mode="bicubic").sum() + F.interpolate(y[0], scale_factor=1.7, mode="bicubic",
                                                                                 align_corners=True).sum(),
         (r(1, 2, 7), r(1, 3, 4, 3, 5)), ("aten.upsample_linear1d.vec", "aten.upsample_trilinear3d.vec",
                                          "aten.upsample_bicubic2d.vec")),
    Case("dropout-inference-identity", lambda s, x: torch.stack([A.native_dropout.default(x, 0.5, False)[0],
                                                                 A.native_dropout.default(x, 0.3, False)[1].float(),
                                                                 A.native_dropout.default(x, 1.0, True)[0],
                                                                 A.native_dropout.default(x, 1.0, True)[1].float()]),
         (r(3, 4),), ("aten.native_dropout.default",)),
    # the efficient kernel has no CPU implementation: eager runs the same attention through sdpa
    Case("efficient-attention-bias-causal-scale", lambda s, q, k, v, b: (
         A._scaled_dot_product_efficient_attention.default(q, k, v, b, False, 0.0, True, scale=0.5)[0]
         if torch.compiler.is_exporting() else F.scaled_dot_product_attention(
             q, k, v, attn_mask=b.masked_fill(torch.ones(5, 6, dtype=torch.bool).triu(1), -INF), scale=0.5)),
         (r(2, 3, 5, 8), r(2, 3, 6, 8), r(2, 3, 6, 8), r(2, 3, 5, 6)),
         ("aten._scaled_dot_product_efficient_attention.default",), tol={"rtol": 1e-5, "atol": 1e-5}),
    Case("efficient-attention-plain", lambda s, q, k, v: (
         A._scaled_dot_product_efficient_attention.default(q, k, v, None, False)[0]
         if torch.compiler.is_exporting() else F.scaled_dot_product_attention(q, k, v)),
         (r(1, 2, 4, 8), r(1, 2, 7, 8), r(1, 2, 7, 8)), ("aten._scaled_dot_product_efficient_attention.default",),
         tol={"rtol": 1e-5, "atol": 1e-5}),
    Case("softplus-threshold-and-beta", lambda s, x: F.softplus(x) + F.softplus(x, beta=2.0, threshold=3.0),
         (torch.tensor([-30.0, -2.0, 0.0, 1.4, 1.6, 10.0, 25.0, 200.0]),), ("aten.softplus.default",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_converter_matches_eager(case):
    module = Fn(case.fn, case.params)
    converted = check_converted(module, case.args, **case.tol)
    missing = set(case.covers) - set(converted)
    assert not missing, f"case does not exercise {missing}; converted: {sorted(set(converted))}"


# (id, fn, shape ranges of the one input as (min, opt, max), shapes to check at)
DYNAMIC = [
    ("pool-dynamic-spatial", lambda s, x: F.avg_pool2d(x, 3, 1, 1) + F.max_pool2d(x, 3, 1, 1),
     ((1, 2, 3, 3), (2, 2, 5, 6), (3, 2, 8, 8)), [(1, 2, 3, 3), (3, 2, 8, 7), (2, 2, 4, 8)]),
    ("adaptive-avg-dynamic-batch-uneven", lambda s, x: F.adaptive_avg_pool2d(x, (2, 2)),
     ((1, 1, 3, 3), (2, 2, 3, 3), (3, 3, 3, 3)), [(1, 1, 3, 3), (3, 3, 3, 3)]),
    ("argmax-sort-dynamic-batch", lambda s, x: torch.sort(x, 1)[0] + x.argmax(1, keepdim=True) + x.argmax(0),
     ((1, 5), (3, 5), (6, 5)), [(1, 5), (6, 5)]),
    ("upsample-dynamic-batch-and-size", lambda s, x: F.interpolate(x, scale_factor=1.5, mode="bilinear").sum((2, 3))
     + F.interpolate(x, size=(3, 4)).sum((2, 3)),
     ((1, 2, 2, 3), (2, 2, 5, 5), (3, 2, 9, 9)), [(1, 2, 2, 3), (3, 2, 9, 9), (2, 2, 6, 4)]),
    ("pdist-dynamic-rows", lambda s, x: A._pdist_forward.default(x, 1.0), ((3, 4), (4, 4), (90, 4)),
     [(3, 4), (90, 4), (6, 4)]),
    ("cdist-dynamic-rows", lambda s, x: A._cdist_forward.default(x, x[:2] * 2, 2.0, None),
     ((2, 3), (4, 3), (30, 3)), [(2, 3), (30, 3)]),
    ("argmax-along-dynamic-dim", lambda s, x: x.argmin(1) + torch.max(x, 1)[1],
     ((2, 1), (2, 4), (2, 9)), [(2, 1), (2, 9), (2, 5)]),
]


@pytest.mark.parametrize("fn, ranges, shapes", [d[1:] for d in DYNAMIC], ids=[d[0] for d in DYNAMIC])
def test_converter_matches_eager_with_dynamic_shapes(fn, ranges, shapes):
    spec = [Input(min_shape=ranges[0], opt_shape=ranges[1], max_shape=ranges[2], name="x")]
    for shape in shapes:
        check_converted(Fn(fn), (torch.randn(shape),), dynamic=spec)


# Read by test_ops.test_every_converter_has_a_numeric_test: random values are checked by distribution.
COVERS = ("aten.rand.default", "aten.randn.default", "aten.randperm.default")


def test_random_tensors_have_torch_shapes_dtypes_and_distributions():
    """An engine samples the right distribution, never torch's numbers (the evaluator's draws stand in
    for TensorRT's): shapes and dtypes must match eager, values only in distribution."""
    def sample(s, x):
        n = x.shape[0]
        return torch.rand(n, 3, 2000), torch.randn(n, 4000, dtype=torch.float16), torch.randperm(n * 300)

    module = Fn(sample)
    x = torch.zeros(2)
    program = torch.export.export(module, (x,))
    import trtbuild

    compiled = trtbuild.compile(program, [x], min_block_size=1, require_full_compilation=True)
    trtbuild.set_reference(compiled)
    uniform, normal, permutation = compiled(x)
    for got, expected in zip((uniform, normal, permutation), module(x)):
        assert (got.shape, got.dtype) == (expected.shape, expected.dtype)
    assert 0 <= float(uniform.min()) and float(uniform.max()) < 1 and abs(float(uniform.mean()) - 0.5) < 0.01
    assert abs(float(normal.float().mean())) < 0.05 and abs(float(normal.float().std()) - 1) < 0.05
    assert torch.equal(permutation.sort().values, torch.arange(600))
    assert not torch.equal(permutation, torch.arange(600))


FALLBACKS = [
    ("training-dropout", lambda x: A.native_dropout.default(x, 0.5, True)[0], (r(3, 4),), "aten.native_dropout.default",
     "random mask"),
    ("randperm-too-long", lambda x: torch.randperm(4000) + x, (ri(0, 3, 4000),), "aten.randperm.default", "k <= 3840"),

    ("stable-sort", lambda x: torch.sort(x, stable=True)[0], (r(3, 4),), "aten.sort.stable", "stable sort"),
    ("topk-k-too-large", lambda x: torch.topk(x, 4000)[0], (r(2, 4000),), "aten.topk.default", "k <= 3840"),
    ("argmax-bool", lambda x: (x > 0).max(), (r(3, 4),), "aten.max.default", "rejects bool"),
    ("integer-bitwise-scalar", lambda x: A.bitwise_and.Scalar(x, 3), (ri(0, 9, 4),), "aten.bitwise_and.Scalar",
     "bool operands only"),
]


@pytest.mark.parametrize("fn, args, op, reason", [f[1:] for f in FALLBACKS], ids=[f[0] for f in FALLBACKS])
def test_unconvertible_case_falls_back_with_a_reason(fn, args, op, reason):
    settings = make_settings({})
    gm = lower(torch.export.export(Fn(lambda s, *a: fn(*a)).eval(), args), settings)
    reasons = {str(n.target): fallback_reason(n, settings) for n in gm.graph.nodes if n.op == "call_function"}
    assert op in reasons, sorted(reasons)
    assert reason in (reasons[op] or ""), reasons[op]
