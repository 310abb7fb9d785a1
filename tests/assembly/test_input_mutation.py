"""A model that mutates its inputs in place (`x.index_add_`, `y.add_`): calling the compiled module
mutates the caller's tensors as eager does, also once the build is written and loaded back."""

import pytest
import torch

import trtbuild
from trtbuild.assembly.artifacts import describe_module, load, write_artifacts
from trtbuild.assembly.runtime import TRTEngineModule


class Mutating(torch.nn.Module):
    def forward(self, x, index, values, y):
        x.index_add_(0, index, values)
        y.add_(1)  # an input mutated but not returned
        return x * 2


def _inputs():
    return [torch.ones(6, 4), torch.tensor([0, 5, 2]), torch.randn(3, 4), torch.randn(4)]


def _compiled(**settings):
    program = torch.export.export(Mutating(), tuple(_inputs()))
    module = trtbuild.compile(program, _inputs(), min_block_size=1, **settings)
    return trtbuild.set_reference(module)


def _assert_same_effects(module):
    eager_args, args = _inputs(), _inputs()
    args[2], args[3] = eager_args[2].clone(), eager_args[3].clone()
    expected = Mutating()(*eager_args)
    actual = module(*args)
    assert torch.allclose(actual, expected)
    assert torch.allclose(args[0], eager_args[0]) and torch.allclose(args[3], eager_args[3])
    assert not torch.equal(args[0], torch.ones(6, 4))  # the mutation happened


def _written_and_loaded(module, path):
    manifest, files = describe_module(module, module.trtbuild_segments, {})
    write_artifacts(path, manifest, files)
    loaded = load(path)
    for name, sub in module.named_children():  # loaded engines need a GPU: run the compiled ones' reference
        if isinstance(sub, TRTEngineModule):
            setattr(loaded, name, sub)
    return loaded


@pytest.mark.parametrize("settings", [{}, {"torch_executed_ops": ["aten.index_put.default"]}],
                         ids=["in-tensorrt", "mutating-op-in-torch"])
def test_compiled_module_writes_input_mutations_back(settings):
    _assert_same_effects(_compiled(**settings))


def test_a_loaded_build_keeps_the_write_back(tmp_path):
    loaded = _written_and_loaded(_compiled(), tmp_path)
    copies = [n for n in loaded.graph.nodes if n.target is torch.ops.aten.copy_.default]
    assert [n.args[0].name for n in copies] == ["x", "y"]
    _assert_same_effects(loaded)


def test_verify_gives_eager_and_the_build_the_same_inputs():
    """Both mutate their inputs: each run gets its own copy, or the second would see the first's writes."""
    from trtbuild.inputs import Input
    from trtbuild.verify.check import verify_module

    specs = [Input(shape=(6, 4), name="x"), Input(shape=(3,), dtype="int64", value_range=(0, 6), name="index"),
             Input(shape=(3, 4), name="values"), Input(shape=(4,), name="y")]
    checks = verify_module(Mutating(), _compiled(), specs, rtol=1e-5, atol=1e-6)
    assert all(check.ok for check in checks)


class ReturnsItsInput(torch.nn.Module):
    def forward(self, x):
        x.mul_(2)
        return x, x + 1


class CopiesIntoItsInput(torch.nn.Module):
    def forward(self, x):
        y = x + 1
        x.copy_(y)
        return y


def _compile(model, example):
    program = torch.export.export(model, (example.clone(),))
    return trtbuild.set_reference(trtbuild.compile(program, [example], min_block_size=1))


def test_an_input_returned_after_its_mutation_is_the_callers_own_tensor(tmp_path):
    module = _compile(ReturnsItsInput(), torch.ones(3))
    for candidate in (module, _written_and_loaded(module, tmp_path)):
        x = torch.ones(3)
        same, plus_one = candidate(x)
        assert same is x  # eager: `x.mul_(2)` returns x, and so does the model
        assert torch.equal(x, torch.full((3,), 2.0)) and torch.equal(plus_one, torch.full((3,), 3.0))


def test_a_new_value_copied_into_an_input_is_returned_as_its_own_tensor():
    """After functionalization this graph looks like the one above; eager returns `y`, not `x`."""
    x = torch.ones(3)
    y = _compile(CopiesIntoItsInput(), x.clone())(x)
    assert y is not x and torch.equal(y, x) and torch.equal(x, torch.full((3,), 2.0))
