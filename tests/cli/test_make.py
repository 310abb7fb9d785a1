"""End to end through the CLI in fresh processes, as users run it."""

import json

from tests.conftest import CONVNET, MIXED, run_cli, write_recipe




def make_json(*args, cwd):
    proc = run_cli("make", "--json", *args, cwd=cwd)
    return proc, (json.loads(proc.stdout) if proc.stdout.strip() else None)


def test_build_then_cached(recipe_dir):
    write_recipe(recipe_dir, "tiny", CONVNET)
    proc, first = make_json("tiny.toml", cwd=recipe_dir)
    assert proc.returncode == 0, proc.stderr
    [r] = first["recipes"]
    assert r["status"] == "built" and r["name"] == "tiny" and len(r["key"]) == 64
    [seg] = r["segments"]
    assert seg["kind"] == "tensorrt" and seg["cache"] == "miss" and seg["engine_bytes"] > 0 and seg["nodes"] >= 5
    proc, second = make_json("tiny.toml", cwd=recipe_dir)
    [r2] = second["recipes"]
    assert r2["status"] == "cached" and r2["key"] == r["key"]
    assert r2["segments"][0]["cache"] == "hit" and "build" not in r2["timings"]
    assert (recipe_dir / "build" / "tiny" / "manifest.json").is_file()


LOAD = """
import sys, torch, trtbuild
from trtbuild.assembly.runtime import TRTEngineModule
gm = trtbuild.load(sys.argv[1])
engines = [m for m in gm.modules() if isinstance(m, TRTEngineModule)]
print(type(gm).__name__, len(engines), len(engines[0].plan))
try:
    gm(torch.randn(1, 3, 7, 7))
except Exception as exc:
    print(type(exc).__name__)
"""


def test_load_in_a_new_process_returns_the_engine(recipe_dir):
    import subprocess
    import sys

    write_recipe(recipe_dir, "tiny", CONVNET)
    assert run_cli("make", "tiny.toml", cwd=recipe_dir).returncode == 0
    proc = subprocess.run([sys.executable, "-c", LOAD, str(recipe_dir / "build" / "tiny")],
                          capture_output=True, text=True)
    name, count, size, error = proc.stdout.split()
    assert (name, count, error) == ("GraphModule", "1", "EngineUnavailableError") and int(size) > 1000


def test_unsupported_op_builds_a_torch_segment(recipe_dir):
    write_recipe(recipe_dir, "mixed", MIXED)
    proc, doc = make_json("mixed.toml", cwd=recipe_dir)
    assert proc.returncode == 0, proc.stderr
    segs = doc["recipes"][0]["segments"]
    assert [s["kind"] for s in segs] == ["tensorrt", "torch", "tensorrt"]
    assert segs[1]["fallbacks"][0]["op"] == "aten.erfinv.default" and segs[1]["cache"] is None


def test_require_full_compilation_fails_naming_the_op(recipe_dir):
    write_recipe(recipe_dir, "strict", MIXED + "[settings]\nrequire_full_compilation = true\n")
    proc, doc = make_json("strict.toml", cwd=recipe_dir)
    assert proc.returncode == 1
    error = doc["recipes"][0]["error"]
    assert "aten.erfinv.default" in error and "no converter" in error and "tiny_models.py" in error
    assert "Traceback" not in proc.stderr


def test_invalid_recipe_exits_2_without_traceback(recipe_dir):
    write_recipe(recipe_dir, "bad", CONVNET.replace("min_block_size", "min_blok_size"))
    proc = run_cli("make", "bad.toml", cwd=recipe_dir)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "bad.toml: settings.min_blok_size: unknown field" in proc.stderr.replace("\n", "")


def test_factory_that_raises_exits_2(recipe_dir):
    write_recipe(recipe_dir, "broken", CONVNET.replace("tiny_models:convnet", "tiny_models:broken"))
    proc = run_cli("make", "broken.toml", cwd=recipe_dir)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "factory failed on purpose" in proc.stderr


def test_debug_shows_the_traceback(recipe_dir):
    write_recipe(recipe_dir, "broken", CONVNET.replace("tiny_models:convnet", "tiny_models:nope"))
    proc = run_cli("--debug", "make", "broken.toml", cwd=recipe_dir)
    assert proc.returncode == 2 and "has no attribute 'nope'" in proc.stderr


def test_cache_dir_and_out_dir_options(recipe_dir, tmp_path):
    write_recipe(recipe_dir, "tiny", CONVNET)
    proc, doc = make_json("tiny.toml", "--cache-dir", str(tmp_path / "mine"), "--out-dir", str(tmp_path / "out"),
                          cwd=recipe_dir)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mine" / "cache.db").exists() and (tmp_path / "out" / "tiny" / "manifest.json").exists()
