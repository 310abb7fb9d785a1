"""Large weights reach TensorRT without a copy of their own: a transposed weight (a linear layer's
`weight.t()`) is handed over as its storage plus a transpose, which TensorRT folds while it builds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trtbuild.api import make_settings
from trtbuild.conversion.context import CapturingLogger, ConversionContext
from trtbuild.engine.backend import get_backend
from trtbuild.views import PERMUTE_IN_TENSORRT_FROM
from .harness import Fn, check_converted


def _context() -> tuple[ConversionContext, object]:
    backend = get_backend()
    logger = CapturingLogger(backend.trt)
    builder = backend.trt.Builder(logger.logger)
    ctx = ConversionContext(backend.trt, builder.create_network(0), logger, make_settings({}))
    ctx.begin_node(torch.fx.Graph().placeholder("weights"))
    return ctx, builder


def _copies(ctx: ConversionContext, weight: torch.Tensor) -> list[np.ndarray]:
    """Arrays handed to TensorRT that do not share the weight's memory."""
    own = weight.numpy()
    return [a for a in ctx.keepalive if isinstance(a, np.ndarray) and not np.shares_memory(a, own)]


@pytest.mark.parametrize("view", [lambda w: w.t(), lambda w: w.view(32, 32, 512).permute(2, 0, 1)],
                         ids=["t", "permute-3d"])
def test_a_transposed_weight_is_handed_to_tensorrt_without_a_copy(view):
    ctx, _builder = _context()
    weight = torch.randn(1024, 512)
    assert weight.nbytes >= PERMUTE_IN_TENSORRT_FROM
    out = ctx.constant(view(weight))
    ctx.end_node()
    assert tuple(out.shape) == tuple(view(weight).shape)
    assert _copies(ctx, weight) == []


def test_a_strided_slice_of_a_weight_is_still_copied():
    """The check above can see a copy: a view that is no permutation of dense memory needs one."""
    ctx, _builder = _context()
    weight = torch.randn(1024, 1024)
    ctx.constant(weight[:, ::2])
    assert len(_copies(ctx, weight)) == 1


def _linear_and_permuted_buffer(s, x):
    return F.linear(x, s.w, s.b) + s.c.permute(1, 0).sum()


@pytest.mark.parametrize("dtype, tol", [(torch.float32, {}), (torch.bfloat16, {"rtol": 2e-2, "atol": 2e-2})],
                         ids=["fp32", "bf16"])
def test_linear_with_a_large_weight_matches_eager(dtype, tol):
    params = {"w": torch.randn(1024, 512, dtype=dtype) / 16, "b": torch.randn(1024, dtype=dtype),
              "c": torch.randn(512, 1024, dtype=dtype) / 1000}
    ops = check_converted(Fn(_linear_and_permuted_buffer, params), (torch.randn(3, 512, dtype=dtype),), **tol)
    assert "aten.linear.default" in ops or "aten.addmm.default" in ops
