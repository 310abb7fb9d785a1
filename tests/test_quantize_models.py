"""Whole-model quantized builds (slow): resnet50 int8 and fp8, a dynamic BERT encoder in int8."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT
from trtbuild.cache.local import LocalStore
from trtbuild.make import make_recipe, verify_recipe
from trtbuild.recipe import load_recipe

pytestmark = pytest.mark.slow
pytest.importorskip("torchao")
pytest.importorskip("torchvision")
QUANT = ROOT / "recipes" / "quant"
RESNET50_PARAMETERS = 25_557_032  # torchvision resnet50: its fp32 engine is about these x 4 bytes (102.6 MB)


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "cache")
    yield s
    s.close()


def one_engine(result) -> dict:
    assert result.status == "built", result.error
    (segment,) = result.segments
    assert segment["kind"] == "tensorrt" and not segment["fallbacks"]
    return segment


def test_resnet50_int8_one_small_engine_verified_then_rebuilt_from_cached_scales(tmp_path, store):
    recipe = tmp_path / "resnet50_int8.toml"
    shutil.copy(QUANT / "resnet50_int8.toml", recipe)
    made = make_recipe(load_recipe(recipe), store, out_root=str(tmp_path / "out"))
    assert one_engine(made)["engine_bytes"] <= 0.35 * RESNET50_PARAMETERS * 4
    assert "calibrate" in made.timings and made.precision == "int8"

    report = verify_recipe(load_recipe(recipe), store, made)
    assert report["ok"], report
    for check in report["checks"]:
        (output,) = check["outputs"]
        assert output["max_rel"] < 1e-2
        assert 0 < output["vs_float"]["max_rel"] < 0.1 and output["vs_float"]["cosine"] > 0.99

    recipe.write_text(recipe.read_text() + "\n[settings]\noptimization_level = 1\n")
    again = make_recipe(load_recipe(recipe), store, out_root=str(tmp_path / "out"))
    assert one_engine(again)["cache"] == "miss" and "calibrate" not in again.timings


def test_resnet50_fp8_for_compute_capability_8_9_builds_one_engine(tmp_path, store):
    made = make_recipe(load_recipe(QUANT / "resnet50_fp8.toml"), store, out_root=str(tmp_path))
    assert one_engine(made)["engine_bytes"] <= 0.35 * RESNET50_PARAMETERS * 4
    assert made.precision == "fp8"


def test_bert_encoder_int8_with_dynamic_batch_and_sequence_verifies_at_min_opt_max(tmp_path, store):
    recipe = load_recipe(QUANT / "bert_encoder_int8.toml")
    made = make_recipe(recipe, store, out_root=str(tmp_path))
    one_engine(made)
    report = verify_recipe(recipe, store, made)
    assert report["ok"], report
    assert [c["shape"] for c in report["checks"]][:3] == ["min", "opt", "max"]
    assert all(o["max_rel"] < 1e-2 and "vs_float" in o for c in report["checks"] for o in c["outputs"])
