"""The coverage table: measuring a recipe, rewriting the docs between the markers, the CLI."""

import json

from tests.conftest import MIXED, run_cli, tiny_recipe, write_recipe
from trtbuild.coverage import BEGIN, END, CoverageRow, measure, read_table, write_table
from trtbuild.recipe import load_recipe

CONVNET = tiny_recipe(shape=(1, 3, 8, 8))




def test_measure_builds_and_verifies_in_a_throwaway_cache(recipe_dir, isolated_cache):
    row = measure(load_recipe(write_recipe(recipe_dir, "tiny", CONVNET)))
    assert (row.model, row.trt_segments, row.torch_segments, row.fallback_ops) == ("tiny", 1, 0, [])
    assert row.verified and row.max_rel < 1e-4 and row.engine_bytes > 0 and row.build_seconds > 0
    assert row.error is None
    assert not any(isolated_cache.iterdir()) and not (recipe_dir / "build").exists()


def test_rows_render_fallbacks_and_failures():
    ok = CoverageRow("mixed", 2, 1, ["aten.erfinv.default"], 3.2e-7, True, 1.234, 2_500_000)
    assert ok.cells() == ("mixed", "2", "1", "`aten.erfinv.default`", "3.2e-07", "1.2", "2.5")
    wrong = CoverageRow("off", 1, 0, [], 0.5, False, 1.0, 1000)
    assert wrong.cells()[4] == "5.0e-01 (fails)"
    failed = CoverageRow("broken", error="model.factory raised\nValueError: no")
    assert failed.cells() == ("broken", "-", "-", "-", "-", "-", "failed: model.factory raised")


def test_write_table_replaces_only_between_markers(tmp_path):
    doc = tmp_path / "coverage.md"
    write_table(doc, [CoverageRow("a", 1, 0, [], 1e-6, True, 2.0, 10**6)])
    assert doc.read_text().startswith("# Converter coverage") and BEGIN in doc.read_text()
    doc.write_text(doc.read_text().replace(END, END + "\n\nNotes written by hand.\n"))
    write_table(doc, [CoverageRow("b", 1, 1, ["aten.erfinv.default"], 2e-6, True, 3.0, 2 * 10**6)])
    text = doc.read_text()
    assert "Notes written by hand." in text and "| a |" not in text and text.count(BEGIN) == 1
    [row] = read_table(doc)
    assert row == {"model": "b", "TensorRT segments": "1", "torch segments": "1",
                   "torch-fallback ops": "`aten.erfinv.default`", "max rel error": "2.0e-06", "build s": "3.0",
                   "engine MB": "2.0"}


def test_write_table_appends_to_a_doc_without_markers(tmp_path):
    doc = tmp_path / "models.md"
    doc.write_text("# Models\n")
    write_table(doc, [CoverageRow("a", 1, 0, [], 1e-6, True, 2.0, 10**6)])
    assert doc.read_text().startswith("# Models\n\n" + BEGIN) and [r["model"] for r in read_table(doc)] == ["a"]


def test_cli_regenerates_the_doc(recipe_dir):
    write_recipe(recipe_dir, "tiny", CONVNET)
    write_recipe(recipe_dir, "mixed", MIXED)
    proc = run_cli("coverage", "--json", "--doc", "docs/coverage.md", "mixed.toml", "tiny.toml", cwd=recipe_dir)
    assert proc.returncode == 0, proc.stderr
    reports = {r["model"]: r for r in json.loads(proc.stdout)["recipes"]}
    assert reports["mixed"]["fallback_ops"] == ["aten.erfinv.default"] and reports["mixed"]["torch_segments"] == 1
    rows = read_table(recipe_dir / "docs" / "coverage.md")
    assert [(r["model"], r["TensorRT segments"], r["torch segments"], r["torch-fallback ops"]) for r in rows] == [
        ("mixed", "2", "1", "`aten.erfinv.default`"), ("tiny", "1", "0", "none")]
