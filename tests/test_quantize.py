"""[quantize] recipes: load-time checks, calibration cached apart from engines, exclude, verify."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch

from tests.conftest import tiny_recipe, write_recipe
from trtbuild.cache.local import LocalStore
from trtbuild.errors import RecipeError
from trtbuild.make import export_recipe, make_recipe, quantize_recipe, verify_recipe
from trtbuild.recipe import load_recipe

pytest.importorskip("torchao")

CALIB = """import torch

def batches():
    generator = torch.Generator().manual_seed({seed})
    for _ in range(8):
        yield torch.randn(1, 3, 7, 7, generator=generator)
"""


def quant_recipe(folder, name="q", quantize='format = "int8"\ncalibration = "calib:batches"\nsamples = 3\n',
                 settings="min_block_size = 1\n", extra=""):
    return write_recipe(folder, name, tiny_recipe(settings=settings) + extra + f"[quantize]\n{quantize}")


@pytest.fixture(autouse=True)
def fresh_calibration_module():
    """Each test writes its own calib.py: never reuse one imported by an earlier test (a new process would not)."""
    sys.modules.pop("calib", None)
    yield
    sys.modules.pop("calib", None)


@pytest.fixture
def store(tmp_path):
    warnings: list[str] = []
    s = LocalStore(tmp_path / "cache", warn=warnings.append)
    s.warnings = warnings
    yield s
    s.close()


@pytest.mark.parametrize("ccs, says", [('["8.6"]', "8.6 is older"), ('["8.0", "8.9"]', "8.0 is older"),
                                       ("[]", "the default targets include 8.6")])
def test_fp8_below_compute_capability_8_9_is_refused_at_load(tmp_path, ccs, says):
    path = quant_recipe(tmp_path, quantize='format = "fp8"\n', extra=f"[target]\ncompute_capabilities = {ccs}\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert caught.value.field == "target.compute_capabilities"
    assert "fp8" in str(caught.value) and says in str(caught.value)


def test_fp8_refusal_comes_before_torch_is_imported(tmp_path):
    path = quant_recipe(tmp_path, quantize='format = "fp8"\n', extra='[target]\ncompute_capabilities = ["8.6"]\n')
    code = ("import sys\nfrom trtbuild.recipe import load_recipe\ntry:\n    load_recipe(sys.argv[1])\n"
            "except Exception as e:\n    print(type(e).__name__, e.field)\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["RecipeError", "target.compute_capabilities", "False"], out.stderr
    assert load_recipe(quant_recipe(tmp_path, "ok", quantize='format = "fp8"\n',
                                    extra='[target]\ncompute_capabilities = ["8.9", "12.0"]\n')).quantize.format == "fp8"


def test_quantize_table_is_inherited_from_folder_defaults(tmp_path):
    (tmp_path / "trtbuild.toml").write_text('[quantize]\nformat = "int8"\nsamples = 5\n')
    recipe = load_recipe(write_recipe(tmp_path, "r", tiny_recipe() + '[quantize]\nalgorithm = "histogram"\n'))
    assert (recipe.quantize.format, recipe.quantize.samples, recipe.quantize.algorithm) == ("int8", 5, "histogram")


def test_scales_are_cached_apart_from_engines_and_reused_when_only_engine_settings_change(recipe_dir, store):
    (recipe_dir / "calib.py").write_text(CALIB.format(seed=0))
    path = quant_recipe(recipe_dir)
    first = make_recipe(load_recipe(path), store, out_root=str(recipe_dir / "out"))
    assert first.status == "built" and first.precision == "int8", first.error
    assert "calibrate" in first.timings
    assert [s["kind"] for s in first.segments] == ["tensorrt"] and not first.segments[0]["fallbacks"]
    entries = [n for n in store.names("calibration")]
    assert len(entries) == 1
    doc = store.get_meta("calibration", entries[0].split("/")[1])
    assert json.dumps(doc) and all(isinstance(v, dict) for v in doc["observers"].values())  # plain JSON

    path.write_text(path.read_text().replace("min_block_size = 1\n", "min_block_size = 1\noptimization_level = 1\n"))
    second = make_recipe(load_recipe(path), store, out_root=str(recipe_dir / "out"))
    assert second.status == "built" and second.key != first.key
    assert "calibrate" not in second.timings and "quantize" in second.timings
    assert second.segments[0]["cache"] == "miss"  # the engine is rebuilt from the cached scales

    (recipe_dir / "calib.py").write_text(CALIB.format(seed=1))  # other data: other scales
    sys.modules.pop("calib")  # as in the next make's process
    third = make_recipe(load_recipe(path), store, out_root=str(recipe_dir / "out"))
    assert "calibrate" in third.timings and len(list(store.names("calibration"))) == 2


def test_verify_compares_with_the_fake_quantized_model_and_reports_the_float_error(recipe_dir, store):
    (recipe_dir / "calib.py").write_text(CALIB.format(seed=0))
    report = verify_recipe(load_recipe(quant_recipe(recipe_dir)), store)
    assert report["ok"] and report["precision"] == "int8" and report["rtol"] == 1e-2
    for check in report["checks"]:
        for output in check["outputs"]:
            assert output["max_rel"] < 1e-2
            assert set(output["vs_float"]) == {"max_abs", "max_rel", "cosine"}
            assert 0 < output["vs_float"]["max_abs"] and output["vs_float"]["cosine"] > 0.9


def test_a_damaged_calibration_entry_is_recalibrated(recipe_dir, store):
    (recipe_dir / "calib.py").write_text(CALIB.format(seed=0))
    recipe = load_recipe(quant_recipe(recipe_dir))
    make_recipe(recipe, store, out_root=str(recipe_dir / "out"))
    key = next(store.names("calibration")).split("/")[1]
    doc = store.get_meta("calibration", key)
    store.put_meta("calibration", key, dict(doc, observers={"activation_post_process_0": {}}))  # not this model's
    _, program = export_recipe(recipe)
    quantized = quantize_recipe(recipe, program, store)
    assert store.get_meta("calibration", key)["observers"] == doc["observers"]  # calibrated and stored again
    assert quantized.program is not None


def test_exclude_keeps_named_modules_in_float_and_rejects_names_that_match_nothing(recipe_dir, store):
    (recipe_dir / "calib.py").write_text(CALIB.format(seed=0))
    recipe = load_recipe(quant_recipe(recipe_dir, quantize='format = "int8"\ncalibration = "calib:batches"\n'
                                                          'exclude = ["fc"]\n'))
    _, program = export_recipe(recipe)
    graph = quantize_recipe(recipe, program, store).program.graph
    linear = next(n for n in graph.nodes if n.target is torch.ops.aten.linear.default)
    conv = next(n for n in graph.nodes if n.target is torch.ops.aten.conv2d.default)
    assert "dequantize" not in str(linear.args[1].target) and "dequantize" in str(conv.args[1].target)
    bad = load_recipe(quant_recipe(recipe_dir, "bad", quantize='format = "int8"\nexclude = ["fcc"]\n'))
    with pytest.raises(RecipeError, match="'fcc' matches no conv or linear") as caught:
        quantize_recipe(bad, export_recipe(bad)[1], store)
    assert caught.value.field == "quantize.exclude"


def test_without_calibration_random_inputs_are_used_with_a_warning(recipe_dir, store):
    recipe = load_recipe(quant_recipe(recipe_dir, quantize='format = "int8"\nsamples = 2\n'))
    quantize_recipe(recipe, export_recipe(recipe)[1], store)
    assert any("random inputs" in w and "testing only" in w for w in store.warnings)


@pytest.mark.parametrize("body, says", [
    ("def batches():\n    return [torch.randn(1, 3, 7, 7), 'text']\n", "batch 1 should be 1 tensor(s)"),
    ("def batches():\n    return [torch.zeros(1, 3, 7, 7, dtype=torch.int64)]\n", "input 'x' is torch.int64"),
    ("def batches():\n    return []\n", "returned no batches"),
    ("def batches():\n    raise OSError('no data here')\n", "raised OSError: no data here"),
])
def test_bad_calibration_data_names_the_field(recipe_dir, body, says):
    (recipe_dir / "calib.py").write_text("import torch\n\n" + body)
    recipe = load_recipe(quant_recipe(recipe_dir))
    with pytest.raises(RecipeError, match=re.escape(says)) as caught:
        quantize_recipe(recipe, export_recipe(recipe)[1], None)
    assert caught.value.field == "quantize.calibration"
