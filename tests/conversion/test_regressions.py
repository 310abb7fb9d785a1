"""Converter crashes found by the peer suite and by real models, each kept as a numeric case."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trtbuild.inputs import Input
from .harness import Fn, check_converted

A = torch.ops.aten


def _constant_pieces(s, x):
    """unbind/split of a constant (an RNN's zero initial state): the operand is a torch tensor."""
    return x + torch.unbind(s.c, 0)[1] + torch.split(s.c, 1, 0)[0][0] + torch.split(s.c, [1, 1], 0)[1][0]


def test_unbind_and_split_of_a_constant():
    ops = check_converted(Fn(_constant_pieces, {"c": torch.randn(2, 3, 4)}), (torch.randn(3, 4),))
    assert {"aten.unbind.int", "aten.split.Tensor", "aten.split_with_sizes.default"} <= set(ops)


@pytest.mark.parametrize("indices", [False, True])
def test_max_pool_whose_last_window_needs_no_post_padding(indices):
    """6 + 2*1 - 3 = 5 is not a multiple of stride 3: torch's windows end before the right pad, so the
    post-padding that gives torch's output size is negative, which TensorRT refuses."""
    if indices:
        fn = lambda s, x: A.max_pool2d_with_indices.default(x, [3, 3], [3, 3], [1, 1])[0]  # noqa: E731
    else:
        fn = lambda s, x: F.max_pool2d(x, 3, 3, 1)  # noqa: E731
    check_converted(Fn(fn), (torch.randn(1, 2, 6, 7),))


@pytest.mark.parametrize("index", [[0, 0, 1], [-1, 0, -2]], ids=["non-negative", "negative"])
def test_constant_index_into_a_dynamic_dim(index):
    spec = [Input(min_shape=(2, 2, 3), opt_shape=(2, 4, 3), max_shape=(2, 5, 3), name="x")]
    module = Fn(lambda s, x: A.index.Tensor(x, [None, s.i]) * 2, {"i": torch.tensor(index)})
    for size in (2, 5):
        assert "aten.index.Tensor" in check_converted(module, (torch.randn(2, size, 3),), dynamic=spec)
