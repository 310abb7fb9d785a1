"""Reports a person reads (make's table says why and where) and looks at (--profile, --graph)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from safetensors.torch import save_file

from tests.conftest import CONVNET, MIXED, tiny_recipe, write_recipe
from trtbuild.cli import output

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setattr(output.out, "width", 400)  # one table row per recipe, whatever the path lengths


def row(stdout: str, name: str) -> list[str]:
    [line] = [line for line in stdout.splitlines() if line.startswith(f"│ {name} ")]
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_the_table_says_why_each_recipe_was_built_and_where_it_went(recipe_dir, tmp_path, cli, wide):
    path = write_recipe(recipe_dir, "tiny", CONVNET)
    args = ("make", str(path), "--cache-dir", str(tmp_path / "cache"), "--out-dir", str(tmp_path / "out"))
    first = cli(*args)
    assert first.code == 0, first.stderr
    assert row(first.stdout, "tiny")[-2:] == [str(tmp_path / "out" / "tiny"), "no previous build"]
    write_recipe(recipe_dir, "tiny", CONVNET.replace("min_block_size = 1", "min_block_size = 2"))
    assert row(cli(*args).stdout, "tiny")[-1] == "settings.min_block_size: 1 -> 2"
    assert row(cli(*args).stdout, "tiny")[-1] == "up to date"


def test_the_table_names_a_changed_tensor_and_explain_does_with_the_cache_dir(recipe_dir, tmp_path, cli, wide):
    from tests.fixtures.tiny_models import ConvNet

    state = ConvNet().state_dict()
    save_file(state, str(recipe_dir / "w.safetensors"))
    path = write_recipe(recipe_dir, "w", tiny_recipe(model='weights = "w.safetensors"\n', settings="min_block_size = 1\n"))
    cache, out = ("--cache-dir", str(tmp_path / "cache")), ("--out-dir", str(tmp_path / "out"))
    assert cli("make", str(path), *cache, *out).code == 0
    save_file(dict(state, **{"fc.bias": state["fc.bias"] + 1}), str(recipe_dir / "w.safetensors"))
    explained = cli("explain", str(path), *cache, *out, "--json")
    assert explained.code == 0, explained.stderr
    report = explained.json()
    assert report["changes"] == ["weights: 1 tensor changed (fc.bias)"] and report["cached"] is False
    made = cli("make", str(path), *cache, *out)
    assert row(made.stdout, "w")[-1] == "weights: 1 tensor changed (fc.bias)"
    # the output dir gone, explain still finds the last build through the cache's record of it
    (tmp_path / "out" / "w" / "manifest.json").unlink()
    again = cli("explain", str(path), *cache, *out, "--json").json()
    assert again["changes"] == [] and again["cached"] is True and again["last_key"] == again["key"]


def test_profile_of_a_two_recipe_build_is_a_chrome_trace(recipe_dir, tmp_path, cli):
    a = write_recipe(recipe_dir, "a", CONVNET)
    b = write_recipe(recipe_dir, "b", MIXED)
    profile = tmp_path / "build.trace.json"
    made = cli("make", str(a), str(b), "--cache-dir", str(tmp_path / "cache"), "--out-dir", str(tmp_path / "out"),
               "--profile", str(profile))
    assert made.code == 0, made.stderr
    events = json.loads(profile.read_text())["traceEvents"]
    tracks = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert sorted(tracks.values()) == ["a", "b"]
    for tid, name in tracks.items():
        slices = [e for e in events if e["ph"] == "X" and e["tid"] == tid]
        assert all(isinstance(e["ts"], (int, float)) and e["dur"] >= 0 and e["pid"] == slices[0]["pid"] for e in slices)
        stages = [e["name"] for e in slices if e["cat"] == "stage"]
        assert {"load", "import", "export", "lower", "partition", "convert", "build", "write"} <= set(stages), stages
        [whole] = [e for e in slices if e["cat"] == "recipe"]
        assert whole["name"] == name and whole["args"]["status"] == "built"
        phases = [e for e in slices if e["cat"] == "tensorrt"]
        assert "Building engine" in {e["name"] for e in phases}
        builds = [e for e in slices if e["name"] == "build"]
        assert all(any(inside(p, b) for b in builds) for p in phases)
        assert properly_nested(slices)


def inside(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    return outer["ts"] - slack <= inner["ts"] and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"] + slack


def properly_nested(slices: list[dict]) -> bool:
    """Complete events on one track must nest like brackets (how trace viewers stack them)."""
    open_: list[dict] = []
    for e in sorted(slices, key=lambda e: (e["ts"], -e["dur"])):
        while open_ and e["ts"] >= open_[-1]["ts"] + open_[-1]["dur"] - 1.0:
            open_.pop()
        if open_ and not inside(e, open_[-1]):
            return False
        open_.append(e)
    return True


@pytest.mark.parametrize("suffix", [".svg", ".html"])
def test_the_partition_drawing_colours_segments_and_marks_fallbacks(recipe_dir, tmp_path, cli, suffix):
    path = write_recipe(recipe_dir, "mixed", MIXED)
    drawing = tmp_path / f"mixed{suffix}"
    made = cli("make", str(path), "--dry-run", "--graph", str(drawing))
    assert made.code == 0, made.stderr
    root = ET.parse(drawing).getroot()
    svg = root if suffix == ".svg" else root.find(f".//{SVG}svg")
    nodes = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]
    fill = {}
    for g in nodes:
        fill.setdefault(g.get("data-segment"), set()).add(g.find(f"{SVG}rect").get("fill"))
    assert set(fill) == {"trt_0", "torch_0", "trt_1", ""}  # "" for the graph's input and output
    assert all(len(colours) == 1 for colours in fill.values())
    assert len({c for colours in fill.values() for c in colours}) == 4
    [fallback] = [g for g in nodes if g.get("data-fallback")]
    assert (fallback.get("data-name"), fallback.get("data-segment"), fallback.get("data-fallback")) == \
        ("erfinv", "torch_0", "no converter")
    legend = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "fallback"]
    assert len(legend) == 1 and legend[0].startswith("1. erfinv (aten.erfinv.default): no converter at ")


def test_graph_needs_dry_run_and_a_known_suffix(recipe_dir, tmp_path, cli):
    path = write_recipe(recipe_dir, "mixed", MIXED)
    assert cli("make", str(path), "--graph", str(tmp_path / "g.svg")).code == 2
    assert cli("make", str(path), "--dry-run", "--graph", str(tmp_path / "g.png")).code == 2
