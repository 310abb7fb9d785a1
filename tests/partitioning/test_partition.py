import pytest
import torch
from torch import nn

from trtbuild.errors import UnsupportedOpError
from trtbuild.lowering import lower
from trtbuild.partitioning import partition
from trtbuild.settings import CompileSettings
from tests.fixtures.tiny_models import ConvNet, WithUnsupported


def plan(model, shape, **settings):
    program = torch.export.export(model.eval(), (torch.randn(*shape),))
    return partition(lower(program, CompileSettings(**settings)), CompileSettings(**settings))


def kinds(p):
    return [s.kind for s in p.segments]


def test_supported_model_is_one_tensorrt_segment():
    p = plan(ConvNet(), (1, 3, 7, 7))
    assert kinds(p) == ["tensorrt"]
    assert "aten.conv2d.default" in p.segments[0].ops


def test_op_without_converter_goes_to_torch_with_reason():
    p = plan(WithUnsupported(), (2, 8))
    assert kinds(p) == ["tensorrt", "torch", "tensorrt"]
    [fallback] = p.segments[1].fallbacks
    assert fallback.op == "aten.erfinv.default" and fallback.reason == "no converter"
    assert fallback.source.endswith("in forward") and "tiny_models.py" in fallback.source


def test_torch_executed_ops_moves_op_out():
    p = plan(ConvNet(), (1, 3, 7, 7), torch_executed_ops=["aten.relu.default"], min_block_size=1)
    assert kinds(p) == ["tensorrt", "torch", "tensorrt"]
    assert p.segments[1].fallbacks[0].reason == "excluded by torch_executed_ops"


def test_small_blocks_fall_back_to_torch():
    p = plan(WithUnsupported(), (2, 8), min_block_size=50)
    assert kinds(p) == ["torch"]
    reasons = {f.reason for f in p.segments[0].fallbacks}
    assert any("fewer than min_block_size=50" in r for r in reasons)


def test_require_full_compilation_names_the_op():
    with pytest.raises(UnsupportedOpError) as info:
        plan(WithUnsupported(), (2, 8), require_full_compilation=True)
    message = str(info.value)
    assert "aten.erfinv.default" in message and "no converter" in message and "tiny_models.py" in message


def test_partitioned_module_computes_the_same():
    model = WithUnsupported().eval()
    x = torch.randn(2, 8)
    p = plan(model, (2, 8))
    assert torch.allclose(p.gm(x)[0], model(x), atol=1e-6)


def test_weights_move_into_their_segment():
    p = plan(ConvNet(), (1, 3, 7, 7))
    sub = p.submodule(p.segments[0])
    assert [n.op for n in p.gm.graph.nodes].count("get_attr") == 0
    assert sum(1 for n in sub.graph.nodes if n.op == "get_attr") >= 6


def test_float_arithmetic_on_sizes_stays_with_its_torch_user():
    """`x.shape[1] / 2` is a SymFloat computed in torch: the op using it must not become an engine input."""
    import trtbuild

    class ScaleBySize(nn.Module):
        def forward(self, x):
            return x * (x.shape[1] / 2) + 1

    inputs = [trtbuild.Input(min_shape=(1, 2), opt_shape=(2, 4), max_shape=(4, 8), name="x")]
    module = trtbuild.compile(trtbuild.trace(ScaleBySize(), inputs), inputs, min_block_size=1)
    trtbuild.set_reference(module)
    x = torch.randn(3, 6)
    assert torch.allclose(module(x), ScaleBySize()(x))
    assert [n.target for n in module.graph.nodes if n.op == "call_module"] == ["torch_0", "trt_0"]
