"""Numeric tests for every registered converter, edge cases included.

Each case names the aten overloads it covers; the case fails if one of them is not in the
converted segment, and `test_every_converter_has_a_numeric_test` fails if a registered converter
is covered by no case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pytest
import torch
import torch.nn.functional as F

from trtbuild.conversion.registry import all_converters
from .harness import check_case


@dataclass
class Case:
    id: str
    fn: Callable
    args: tuple
    covers: tuple[str, ...]
    params: dict = field(default_factory=dict)
    tol: dict = field(default_factory=dict)


A = torch.ops.aten


def r(*shape, dtype=torch.float32):
    return torch.randn(*shape).to(dtype)


def ri(lo, hi, *shape, dtype=torch.int64):
    return torch.randint(lo, hi, shape, dtype=dtype)


W = {"w": torch.randn(6, 4, 3, 3), "b": torch.randn(6)}
CASES = [
    # convolution family
    Case("conv2d", lambda s, x: F.conv2d(x, s.w, s.b, padding=1), (r(2, 4, 9, 9),), ("aten.conv2d.default",), W),
    Case("convolution", lambda s, x: A.convolution.default(x, s.w, s.b, [2, 1], [1, 0], [1, 2], False, [0, 0], 1),
         (r(1, 4, 9, 9),), ("aten.convolution.default",), W),
    Case("conv2d-stride-dilation", lambda s, x: F.conv2d(x, s.w, None, stride=2, dilation=2, padding=(2, 1)),
         (r(1, 4, 13, 11),), ("aten.conv2d.default",), W),
    Case("conv2d-groups", lambda s, x: F.conv2d(x, s.g, s.gb, groups=2), (r(1, 4, 8, 8),),
         ("aten.conv2d.default",), {"g": torch.randn(6, 2, 3, 3), "gb": torch.randn(6)}),
    Case("conv2d-depthwise", lambda s, x: F.conv2d(x, s.g, None, groups=4, padding=1), (r(1, 4, 8, 8),),
         ("aten.conv2d.default",), {"g": torch.randn(4, 1, 3, 3)}),
    Case("conv1d", lambda s, x: F.conv1d(x, s.g, s.gb, padding=2, stride=2), (r(2, 4, 17),),
         ("aten.conv1d.default",), {"g": torch.randn(5, 4, 5), "gb": torch.randn(5)}),
    Case("conv3d", lambda s, x: F.conv3d(x, s.g, None, padding=1), (r(1, 2, 5, 6, 7),),
         ("aten.conv3d.default",), {"g": torch.randn(3, 2, 3, 3, 3)}),
    Case("conv-transpose2d", lambda s, x: F.conv_transpose2d(x, s.g, s.gb, stride=2, padding=1),
         (r(1, 4, 5, 5),), ("aten.convolution.default",), {"g": torch.randn(4, 3, 3, 3), "gb": torch.randn(3)}),
    # batch norm
    Case("batch-norm", lambda s, x: F.batch_norm(x, s.m, s.v, s.w, s.b, False, 0.1, 1e-3), (r(2, 3, 4, 4),),
         ("aten.batch_norm.default",),
         {"m": torch.randn(3), "v": torch.rand(3) + 0.5, "w": torch.randn(3), "b": torch.randn(3)}),
    Case("batch-norm-legit", lambda s, x: A._native_batch_norm_legit_no_training.default(
         x, s.w, s.b, s.m, s.v, 0.1, 1e-3)[0], (r(2, 3, 4, 4),),
         ("aten._native_batch_norm_legit_no_training.default",),
         {"m": torch.randn(3), "v": torch.rand(3) + 0.5, "w": torch.randn(3), "b": torch.randn(3)}),
    Case("batch-norm-1d-no-affine", lambda s, x: F.batch_norm(x, s.m, s.v, None, None, False, 0.1, 1e-5),
         (r(4, 3),), ("aten.batch_norm.default",),
         {"m": torch.randn(3), "v": torch.rand(3) + 0.5}),
    # activations
    Case("relu-sigmoid-tanh", lambda s, x: torch.relu(x) + torch.sigmoid(x) * torch.tanh(x), (r(3, 5),),
         ("aten.relu.default", "aten.sigmoid.default", "aten.tanh.default", "aten.mul.Tensor", "aten.add.Tensor")),
    Case("hardtanh-relu6", lambda s, x: F.relu6(x * 4) + F.hardtanh(x, -0.5, 0.25), (r(4, 6),),
         ("aten.hardtanh.default",)),
    Case("clamp", lambda s, x: torch.clamp(x, min=-0.3) + torch.clamp(x, -1, 0.5), (r(4, 6),),
         ("aten.clamp.default",)),
    Case("leaky-elu", lambda s, x: F.leaky_relu(x, 0.2) + F.elu(x, 0.7), (r(4, 6),),
         ("aten.leaky_relu.default", "aten.elu.default")),
    Case("gelu", lambda s, x: F.gelu(x) + F.gelu(x, approximate="tanh"), (r(4, 6),), ("aten.gelu.default",)),
    Case("hard-sigmoid-swish-silu", lambda s, x: F.hardsigmoid(x * 3) + F.hardswish(x * 3) + F.silu(x), (r(4, 6),),
         ("aten.hardsigmoid.default", "aten.hardswish.default", "aten.silu.default")),
    # pooling
    Case("max-pool", lambda s, x: F.max_pool2d(x, 3, 2, 1), (r(1, 2, 9, 9),), ("aten.max_pool2d.default",)),
    Case("max-pool-ceil", lambda s, x: F.max_pool2d(x, 3, 2, ceil_mode=True), (r(1, 2, 10, 7),),
         ("aten.max_pool2d.default",)),
    Case("max-pool-ceil-padded-last-window-dropped", lambda s, x: F.max_pool2d(x, 2, 2, 1, ceil_mode=True),
         (r(1, 2, 6, 5),), ("aten.max_pool2d.default",)),
    Case("max-pool-rect", lambda s, x: F.max_pool2d(x, (3, 2), (1, 2)), (r(2, 1, 7, 8),),
         ("aten.max_pool2d.default",)),
    Case("avg-pool", lambda s, x: F.avg_pool2d(x, 3, 2, 1) + F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
         (r(1, 2, 9, 9),), ("aten.avg_pool2d.default",)),
    Case("adaptive-avg-1x1", lambda s, x: F.adaptive_avg_pool2d(x, 1), (r(2, 3, 5, 7),),
         ("aten.adaptive_avg_pool2d.default",)),
    Case("adaptive-avg-even", lambda s, x: F.adaptive_avg_pool2d(x, (2, 3)), (r(1, 3, 8, 9),),
         ("aten.adaptive_avg_pool2d.default",)),
    # reductions
    Case("mean-dims", lambda s, x: x.mean(dim=(-1, 1), keepdim=True) + x.mean(), (r(2, 3, 4),),
         ("aten.mean.dim", "aten.mean.default")),
    Case("sum", lambda s, x: x.sum(dim=0) + x.sum(), (r(3, 4),), ("aten.sum.dim_IntList", "aten.sum.default")),
    Case("sum-int", lambda s, x: x.sum(dim=1), (ri(0, 5, 3, 4, dtype=torch.int32),), ("aten.sum.dim_IntList",)),
    Case("amax-amin", lambda s, x: torch.amax(x, dim=1) - torch.amin(x, dim=(0, 1), keepdim=True)[0],
         (r(3, 4, 2),), ("aten.amax.default", "aten.amin.default")),
    # matrix products
    Case("linear", lambda s, x: F.linear(x, s.lw, s.lb), (r(2, 5, 4),), ("aten.linear.default",),
         {"lw": torch.randn(3, 4), "lb": torch.randn(3)}),
    Case("linear-no-bias-1d", lambda s, x: F.linear(x, s.lw), (r(4),), ("aten.linear.default",),
         {"lw": torch.randn(3, 4)}),
    Case("addmm", lambda s, x: torch.addmm(s.lb, x, s.m, beta=0.5, alpha=2.0), (r(2, 4),),
         ("aten.addmm.default",), {"lb": torch.randn(3), "m": torch.randn(4, 3)}),
    Case("mm-bmm", lambda s, x, y: torch.bmm(x, y) + torch.mm(x[0], y[1]), (r(2, 3, 4), r(2, 4, 3)),
         ("aten.bmm.default", "aten.mm.default")),
    Case("matmul-broadcast", lambda s, x, y: torch.matmul(x, y), (r(2, 1, 3, 4), r(5, 4, 2)),
         ("aten.matmul.default",)),
    # elementwise
    Case("add-sub-alpha", lambda s, x, y: torch.add(x, y, alpha=2) - torch.sub(x, 1.5, alpha=3), (r(2, 3), r(3)),
         ("aten.add.Tensor", "aten.sub.Tensor")),
    Case("rsub", lambda s, x: 1.0 - x, (r(2, 3),), ("aten.rsub.Scalar",)),
    Case("mul-div-scalar", lambda s, x: x * 3 / 7, (r(2, 3),), ("aten.mul.Tensor", "aten.div.Tensor")),
    Case("div-int-promotes", lambda s, x, y: x / y, (ri(-9, 9, 3, 4), ri(1, 5, 4)), ("aten.div.Tensor",)),
    Case("div-floor-trunc", lambda s, x, y: torch.div(x, y, rounding_mode="floor") + torch.div(x, y, rounding_mode="trunc"),
         (r(3, 4) * 5, r(3, 4) + 0.1), ("aten.div.Tensor_mode",)),
    Case("pow-max-min", lambda s, x, y: torch.pow(x.abs(), 1.5) + torch.maximum(x, y) - torch.minimum(x, y) + x.abs() ** y,
         (r(3, 4), r(3, 4)), ("aten.pow.Tensor_Scalar", "aten.maximum.default", "aten.minimum.default",
                              "aten.pow.Tensor_Tensor")),
    Case("compare", lambda s, x, y: (x > y).float() + (x < 0.1).float() + (x == x).float() + (y > 0).float(),
         (r(3, 4), r(4)), ("aten.gt.Tensor", "aten.lt.Scalar", "aten.eq.Tensor", "aten.gt.Scalar")),
    Case("compare-more", lambda s, x, y: torch.where(x < y, 1.0, 0.0) * 0 + (x == 0.5).float() + (x < y).float(),
         (r(3, 4), r(3, 4)), ("aten.eq.Scalar", "aten.lt.Tensor")),
    # shape
    Case("view-permute", lambda s, x: x.view(2, 12).t().reshape(3, 8).permute(1, 0) * 2, (r(2, 3, 4),),
         ("aten.view.default", "aten.permute.default")),
    Case("flatten", lambda s, x: torch.flatten(x, 1) + torch.flatten(x, 0, 1).reshape(2, 12),
         (r(2, 3, 4),), ("aten.flatten.using_ints",)),
    Case("view-reshape", lambda s, x: x.view(4, 6) * 2 + x.reshape(4, -1), (r(2, 3, 4),),
         ("aten.view.default", "aten.reshape.default")),
    Case("unsafe-view", lambda s, x: x.view(4, -1) + A._unsafe_view.default(x, [4, 6]),
         (r(2, 3, 4),), ("aten._unsafe_view.default",)),
    Case("transpose-t", lambda s, x, y: x.transpose(-1, 0) + y.t(), (r(2, 3), r(2, 3)),
         ("aten.transpose.int", "aten.t.default")),
    Case("cat", lambda s, x, y: torch.cat([x, y, x], dim=-1) * 1, (r(2, 3), r(2, 1)), ("aten.cat.default",)),
    Case("cat-promotes", lambda s, x, y: torch.cat([x, y], dim=0), (r(2, 3), ri(0, 4, 1, 3, dtype=torch.int32)),
         ("aten.cat.default",)),
    Case("squeeze-unsqueeze", lambda s, x: x.squeeze(1).unsqueeze(0).squeeze() + A.squeeze.dims(x, [1]), (r(3, 1, 4),),
         ("aten.squeeze.dims", "aten.squeeze.dim", "aten.squeeze.default", "aten.unsqueeze.default")),
    Case("select-slice", lambda s, x: x[1, :, 1:5:2] + x[-1, 1:, -3:-1].sum() + x[:, 0, ::3].mean(), (r(3, 4, 6),),
         ("aten.select.int", "aten.slice.Tensor")),
    Case("where-expand", lambda s, x, y: torch.where(x > 0, x, y) + y.expand(2, 3, 4) * 1, (r(2, 3, 4), r(3, 1)),
         ("aten.where.self", "aten.expand.default")),
    # unary and casts
    Case("unary-float", lambda s, x: (x.abs() + (-x) + x.exp() * 0.1 + x.abs().log() + x.abs().sqrt() + x.abs().rsqrt()
                                       + (x.abs() + 1).reciprocal() + x.sin() + x.cos() + torch.erf(x)
                                       + x.floor() + x.ceil() + x.round() + x.sign()), (r(3, 5) + 0.05,),
         ("aten.abs.default", "aten.neg.default", "aten.exp.default", "aten.log.default", "aten.sqrt.default",
          "aten.rsqrt.default", "aten.reciprocal.default", "aten.sin.default", "aten.cos.default",
          "aten.erf.default", "aten.floor.default", "aten.ceil.default", "aten.round.default", "aten.sign.default")),
    Case("unary-trig", lambda s, x: (x.tan() + (x * 0.5).asin() + (x * 0.5).acos() + x.atan() + x.sinh() + x.cosh()
                                      + x.asinh() + (x.abs() + 1).acosh() + (x * 0.5).atanh()),
         (torch.rand(3, 5) * 1.8 - 0.9,),
         ("aten.tan.default", "aten.asin.default", "aten.acos.default", "aten.atan.default", "aten.sinh.default",
          "aten.cosh.default", "aten.asinh.default", "aten.acosh.default", "aten.atanh.default")),
    Case("unary-int", lambda s, x: x.abs() * 2 + (-x) + x.sign() + torch.logical_not(x).int() + x.exp().int(),
         (ri(-3, 3, 4, 5, dtype=torch.int32),), ("aten.abs.default", "aten.logical_not.default")),
    Case("to-copy", lambda s, x: A._to_copy.default(x, dtype=torch.int32).float() + x.to(torch.bool).float()
         + A._to_copy.default(x.half()).float() + x.long().float(),
         (r(3, 4) * 3,), ("aten._to_copy.default",)),
    # recurrent layers (nn.LSTM / nn.GRU / nn.RNN call these; tests/conversion/test_recurrent.py has the modules)
    Case("lstm-batch-first", lambda s, x: A.lstm.input(x, [s.h, s.c], [s.wi, s.wh, s.bi, s.bh], True, 1, 0.0, False,
                                                      False, True)[0],
         (r(2, 5, 3),), ("aten.lstm.input",),
         {"h": torch.randn(1, 2, 4), "c": torch.randn(1, 2, 4), "wi": torch.randn(16, 3), "wh": torch.randn(16, 4),
          "bi": torch.randn(16), "bh": torch.randn(16)}, {"rtol": 1e-4, "atol": 1e-5}),
    Case("gru-bidirectional", lambda s, x: A.gru.input(x, s.h, [s.wi, s.wh, s.bi, s.bh, s.wi2, s.wh2, s.bi2, s.bh2],
                                                       True, 1, 0.0, False, True, False)[1],
         (r(4, 2, 3),), ("aten.gru.input",),
         {"h": torch.randn(2, 2, 4), "wi": torch.randn(12, 3), "wh": torch.randn(12, 4), "bi": torch.randn(12),
          "bh": torch.randn(12), "wi2": torch.randn(12, 3), "wh2": torch.randn(12, 4), "bi2": torch.randn(12),
          "bh2": torch.randn(12)}, {"rtol": 1e-4, "atol": 1e-5}),
    Case("rnn-tanh-relu-no-bias", lambda s, x: A.rnn_tanh.input(x, s.h, [s.wi, s.wh], False, 1, 0.0, False, False,
                                                                 False)[0]
         + A.rnn_relu.input(x, s.h, [s.wi, s.wh], False, 1, 0.0, False, False, False)[0],
         (r(3, 2, 3),), ("aten.rnn_tanh.input", "aten.rnn_relu.input"),
         {"h": torch.randn(1, 2, 4), "wi": torch.randn(4, 3), "wh": torch.randn(4, 4)}, {"rtol": 1e-4, "atol": 1e-5}),
    # overloads that export keeps only when called directly
    Case("scalar-overloads", lambda s, x: (A.add.Scalar(x, 2) + A.sub.Scalar(x, 1) + A.mul.Scalar(x, 3)
                                           + A.div.Scalar(x, 4) + A.div.Scalar_mode(x, 0.7, rounding_mode="floor")
                                           + A.rsub.Tensor(x, x * 2)),
         (r(3, 4),), ("aten.add.Scalar", "aten.sub.Scalar", "aten.mul.Scalar", "aten.div.Scalar",
                      "aten.div.Scalar_mode", "aten.rsub.Tensor")),
    Case("max-pool-with-indices", lambda s, x: A.max_pool2d_with_indices.default(x, [2, 2], [2, 2])[0], (r(1, 2, 6, 6),),
         ("aten.max_pool2d_with_indices.default",)),
    Case("adaptive-avg-underscore", lambda s, x: A._adaptive_avg_pool2d.default(x, [2, 2]), (r(1, 2, 6, 6),),
         ("aten._adaptive_avg_pool2d.default",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_converter_matches_eager(case):
    check_case(case)


def test_every_converter_has_a_numeric_test():
    from .test_ops_math import CASES as MATH_CASES, COVERS as RANDOM  # math, reductions, pooling, resize
    from .test_ops_movement import CASES as MOVEMENT_CASES  # data movement and scatter families
    from .test_ops_zoo import CASES as ZOO_CASES  # the model zoo's op families

    from .test_symbolic import COVERS as SYMBOLIC  # sizes need dynamic shapes: tested on their own
    from .test_quantize_ops import COVERS as QUANTIZE  # Q/DQ ops, with their own constants and targets

    covered = ({op for case in CASES + ZOO_CASES + MATH_CASES + MOVEMENT_CASES for op in case.covers} | set(SYMBOLIC)
               | set(RANDOM) | set(QUANTIZE))
    untested = sorted(str(t) for t in all_converters() if str(t) not in covered)
    assert not untested, f"converters without a numeric test: {untested}"
