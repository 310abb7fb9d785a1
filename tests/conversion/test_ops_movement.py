"""Numeric tests for the data-movement converters: repeat/tile, flip, roll, circular padding, diagonal, as_strided,
scatter, slice_scatter/select_scatter, index_put, copy, grid sampling, embedding bags; with dynamic
shapes where the converter builds sizes at run time, and the cases that must fall back instead."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trtbuild.inputs import Input
from .harness import Fn, assert_falls_back, check_case, check_converted
from .test_ops import A, Case, r, ri

IDX = torch.tensor([[0, 1, 2, 0], [1, 2, 1, 1]])


def grid(*shape):
    return torch.rand(*shape) * 2.6 - 1.3  # some points outside [-1, 1] exercise the padding modes


def bag(mode, last=False, weighted=False, padding_idx=-1):
    return lambda s, i, o, *p: A._embedding_bag.default(s.w, i, o, False, mode, False, p[0] if weighted else None,
                                                        last, padding_idx)[0]


BAG_INDICES = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9], dtype=torch.int32)
BAG_WEIGHT = {"w": torch.randn(10, 4)}

CASES = [
    # repeat (tile lowers to repeat), flip, roll
    Case("repeat-grows-rank", lambda s, x: x.repeat(2, 1, 3), (r(2, 3),), ("aten.repeat.default",)),
    Case("repeat-zero-and-tile", lambda s, x: torch.cat([x.repeat(0, 2), x.tile((2,))], 0), (r(2, 3),),
         ("aten.repeat.default",)),
    Case("flip", lambda s, x: torch.flip(x, [0, -1]) + torch.flip(x, []), (r(2, 3, 4),), ("aten.flip.default",)),
    Case("roll-dims-and-flat", lambda s, x: torch.roll(x, [1, -5, 9], [0, 2, 0]) + torch.roll(x, 5),
         (r(2, 3, 4),), ("aten.roll.default",)),
    Case("circular-pad", lambda s, x: A._pad_circular.default(x, [4, 3, 0, 1]) + 1, (r(2, 3, 4, 5),),
         ("aten._pad_circular.default",)),
    # diagonal and as_strided
    Case("diagonal-offsets", lambda s, x: torch.diagonal(x, 1, 0, 2).sum() + torch.diagonal(x, -2, -1, 1)
         + torch.diagonal(x, 9, 0, 1).sum(), (r(3, 4, 5),), ("aten.diagonal.default",)),
    Case("as-strided", lambda s, x: torch.as_strided(x, (2, 3, 2), (2, 2, 0), 1) * 2, (r(5, 5),),
         ("aten.as_strided.default",)),
    # scatter family
    Case("scatter-src-crops-src", lambda s, x, i: A.scatter.src(x, 1, i, s.src), (torch.zeros(3, 5), IDX),
         ("aten.scatter.src",), {"src": torch.arange(15.0).reshape(3, 5)}),
    Case("scatter-value-int", lambda s, x: A.scatter.value(x, 0, s.i, 7), (ri(0, 3, 3, 5, dtype=torch.int32),),
         ("aten.scatter.value",), {"i": IDX}),
    Case("slice-scatter-step-and-negative-start", lambda s, x, u, v: A.slice_scatter.default(x * 1, u, 2, 0, 16, 2)
         + A.slice_scatter.default(x * 1, v, 0, -1), (r(2, 4, 16, 8), r(2, 4, 8, 8), r(1, 4, 16, 8)),
         ("aten.slice_scatter.default",)),
    Case("select-scatter-bool", lambda s, x, u: A.select_scatter.default(x > 0, u > 0, 1, -1), (r(3, 4, 2), r(3, 2)),
         ("aten.select_scatter.default",)),
    Case("copy-broadcasts-and-casts", lambda s, x, y: A.copy.default(x, y), (r(2, 3), r(3).half()),
         ("aten.copy.default",)),
    # resize: growing leaves torch's extra elements uninitialized, so only the input's count is compared
    Case("resize-shrinks-and-grows", lambda s, x: A.resize.default(x * 1, [2, 2]).sum(0)
         + A.resize.default(x * 1, [3, 5]).flatten()[:6].reshape(3, 2)[:2], (r(2, 3),), ("aten.resize.default",)),
    # index_put
    Case("index-put-separated-dims-negative", lambda s, x, v: A.index_put.default(x, [s.a, None, s.b], v),
         (torch.zeros(5, 2, 4), r(3, 2)), ("aten.index_put.default",),
         {"a": torch.tensor([0, 2, -1]), "b": torch.tensor([3, 0, -2])}),
    Case("index-put-adjacent-dims", lambda s, x, v: A.index_put.default(x, [None, s.a, s.a], v),
         (torch.zeros(2, 4, 4, 3), r(2, 4, 1)), ("aten.index_put.default",), {"a": torch.tensor([0, 3, 1, 1])}),
    Case("index-put-runtime-broadcast-indices", lambda s, x, v, i, j: A.index_put.default(x, [i, None, j], v),
         (torch.ones(6, 3, 4), r(3), torch.tensor([1, 2, 5]), torch.tensor([[0], [3]])), ("aten.index_put.default",)),
    Case("index-put-accumulate-duplicates", lambda s, x, v, i: A.index_put.default(x, [i], v, True)
         + A.index_put.default(x, [s.a], v[:2], True), (r(6, 3), r(4, 3), torch.tensor([1, 1, 5, 1])),
         ("aten.index_put.default",), {"a": torch.tensor([4, 0])}),
    Case("index-put-mask-one-value-int", lambda s, x, m: A.index_put.default(x, [m], torch.tensor(3, dtype=torch.int32)),
         (ri(0, 3, 5, 3, dtype=torch.int32), torch.tensor([True, False, True, False, True])),
         ("aten.index_put.default",)),
    # grid sampling
    Case("grid-sample-bilinear-zeros", lambda s, x, g: F.grid_sample(x, g, "bilinear", "zeros", False),
         (r(2, 3, 5, 4), grid(2, 6, 7, 2)), ("aten.grid_sampler_2d.default",), tol={"rtol": 1e-4, "atol": 1e-5}),
    Case("grid-sample-nearest-border-bicubic-reflection",
         lambda s, x, g: F.grid_sample(x, g, "nearest", "border", True) + F.grid_sample(x, g, "bicubic", "reflection", False),
         (r(1, 2, 5, 5), grid(1, 4, 3, 2)), ("aten.grid_sampler_2d.default",), tol={"rtol": 1e-4, "atol": 1e-5}),
    # embeddings
    Case("embedding-runtime-weight", lambda s, i, w: F.embedding(i, w), (ri(0, 5, 2, 3), r(5, 4)),
         ("aten.embedding.default",)),
    Case("embedding-bag-sum-weighted-last-offset", lambda s, i, o, p: bag(0, True, True)(s, i, o, p),
         (BAG_INDICES, torch.tensor([0, 2, 8], dtype=torch.int32), r(8)), ("aten._embedding_bag.default",),
         BAG_WEIGHT),
    Case("embedding-bag-mean-max-empty-bags-padding", lambda s, i, o: bag(1)(s, i, o) + bag(2, padding_idx=4)(s, i, o),
         (BAG_INDICES, torch.tensor([0, 5, 5], dtype=torch.int32)), ("aten._embedding_bag.default",), BAG_WEIGHT),
    # a last offset short of the index count: eager's last bag still runs to the end for max and the mean's divisor
    Case("embedding-bag-all-modes-last-offset-short", lambda s, i, o: torch.cat([bag(m, True)(s, i, o) for m in (0, 1, 2)]),
         (BAG_INDICES, torch.tensor([0, 2, 4], dtype=torch.int32)), ("aten._embedding_bag.default",), BAG_WEIGHT),
    Case("embedding-bag-forward-only", lambda s, i: F.embedding_bag(i, s.w, mode="max"), (ri(0, 10, 3, 2),),
         ("aten._embedding_bag_forward_only.default",), BAG_WEIGHT),
    # all four outputs (offset2bag, bag_size, max_indices as the CPU kernel gives them), every mode; padding_idx
    # takes the kernel off its fast path (sums then run to the end of indices, and offset2bag is filled)
    *[Case(f"embedding-bag-all-outputs-mode-{mode}-{'last' if last else 'open'}-padding-{pad}",
           lambda s, i, o, mode=mode, last=last, pad=pad: A._embedding_bag.default(s.w, i, o, False, mode, False,
                                                                                   None, last, pad),
           (BAG_INDICES, torch.tensor([0, 2, 2, 5], dtype=torch.int32)), ("aten._embedding_bag.default",), BAG_WEIGHT)
      for mode in (0, 1, 2) for last in (False, True) for pad in (-1, 2)],
    Case("embedding-bag-weighted-outputs-half", lambda s, i, o, p: A._embedding_bag.default(s.w.half(), i, o, False, 0,
                                                                                             False, p, True, 4),
         (BAG_INDICES, torch.tensor([0, 2, 8], dtype=torch.int32), r(8).half()), ("aten._embedding_bag.default",),
         BAG_WEIGHT, {"rtol": 2e-3, "atol": 2e-3}),
    Case("embedding-bag-max-ties-and-int64", lambda s, i, o: A._embedding_bag.default(s.t, i, o, False, 2)[1:],
         (torch.tensor([2, 1, 0, 1, 2]), torch.tensor([0, 3])), ("aten._embedding_bag.default",),
         {"t": torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 5.0]])}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_converter_matches_eager(case):
    check_case(case)


BATCH = [Input(min_shape=(1, 3, 4), opt_shape=(2, 3, 4), max_shape=(5, 3, 4), name="x")]
DYNAMIC = {
    "repeat": lambda s, x: x.repeat(1, 2, 3, 1),
    "flip": lambda s, x: torch.flip(x, [0, 2]),
    "roll-static-and-symbolic-shifts": lambda s, x: torch.roll(x, [3, -1], [0, 2]) + torch.roll(x, x.shape[0] // 2, 0),
    "roll-flat": lambda s, x: torch.roll(x, -7),
    "diagonal": lambda s, x: torch.diagonal(x, 0, 1, 2),
    "scatter-slice-scatter-copy": lambda s, x: (A.slice_scatter.default(x, x[:, :, 1:3] * 2, 2, 1, 3)
                                                + A.copy.default(x, x[:1]) + A.scatter.value(x, 2, s.i, 0.5)),
    "index-put-into-dynamic-batch": lambda s, x: A.index_put.default(x, [None, s.j], x[:, :2] * 3),
    "index-put-constant-index-into-dynamic-dim": lambda s, x: A.index_put.default(x, [s.k], x[:1] * 0),
}


@pytest.mark.parametrize("name", sorted(DYNAMIC))
def test_converter_with_a_dynamic_batch(name):
    module = Fn(DYNAMIC[name], {"i": torch.zeros(1, 3, 2, dtype=torch.int64), "j": torch.tensor([2, 0]),
                                "k": torch.tensor([0, -1])})
    for batch in (1, 5):
        check_converted(module, (r(batch, 3, 4),), dynamic=BATCH)


FALLBACKS = [
    ("index-put-mask-many-values", lambda x, m, v: A.index_put.default(x, [m], v),
     (r(5, 3), torch.tensor([True, False, True, False, True]), r(3, 3)), "aten.index_put.default", "NonZero"),
    ("grid-drawn-at-run-time", lambda x: F.grid_sample(x, torch.randint(-1, 1, (1, 5, 2, 2), dtype=torch.float32),
                                                      align_corners=True),
     (r(1, 1, 5, 5),), "aten.randint.low", "random fill cannot reproduce"),
    ("item-sizes-an-arange", lambda x, n: torch.arange(5, n[0], dtype=torch.int32) + x.sum().int(),
     (r(3), torch.tensor([9])), "aten._local_scalar_dense.default", "a data-dependent size"),
    ("repeat-past-eight-dims", lambda x: x.repeat(1, 1, 1, 1, 1, 1, 1, 1, 2), (r(1, 1, 1, 1, 1, 1, 1, 3),),
     "aten.repeat.default", "at most 8 dims"),
]


@pytest.mark.parametrize("fn, args, op, reason", [f[1:] for f in FALLBACKS], ids=[f[0] for f in FALLBACKS])
def test_unconvertible_case_falls_back_with_a_reason(fn, args, op, reason):
    assert_falls_back(fn, args, op, reason)
