"""Dynamic shapes end to end: ranges and named dims in recipes, profiles, verify, load."""

import json
import subprocess
import sys

import torch

import trtbuild
from tests.conftest import run_cli, write_recipe

DYNAMIC = """
[model]
factory = "tiny_models:convnet"
[[inputs]]
name = "x"
min_shape = [1, 3, 7, 7]
opt_shape = [1, 3, 7, 7]
max_shape = [4, 3, 7, 7]
[settings]
min_block_size = 1
[verify]
samples = 1
"""

NAMED = """
[model]
factory = "tiny_models:pair_sum"
[dims]
batch = { min = 1, opt = 2, max = 6 }
[[inputs]]
name = "x"
shape = ["batch", 3]
[[inputs]]
name = "y"
shape = ["batch", 3]
[settings]
min_block_size = 1
"""


def make(recipe_dir, *args):
    proc = run_cli("make", "--json", *args, cwd=recipe_dir)
    assert proc.stdout, proc.stderr
    return proc, json.loads(proc.stdout)["recipes"][0]


def test_dynamic_batch_is_one_engine_with_opt_equal_to_min(recipe_dir):
    write_recipe(recipe_dir, "dyn", DYNAMIC)
    proc, result = make(recipe_dir, "dyn.toml", "--verify")
    assert proc.returncode == 0, proc.stderr
    assert [s["kind"] for s in result["segments"]] == ["tensorrt"]
    checks = result["verify"]["checks"]
    assert [c["shape"] for c in checks] == ["min", "opt", "max", "random-1"]
    assert [c["input_shapes"][0][0] for c in checks[:3]] == [1, 1, 4]
    assert all(o["max_rel"] < 1e-4 for c in checks for o in c["outputs"])


def test_ranges_are_part_of_the_key(recipe_dir):
    write_recipe(recipe_dir, "dyn", DYNAMIC)
    write_recipe(recipe_dir, "wider", DYNAMIC.replace("max_shape = [4", "max_shape = [8"))
    _, a = make(recipe_dir, "dyn.toml")
    _, b = make(recipe_dir, "wider.toml")
    assert a["key"] != b["key"] and a["segments"][0]["key"] != b["segments"][0]["key"]
    assert b["status"] == "built" and b["segments"][0]["cache"] == "miss"


LOAD = """
import sys, torch, trtbuild
from trtbuild.assembly.runtime import TRTEngineModule
gm = trtbuild.load(sys.argv[1])
[engine] = [m for m in gm.modules() if isinstance(m, TRTEngineModule)]
print(engine.input_specs[0]["shape"], engine.profiles[0]["x"])
try:
    gm(torch.randn(9, 3, 7, 7))
except ValueError as exc:
    print("refused:", exc)
"""


def test_loaded_dynamic_module_keeps_its_ranges(recipe_dir):
    write_recipe(recipe_dir, "dyn", DYNAMIC)
    make(recipe_dir, "dyn.toml")
    proc = subprocess.run([sys.executable, "-c", LOAD, str(recipe_dir / "build" / "dyn")], capture_output=True,
                          text=True)
    shape_line, refused = proc.stdout.strip().splitlines()
    assert shape_line == "[-1, 3, 7, 7] [[1, 3, 7, 7], [1, 3, 7, 7], [4, 3, 7, 7]]"
    assert "shape (9, 3, 7, 7) is outside the shapes it was built for ((1, 3, 7, 7)..(4, 3, 7, 7))" in refused


def test_named_dims_shared_by_inputs(recipe_dir):
    write_recipe(recipe_dir, "named", NAMED)
    proc, result = make(recipe_dir, "named.toml", "--verify")
    assert proc.returncode == 0, proc.stderr
    assert result["verify"]["ok"] and [s["kind"] for s in result["segments"]] == ["tensorrt"]
    for check in result["verify"]["checks"]:
        x_shape, y_shape = check["input_shapes"]
        assert x_shape[0] == y_shape[0]


def test_constraint_is_reported_in_recipe_terms(recipe_dir):
    text = NAMED.replace('shape = ["batch", 3]\n[[inputs]]\nname = "y"\nshape = ["batch", 3]',
                         'shape = ["batch", 3]\n[[inputs]]\nname = "y"\nshape = ["other", 3]')
    text = text.replace("[[inputs]]", "other = { min = 1, opt = 2, max = 6 }\n[[inputs]]", 1)
    write_recipe(recipe_dir, "split", text)
    proc, result = make(recipe_dir, "split.toml")
    assert proc.returncode == 2
    assert "input y dim 0 ('other') and input x dim 0 ('batch') must always be equal" in result["error"]


class DataSized(torch.nn.Module):
    """`arange(5, end)` with `end` read from a tensor: a size no input range bounds."""

    def forward(self, offsets):
        end = torch.randint(8, 14, (1,))[0]
        return torch.cat((offsets, torch.arange(5, end, dtype=torch.int32))) * 2 + 1


def test_a_data_dependent_size_leaves_its_readers_to_torch():
    x = torch.tensor([0, 2], dtype=torch.int32)
    module = trtbuild.compile(torch.export.export(DataSized(), (x,)), [x], min_block_size=1)
    reasons = {f["node"]: f["reason"] for s in module.trtbuild_segments for f in s.fallbacks}
    assert reasons["cat"] == ("its input arange has a data-dependent size (u0 - 5); an engine input needs a size "
                              "range from the model's input dims")
    trtbuild.set_reference(module)
    torch.manual_seed(0)
    out = module(x)
    torch.manual_seed(0)
    torch.testing.assert_close(out, DataSized()(x))
