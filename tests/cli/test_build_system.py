"""Incremental, explainable rebuilds: fast path, explain, --check, --shard, per-segment reuse."""

import json
import subprocess
import sys

import torch
from safetensors.torch import save_file

from tests.conftest import CONVNET, run_cli, tiny_recipe, write_recipe
from tests.fixtures.tiny_models import ConvNet

WEIGHTED = tiny_recipe(model='weights = "{weights}"\n', settings="min_block_size = 1\n")
MIXED = tiny_recipe("tiny_models:with_unsupported", (2, 8),
                    settings="min_block_size = 2\ntorch_executed_ops = {ops}\n")




def make(cwd, *args):
    proc = run_cli("make", "--json", *args, cwd=cwd)
    assert proc.stdout, proc.stderr
    return proc, {r["name"]: r for r in json.loads(proc.stdout)["recipes"]}


def save_weights(path, seed, bump=None):
    torch.manual_seed(seed)
    state = ConvNet().state_dict()
    if bump:
        state[bump] = state[bump] + 1
    save_file(state, str(path))


def test_changed_weights_rebuild_only_that_recipe_and_explain_names_tensors(recipe_dir):
    save_weights(recipe_dir / "a.safetensors", 1)
    save_weights(recipe_dir / "b.safetensors", 2)
    write_recipe(recipe_dir, "a", WEIGHTED.format(weights="a.safetensors"))
    write_recipe(recipe_dir, "b", WEIGHTED.format(weights="b.safetensors"))
    _, first = make(recipe_dir, "a.toml", "b.toml")
    assert {r["status"] for r in first.values()} == {"built"}
    save_weights(recipe_dir / "b.safetensors", 2, bump="fc.bias")
    _, second = make(recipe_dir, "a.toml", "b.toml")
    assert second["a"]["status"] == "cached" and second["a"]["fast_path"]
    assert second["b"]["status"] == "built" and "1 tensor changed (fc.bias)" in second["b"]["reason"]
    save_weights(recipe_dir / "b.safetensors", 2, bump="conv.weight")
    proc = run_cli("explain", "b.toml", "--json", cwd=recipe_dir)
    report = json.loads(proc.stdout)
    assert report["changes"] == ["weights: 2 tensors changed (conv.weight, fc.bias)"]
    assert report["components"]["weights"]["tensors"] == 9  # conv 2, batch norm 5, fc 2


def test_torch_executed_ops_change_rebuilds_only_changed_segments(recipe_dir):
    write_recipe(recipe_dir, "mixed", MIXED.format(ops="[]"))
    _, first = make(recipe_dir, "mixed.toml")
    assert [s["kind"] for s in first["mixed"]["segments"]] == ["tensorrt", "torch", "tensorrt"]
    write_recipe(recipe_dir, "mixed", MIXED.format(ops='["aten.tanh.default"]'))
    _, second = make(recipe_dir, "mixed.toml")
    segs = second["mixed"]["segments"]
    assert [s["kind"] for s in segs] == ["tensorrt", "torch", "tensorrt", "torch"]
    assert [s["cache"] for s in segs if s["kind"] == "tensorrt"] == ["hit", "miss"]
    assert "settings.torch_executed_ops: [] -> [\"aten.tanh.default\"]" in second["mixed"]["reason"]


NO_TORCH = """
import sys
from trtbuild.cli.main import main
try:
    main(["make", "tiny.toml", "--json"])
except SystemExit as exit:
    print("exit", exit.code, "torch" in sys.modules, file=sys.stderr)
"""


def test_noop_make_does_not_import_torch(recipe_dir):
    write_recipe(recipe_dir, "tiny", CONVNET)
    make(recipe_dir, "tiny.toml")
    proc = subprocess.run([sys.executable, "-c", NO_TORCH], cwd=recipe_dir, capture_output=True, text=True)
    assert "exit 0 False" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["recipes"][0]["fast_path"] is True


def test_a_deleted_output_dir_is_written_from_the_cache_without_torch(recipe_dir):
    import shutil

    write_recipe(recipe_dir, "tiny", CONVNET)
    _, first = make(recipe_dir, "tiny.toml")
    shutil.rmtree(recipe_dir / "build")
    proc = subprocess.run([sys.executable, "-c", NO_TORCH], cwd=recipe_dir, capture_output=True, text=True)
    assert "exit 0 False" in proc.stderr, proc.stderr
    [report] = json.loads(proc.stdout)["recipes"]
    assert (report["status"], report["fast_path"], report["key"]) == ("cached", True, first["tiny"]["key"])
    assert "engines reused from the cache by stamp" in report["reason"]
    load = subprocess.run([sys.executable, "-c", "import sys, trtbuild; trtbuild.load(sys.argv[1])",
                           str(recipe_dir / "build" / "tiny")], capture_output=True, text=True)
    assert load.returncode == 0, load.stderr


def test_stamps_do_not_depend_on_where_the_project_is(recipe_dir, tmp_path_factory):
    """The same project at two paths (two clones) computes the same stamp: no absolute paths, no mtimes."""
    import shutil

    from trtbuild.recipe import load_recipe
    from trtbuild.stamp import compute

    (recipe_dir / "trtbuild.toml").write_text("")
    write_recipe(recipe_dir, "tiny", CONVNET)
    other = tmp_path_factory.mktemp("elsewhere") / "clone"
    shutil.copytree(recipe_dir, other)
    (other / "tiny_models.py").touch()  # a new mtime: not content
    here, there = compute(load_recipe(recipe_dir / "tiny.toml"), None), compute(load_recipe(other / "tiny.toml"), None)
    assert here.digest == there.digest
    assert set(here.doc["files"]) == {"tiny.toml", "trtbuild.toml", "module:tiny_models"}
    (other / "tiny_models.py").write_text((other / "tiny_models.py").read_text() + "\n")
    assert compute(load_recipe(other / "tiny.toml"), None).digest != here.digest


def test_editing_the_factory_source_invalidates_the_fast_path(recipe_dir):
    write_recipe(recipe_dir, "tiny", CONVNET)
    make(recipe_dir, "tiny.toml")
    assert make(recipe_dir, "tiny.toml")[1]["tiny"]["fast_path"]
    source = recipe_dir / "tiny_models.py"
    source.write_text(source.read_text() + "\n# an edit\n")
    _, result = make(recipe_dir, "tiny.toml")
    assert not result["tiny"]["fast_path"] and result["tiny"]["status"] == "cached"  # same graph: engine reused


def test_upgrading_the_factory_package_invalidates_the_fast_path(recipe_dir):
    package = recipe_dir / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text("from tiny_models import convnet\n")
    info = recipe_dir / "fakepkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n")
    write_recipe(recipe_dir, "pkg", CONVNET.replace(
        "tiny_models:convnet", "fakepkg:convnet"))
    env = {"PYTHONPATH": str(recipe_dir)}
    run = lambda: json.loads(run_cli("make", "--json", "pkg.toml", cwd=recipe_dir, env=env).stdout)["recipes"][0]
    run()
    assert run()["fast_path"]
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.1\n")
    assert not run()["fast_path"]


def test_check_exit_codes(recipe_dir):
    write_recipe(recipe_dir, "tiny", CONVNET)
    proc = run_cli("make", "--check", "tiny.toml", cwd=recipe_dir)
    assert proc.returncode == 3 and "tiny: would build" in proc.stdout
    assert not (recipe_dir / "build").exists()
    make(recipe_dir, "tiny.toml")
    proc = run_cli("make", "--check", "tiny.toml", cwd=recipe_dir)
    assert proc.returncode == 0 and "tiny: up-to-date" in proc.stdout
    proc = run_cli("make", "--check", "--no-fast-path", "tiny.toml", cwd=recipe_dir)
    assert proc.returncode == 0 and "key unchanged" in proc.stdout


def test_shards_cover_every_recipe_exactly_once():
    from pathlib import Path

    from trtbuild.shards import plan_shards

    paths = [Path(f"r{i:02d}.toml") for i in range(11)]
    some_costs = {p: float(i % 4) * 10 + 1 for i, p in enumerate(paths) if i % 3}
    for costs in ({}, some_costs):
        for total in (1, 2, 3, 4, 11, 13):
            shards = [s.recipes for s in plan_shards(paths, total, costs)]
            flat = [p for shard in shards for p in shard]
            assert sorted(flat) == sorted(paths) and len(flat) == len(paths)
            if not costs:  # no records: round-robin, as before costs were recorded
                assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_bad_shard_is_an_input_error(recipe_dir):
    write_recipe(recipe_dir, "tiny", CONVNET)
    proc = run_cli("make", "--shard", "3/2", "tiny.toml", cwd=recipe_dir)
    assert proc.returncode == 2 and "expected I/N" in proc.stderr
