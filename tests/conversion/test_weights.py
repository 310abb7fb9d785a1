"""Large weights reach TensorRT without a copy of their own: a transposed weight (a linear layer's
`weight.t()`) is handed over as its storage plus a transpose, which TensorRT folds while it builds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trtbuild.conversion.context import ConversionContext
from trtbuild.views import PERMUTE_IN_TENSORRT_FROM
from .harness import Fn, check_converted, network_context


def _copies(ctx: ConversionContext, weight: torch.Tensor) -> list[np.ndarray]:
    """Arrays handed to TensorRT that do not share the weight's memory."""
    own = weight.numpy()
    return [a for a in ctx.keepalive if isinstance(a, np.ndarray) and not np.shares_memory(a, own)]


@pytest.mark.parametrize("view", [lambda w: w.t(), lambda w: w.view(32, 32, 512).permute(2, 0, 1)],
                         ids=["t", "permute-3d"])
def test_a_transposed_weight_is_handed_to_tensorrt_without_a_copy(view):
    ctx, _builder = network_context("weights")
    weight = torch.randn(1024, 512)
    assert weight.nbytes >= PERMUTE_IN_TENSORRT_FROM
    out = ctx.constant(view(weight))
    ctx.end_node()
    assert tuple(out.shape) == tuple(view(weight).shape)
    assert _copies(ctx, weight) == []


def test_a_strided_slice_of_a_weight_is_still_copied():
    """The check above can see a copy: a view that is no permutation of dense memory needs one."""
    ctx, _builder = network_context("weights")
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


class TransposedInForward(torch.nn.Module):
    """`x @ w.t()` in the model's own code: lowering folds the `t`, not a linear converter."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(1024, 512) / 16)

    def forward(self, x):
        return x @ self.w.t()


def test_a_folded_transpose_of_a_weight_stays_a_view_of_it():
    from trtbuild.api import make_settings
    from trtbuild.lowering import lower

    model = TransposedInForward().eval()
    gm = lower(torch.export.export(model, (torch.randn(2, 512),)), make_settings({}))
    [folded] = [b for name, b in gm.named_buffers() if name.startswith("folded_")]
    assert folded.untyped_storage().data_ptr() == model.w.untyped_storage().data_ptr()
    assert torch.equal(folded, model.w.t())


@pytest.mark.parametrize("settings", [{}, {"torch_executed_ops": ["aten.matmul.default"]}],
                         ids=["in-tensorrt", "in-torch"])
def test_a_folded_transpose_matches_eager(settings):
    import trtbuild

    model, x = TransposedInForward().eval(), torch.randn(3, 512)
    compiled = trtbuild.set_reference(trtbuild.compile(torch.export.export(model, (x,)), [x], min_block_size=1,
                                                       **settings))
    segments = [s.report() for s in compiled.trtbuild_segments]
    assert [s["kind"] for s in segments] == (["tensorrt"] if not settings else ["torch"]), segments
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), rtol=1e-5, atol=1e-5)
