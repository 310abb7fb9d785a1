"""enabled_precisions: autocast-style policy on a strongly typed network; truncate_long_and_double."""

import pytest
import torch
from torch import nn

import trtbuild
from trtbuild.errors import InputError
from trtbuild.inputs import Input
from trtbuild.lowering import lower, precision
from trtbuild.settings import CompileSettings
from trtbuild.verify.check import tolerances, verify_module

aten = torch.ops.aten


class Wide(nn.Module):
    """Weights large enough (4 MB in fp32) that the engine's fixed overhead does not hide the ratio."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(256, 2048)
        self.fc2 = nn.Linear(2048, 256)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class NaiveSoftmax(nn.Module):
    """exp() of logits of ~40: e^40 overflows float16 (max 65504) unless exp runs in float32."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 32)

    def forward(self, x):
        logits = self.fc(x) * 20
        e = torch.exp(logits)
        return e / e.sum(dim=-1, keepdim=True)


def compiled(model, x, precision_name):
    program = trtbuild.trace(model.eval(), [x])
    return trtbuild.compile(program, [x], enabled_precisions=[precision_name], min_block_size=1)


def engine_bytes(module):
    return sum(len(m.plan) for m in module.modules() if hasattr(m, "plan"))


@pytest.mark.parametrize("low", ["float16", "bfloat16"])
def test_low_precision_halves_the_engine_and_stays_within_tolerance(low):
    torch.manual_seed(0)
    model, x = Wide(), torch.randn(4, 256)
    full, half = compiled(model, x, "float32"), compiled(model, x, low)
    ratio = engine_bytes(half) / engine_bytes(full)
    assert 0.45 < ratio < 0.55
    rtol, atol = tolerances(low)
    checks = verify_module(model.eval(), half, [Input(shape=(4, 256), name="x")], rtol=rtol, atol=atol)
    assert all(c.ok for c in checks)


def test_inputs_and_outputs_keep_their_dtypes():
    program = trtbuild.trace(Wide().eval(), [torch.randn(2, 256)])
    gm = lower(program, CompileSettings(enabled_precisions=["float16"]))
    placeholder = next(n for n in gm.graph.nodes if n.op == "placeholder")
    output = next(n for n in gm.graph.nodes if n.op == "output")
    assert placeholder.meta["val"].dtype == torch.float32
    assert output.args[0][0].meta["val"].dtype == torch.float32
    weights = [n for n in gm.graph.nodes if n.op == "get_attr"]
    assert {n.meta["val"].dtype for n in weights} == {torch.float16}


def test_float32_policy_keeps_an_overflowing_softmax_within_tolerance(monkeypatch):
    torch.manual_seed(0)
    model, x = NaiveSoftmax().eval(), torch.randn(8, 16)
    spec = [Input(shape=(8, 16), name="x")]
    rtol, atol = tolerances("float16")
    with_policy = verify_module(model, compiled(model, x, "float16"), spec, rtol=rtol, atol=atol)
    assert all(c.ok for c in with_policy)
    monkeypatch.setitem(precision.POLICY, "aten.exp", precision.LOW)
    monkeypatch.setitem(precision.POLICY, "aten.sum", precision.LOW)
    without = verify_module(model, compiled(model, x, "float16"), spec, rtol=rtol, atol=atol)
    assert not any(c.ok for c in without)


def test_precision_exclude_ops_forces_float32():
    program = trtbuild.trace(Wide().eval(), [torch.randn(2, 256)])
    gm = lower(program, CompileSettings(enabled_precisions=["float16"], precision_exclude_ops=["aten.linear"]))
    linears = [n for n in gm.graph.nodes if n.target is aten.linear.default]
    assert {n.meta["val"].dtype for n in linears} == {torch.float32}


class Indices(nn.Module):
    def __init__(self, big=False):
        super().__init__()
        self.register_buffer("offsets", torch.tensor([2**40 if big else 5, 1]))

    def forward(self, ids, x):
        return (ids + self.offsets).sum(dim=-1), x.double() * 2


def test_truncate_narrows_inside_and_keeps_boundary_dtypes():
    ids, x = torch.randint(0, 9, (3, 2)), torch.randn(3)
    program = torch.export.export(Indices(), (ids, x))
    gm = lower(program, CompileSettings(truncate_long_and_double=True))
    inner = [n.meta["val"].dtype for n in gm.graph.nodes if n.op == "call_function"
             and n.target is not aten._to_copy.default and hasattr(n.meta.get("val"), "dtype")]
    assert torch.int64 not in inner and torch.float64 not in inner
    out_a, out_b = gm(ids, x)
    assert out_a.dtype == torch.int64 and out_b.dtype == torch.float64
    assert torch.equal(out_a, Indices()(ids, x)[0]) and torch.allclose(out_b, x.double() * 2)


def test_truncate_refuses_a_constant_that_does_not_fit():
    program = torch.export.export(Indices(big=True), (torch.randint(0, 9, (3, 2)), torch.randn(3)))
    with pytest.raises(InputError, match="constant offsets has values outside int32"):
        lower(program, CompileSettings(truncate_long_and_double=True))
