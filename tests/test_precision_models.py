"""Issue-level check of enabled_precisions on real models (slow: builds 12 engines, verifies 8)."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, run_cli

ZOO = ROOT / "recipes" / "zoo"
MODELS = ["resnet50", "efficientnet_b0", "vit_b_16", "bert_encoder"]
# An engine also holds a fixed part (~1-3 MB here) that no precision shrinks, so the whole-engine
# ratio is checked as 0.5 +- 0.1, and the bytes saved must be half the float weights (+- 10%).
# The zoo's BERT is tiny (0.3M parameters); this check uses a BERT-sized vocabulary and width.
MODEL_KWARGS = {"bert_encoder": "kwargs = { hidden_size = 256, layers = 4, vocab_size = 30522 }\n"}


def variant(folder: Path, model: str, precision: str) -> Path:
    text = (ZOO / f"{model}.toml").read_text()
    text = re.sub(r'enabled_precisions = \[[^\]]*\]', f'enabled_precisions = ["{precision}"]', text)
    text = text.replace("[model]\n", "[model]\n" + MODEL_KWARGS.get(model, ""), 1)
    path = folder / f"{model}_{precision}.toml"
    path.write_text(text)
    return path


def make(folder: Path, recipe: Path, *args):
    proc = run_cli("make", "--json", "--out-dir", str(folder / "out"), str(recipe), *args, cwd=folder)
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)["recipes"][0]


def float_weight_bytes(folder: Path, model: str) -> int:
    import sys

    from trtbuild.export.model import build_model
    from trtbuild.recipe import load_recipe

    sys.path.insert(0, str(folder))
    try:
        module = build_model(load_recipe(folder / f"{model}_float32.toml"))
    finally:
        sys.path.remove(str(folder))
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors if t.dtype == torch.float32)


def engine_bytes(result) -> int:
    return sum(s["engine_bytes"] for s in result["segments"] if s["kind"] == "tensorrt")


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_low_precision_engines_are_half_size_and_within_tolerance(model, tmp_path):
    for source in ZOO.glob("*.py"):
        shutil.copy(source, tmp_path)
    full = make(tmp_path, variant(tmp_path, model, "float32"))
    assert full["status"] == "built", full["error"]
    weights = float_weight_bytes(tmp_path, model)
    for precision, rtol in (("float16", 1e-2), ("bfloat16", 3e-2)):
        result = make(tmp_path, variant(tmp_path, model, precision), "--verify")
        assert result["status"] == "built" and result["precision"] == precision, result["error"]
        ratio = engine_bytes(result) / engine_bytes(full)
        saved = engine_bytes(full) - engine_bytes(result)
        assert abs(saved - weights / 2) <= 0.1 * weights / 2, f"saved {saved} bytes; weights are {weights}"
        assert 0.4 <= ratio <= 0.6, f"{precision} engine is {ratio:.2f} of the fp32 engine"
        verify = result["verify"]
        assert verify["ok"] and verify["rtol"] == rtol
        worst = max(o["max_rel"] for c in verify["checks"] for o in c["outputs"])
        print(f"{model} {precision}: engine {engine_bytes(result)} / {engine_bytes(full)} bytes = {ratio:.3f}, "
              f"saved {saved / (weights / 2):.3f} of half the weights, max rel {worst:.2e}")
