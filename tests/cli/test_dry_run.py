"""`make --dry-run`: the partition and the reason for every op left to torch, without building."""

import json

from tests.conftest import MIXED, run_cli, write_recipe


# sort has a converter whose capability check refuses a stable sort
POOLED = '''
import torch


class Pooled(torch.nn.Module):
    def forward(self, x):
        y = torch.relu(x * 2 + 1)
        y = torch.sort(y, dim=-1, stable=True).values
        return torch.sigmoid(y - 1) * 3 + 2


def pooled():
    return Pooled()
'''


def dry_run(recipe_dir, name, *args):
    proc = run_cli("make", "--dry-run", "--json", *args, f"{name}.toml", cwd=recipe_dir)
    assert proc.returncode == 0, proc.stderr
    [plan] = json.loads(proc.stdout)["recipes"]
    return plan


def test_json_lists_segments_ops_and_fallback_reasons(recipe_dir):
    write_recipe(recipe_dir, "mixed", MIXED)
    plan = dry_run(recipe_dir, "mixed")
    assert plan["name"] == "mixed"
    assert [s["kind"] for s in plan["segments"]] == ["tensorrt", "torch", "tensorrt"]
    assert plan["segments"][0]["ops"][:2] == ["aten.linear.default", "aten.relu.default"]
    [fallback] = plan["segments"][1]["fallbacks"]
    assert fallback["op"] == "aten.erfinv.default" and fallback["reason"] == "no converter"
    assert fallback["source"].startswith(str(recipe_dir / "tiny_models.py") + ":")
    assert fallback["source"].endswith(" in forward")
    assert not (recipe_dir / "build").exists() and not any(recipe_dir.rglob("cache.db"))


def test_text_names_each_reason(recipe_dir):
    settings = '[settings]\ntorch_executed_ops = ["aten.tanh.default"]\nmin_block_size = 6\n'
    write_recipe(recipe_dir, "mixed", MIXED + settings)
    proc = run_cli("make", "--dry-run", "mixed.toml", cwd=recipe_dir)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "mixed: 1 TensorRT segment(s), 1 torch segment(s)" in text  # erfinv, the small block and tanh
    assert "(aten.erfinv.default): no converter at " in text and "tiny_models.py:" in text
    assert "(aten.tanh.default): excluded by torch_executed_ops" in text
    assert "fewer than min_block_size=6" in text  # the 5 ops between erfinv and tanh


def test_failed_capability_check_says_why(recipe_dir):
    (recipe_dir / "pooled.py").write_text(POOLED)
    write_recipe(recipe_dir, "pooled", MIXED.replace("tiny_models:with_unsupported", "pooled:pooled")
                 .replace("[2, 8]", "[1, 2, 4, 4]") + "[settings]\nmin_block_size = 1\n")
    plan = dry_run(recipe_dir, "pooled")
    fallbacks = [f for s in plan["segments"] for f in s["fallbacks"]]
    assert [f["op"] for f in fallbacks] == ["aten.sort.stable"]
    assert fallbacks[0]["reason"] == ("capability check failed: a stable sort is not supported: "
                                      "TensorRT's TopK does not document the order of equal values")
    assert "pooled.py:8 in forward" in fallbacks[0]["source"]


def test_bad_recipe_exits_2(recipe_dir):
    write_recipe(recipe_dir, "bad", MIXED.replace("with_unsupported", "nope"))
    proc = run_cli("make", "--dry-run", "bad.toml", cwd=recipe_dir)
    assert proc.returncode == 2 and "has no attribute 'nope'" in proc.stderr and "Traceback" not in proc.stderr
