"""A converter bug (conv padding applied to the wrong sides) must be caught by the converter tests
and by `verify` — the reason the evaluator exists."""

import pytest
import torch

from trtbuild.conversion import registry
from trtbuild.conversion.ops import conv
from trtbuild.verify.check import verify_module
from tests.conversion.harness import Fn, check_converted
from tests.conversion.test_ops import CASES

aten = torch.ops.aten


@pytest.fixture
def swapped_padding(monkeypatch):
    original = registry.CONVERTERS[aten.convolution.default]
    right = conv.convolution

    def wrong(ctx, node, *args, **kwargs):
        bound = dict(zip(("input", "weight", "bias", "stride", "padding"), args), **kwargs)
        bound.update(zip(("dilation", "transposed", "output_padding", "groups"), args[5:]))
        bound["padding"] = list(bound["padding"])[::-1]  # (top/bottom, left/right) swapped
        return right(ctx, node, **bound)

    # conv2d's converter calls convolution() directly; the registry serves aten.convolution
    monkeypatch.setattr(conv, "convolution", wrong)
    monkeypatch.setitem(registry.CONVERTERS, aten.convolution.default,
                        registry.Converter(original.target, wrong, original.checks))


def test_converter_test_catches_it(swapped_padding):
    case = next(c for c in CASES if c.id == "conv2d-stride-dilation")  # padding (2, 1)
    with pytest.raises(AssertionError, match="max_abs"):
        check_converted(Fn(case.fn, case.params), case.args)


def test_verify_catches_it(swapped_padding):
    import trtbuild
    from trtbuild.inputs import Input

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, (3, 5), padding=(1, 2)), torch.nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    compiled = trtbuild.compile(trtbuild.trace(model, [x]), [x], min_block_size=1)
    checks = verify_module(model, compiled, [Input(shape=(1, 3, 8, 8), name="x")], rtol=1e-4, atol=1e-5)
    assert not any(c.ok for c in checks)
