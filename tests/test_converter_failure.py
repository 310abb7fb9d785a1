"""A converter that raises never fails a build: its node runs in torch, and every report says why.

The model (tiny_models.with_unsupported) is linear/relu x3 + sigmoid, erfinv (no converter),
linear/relu x3 + tanh; the tanh converter is replaced by one that raises.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import trtbuild
from trtbuild.conversion.registry import CONVERTERS, lookup
from trtbuild.engine import build as engine_build
from trtbuild.errors import BuildError
from trtbuild import pipeline

from tests.conftest import MIXED, write_recipe

TANH = torch.ops.aten.tanh.default
PLANTED = "converter test_converter_failure._raise failed: RuntimeError: a converter bug planted by the test"


def _raise(ctx, node, **kwargs):
    raise RuntimeError("a converter bug planted by the test\nsecond line, not reported")


@pytest.fixture
def broken_tanh(monkeypatch):
    monkeypatch.setitem(CONVERTERS, TANH, dataclasses.replace(lookup(TANH), fn=_raise))


def make(cli, folder, *args):
    *options, recipe = args
    return cli("make", *options, "--cache-dir", str(folder / "cache"), "--out-dir", str(folder / "build"),
               str(folder / recipe))


def _fallbacks(segments):
    return [f for s in segments for f in s["fallbacks"]]


def test_make_builds_with_the_failing_node_in_torch_and_verifies(recipe_dir, broken_tanh, cli):
    write_recipe(recipe_dir, "mixed", MIXED)
    made = make(cli, recipe_dir, "--json", "--verify", "mixed.toml")
    assert made.code == 0, made.stderr
    [r] = made.json()["recipes"]
    assert r["status"] == "built" and r["verify"]["ok"]
    assert [s["kind"] for s in r["segments"]] == ["tensorrt", "torch", "tensorrt", "torch"]
    assert r["segments"][2]["nodes"] == 5  # linear, relu, linear, relu, linear
    tanh = _fallbacks(r["segments"])[-1]
    assert (tanh["op"], tanh["reason"]) == ("aten.tanh.default", PLANTED)
    assert "tiny_models.py:" in tanh["source"] and tanh["source"].endswith(" in forward")
    manifest_ops = [s["kind"] for s in trtbuild.load(recipe_dir / "build" / "mixed").trtbuild_manifest["segments"]]
    assert manifest_ops == ["tensorrt", "torch", "tensorrt", "torch"]


def test_make_text_and_dry_run_name_the_converter_error_and_the_source(recipe_dir, broken_tanh, cli):
    write_recipe(recipe_dir, "mixed", MIXED)
    made = make(cli, recipe_dir, "mixed.toml")
    assert made.code == 0, made.stderr
    assert "mixed: 2 op(s) run in torch:" in made.stdout
    line = next(line for line in made.stdout.splitlines() if "(aten.tanh.default)" in line)
    assert PLANTED in line and "tiny_models.py:" in line and "second line" not in line
    planned = cli("make", "--dry-run", "--json", str(recipe_dir / "mixed.toml"))
    assert planned.code == 0, planned.stderr
    [plan] = planned.json()["recipes"]
    assert [f["reason"] for f in _fallbacks(plan["segments"])] == ["no converter", PLANTED]


TANH_NET = """
import torch


class TanhNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x):
        return torch.tanh(self.fc(x)) * 2


def tanh_net():
    return TanhNet()
"""


def test_require_full_compilation_fails_naming_the_node(recipe_dir, broken_tanh, cli):
    (recipe_dir / "tanh_net.py").write_text(TANH_NET)
    write_recipe(recipe_dir, "full", MIXED.replace("tiny_models:with_unsupported", "tanh_net:tanh_net")
                 + "[settings]\nrequire_full_compilation = true\n")
    made = make(cli, recipe_dir, "full.toml")
    assert made.code == 1 and "Traceback" not in made.stderr
    assert "require_full_compilation is set" in made.stderr and "tanh (aten.tanh.default) at " in made.stderr
    assert "tanh_net.py:11 in forward" in made.stderr and PLANTED in made.stderr
    assert not (recipe_dir / "build" / "full" / "manifest.json").exists()


def test_a_build_failure_blamed_on_one_node_falls_back_and_rebuilds_only_that_segment(monkeypatch):
    """TensorRT errors that name the layers of exactly one node leave that node to torch; the
    segment built before the failure is not built again."""
    from tests.fixtures.tiny_models import with_unsupported

    builds = []

    def failing_on_tanh(net, *args, **kwargs):
        layers = [net.network.get_layer(i) for i in range(net.network.num_layers)]
        builds.append(sorted({layer.metadata for layer in layers}))
        tanh = [layer.name for layer in layers if layer.metadata == "tanh"]
        if not tanh:
            return real_build(net, *args, **kwargs)
        errors = [f"Could not find any implementation for node {tanh[0]}."]
        raise BuildError("TensorRT could not build the engine: " + errors[0],
                         node=engine_build.blamed_node(net.network, errors))

    real_build = engine_build.build_engine
    monkeypatch.setattr(pipeline, "build_engine", failing_on_tanh)
    model = with_unsupported().eval()
    program = trtbuild.trace(model, [trtbuild.Input(shape=(2, 8))])
    module = trtbuild.compile(program, [trtbuild.Input(shape=(2, 8))], min_block_size=1)
    assert [s.kind for s in module.trtbuild_segments] == ["tensorrt", "torch", "tensorrt", "torch"]
    [tanh] = module.trtbuild_segments[-1].fallbacks
    assert tanh["node"] == "tanh" and tanh["reason"].startswith("TensorRT could not build the engine: ")
    first, failed, rest = builds  # the first segment is not built again after the failure
    assert "tanh" not in first and rest == [n for n in failed if n != "tanh"]
    trtbuild.set_reference(module)
    x = torch.randn(2, 8)
    torch.testing.assert_close(module(x), model(x), rtol=1e-4, atol=1e-5)


def test_an_error_naming_several_nodes_is_not_blamed_on_one():
    from trtbuild.conversion.interpreter import convert_segment
    from trtbuild.engine.backend import get_backend
    from trtbuild.lowering import lower
    from trtbuild.settings import CompileSettings

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh()).eval()
    program = trtbuild.trace(model, [trtbuild.Input(shape=(2, 4))])
    net = convert_segment(lower(program, CompileSettings()), get_backend(), CompileSettings()).network
    layers = [net.get_layer(i) for i in range(net.num_layers)]
    linear, tanh = layers[0], layers[-1]
    assert (linear.metadata, tanh.metadata) == ("linear", "tanh")
    assert engine_build.blamed_node(net, [f"no implementation for {tanh.name}.", "out of memory"]) == "tanh"
    assert engine_build.blamed_node(net, [f"{linear.name} feeds {tanh.name}"]) is None
    assert engine_build.blamed_node(net, ["Internal error"]) is None
