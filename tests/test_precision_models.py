"""Issue-level check of enabled_precisions on real models (slow: builds 12 engines, verifies 8)."""

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

ZOO = ROOT / "recipes" / "zoo"
MODELS = ["resnet50", "efficientnet_b0", "vit_b_16", "bert_encoder"]


def variant(folder: Path, model: str, precision: str) -> Path:
    text = (ZOO / f"{model}.toml").read_text()
    text = re.sub(r'enabled_precisions = \[[^\]]*\]', f'enabled_precisions = ["{precision}"]', text)
    path = folder / f"{model}_{precision}.toml"
    path.write_text(text)
    return path


def make(folder: Path, recipe: Path, *args):
    proc = run_cli("make", "--json", "--out-dir", str(folder / "out"), str(recipe), *args, cwd=folder)
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)["recipes"][0]


def engine_bytes(result) -> int:
    return sum(s["engine_bytes"] for s in result["segments"] if s["kind"] == "tensorrt")


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_low_precision_engines_are_half_size_and_within_tolerance(model, tmp_path):
    for source in ZOO.glob("*.py"):
        shutil.copy(source, tmp_path)
    full = make(tmp_path, variant(tmp_path, model, "float32"))
    assert full["status"] == "built", full["error"]
    for precision, rtol in (("float16", 1e-2), ("bfloat16", 3e-2)):
        result = make(tmp_path, variant(tmp_path, model, precision), "--verify")
        assert result["status"] == "built" and result["precision"] == precision, result["error"]
        ratio = engine_bytes(result) / engine_bytes(full)
        assert 0.45 <= ratio <= 0.55, f"{precision} engine is {ratio:.2f} of the fp32 engine"
        verify = result["verify"]
        assert verify["ok"] and verify["rtol"] == rtol
        worst = max(o["max_rel"] for c in verify["checks"] for o in c["outputs"])
        print(f"{model} {precision}: engine ratio {ratio:.3f}, max rel {worst:.2e}")
