"""Programs whose decomposition torch itself cannot functionalize are rewritten first."""

import torch

import trtbuild
from trtbuild.lowering import lower
from trtbuild.settings import CompileSettings

aten, prims = torch.ops.aten, torch.ops.prims


class Fn(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def compiled(fn, x):
    program = torch.export.export(Fn(fn), (x,))
    module = trtbuild.compile(program, [x], min_block_size=1)
    trtbuild.set_reference(module)
    return program, module


def test_broadcast_in_dim_becomes_unsqueeze_and_expand():
    """prims.broadcast_in_dim returns an alias of its input, which functionalization refuses."""
    fn = lambda x: prims.broadcast_in_dim.default(x, [4, 5, 6, 7, 1], [0, 1, 2]) * 2  # noqa: E731
    x = torch.randn(4, 5, 6)
    program, module = compiled(fn, x)
    ops = [n.target for n in lower(program, CompileSettings()).graph.nodes if n.op == "call_function"]
    assert ops == [aten.unsqueeze.default, aten.unsqueeze.default, aten.expand.default, aten.mul.Tensor]
    assert [s.kind for s in module.trtbuild_segments] == ["tensorrt"]
    torch.testing.assert_close(module(x), fn(x))
    assert any(n.target is prims.broadcast_in_dim.default for n in program.graph.nodes)  # the user's is untouched


def test_resize_of_an_input_is_made_functional():
    """torch.export does not record resize_'s mutation of its input, and then cannot decompose it."""
    fn = lambda x: aten.resize_.default(x, [10])  # noqa: E731
    x = torch.randn(5)
    _, module = compiled(fn, x)
    out = module(x.clone())
    assert out.shape == (10,) and torch.equal(out[:5], x)  # the rest is uninitialised, as in torch
