"""The model zoo (recipes/zoo): every model converts into one TensorRT segment and matches eager.

Slow (a fresh make + verify per model, ~10 minutes on 2 cores): `pytest -m slow`. Each test also
checks the model's row in docs/coverage.md against the fresh run, so the docs cannot go stale:
segments and fallback ops exactly, max rel error and engine size approximately (they move with
the CPU's float rounding and the TensorRT version), build seconds not at all (machine-dependent).
"""

import math

import pytest

from tests.conftest import ROOT
from trtbuild.coverage import measure, read_table
from trtbuild.recipe import find_recipes, load_recipe

pytest.importorskip("torchvision")
pytest.importorskip("transformers")

ZOO = find_recipes([str(ROOT / "recipes" / "zoo")])
DOC = ROOT / "docs" / "coverage.md"


def test_the_docs_list_every_zoo_model():
    assert sorted(r["model"] for r in read_table(DOC)) == sorted(load_recipe(p).display_name for p in ZOO)


@pytest.mark.slow
@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_zoo_model_converts_whole_and_matches_the_docs(path):
    row = measure(load_recipe(path))
    assert row.error is None, row.error
    assert (row.trt_segments, row.torch_segments, row.fallback_ops) == (1, 0, [])
    assert row.verified and row.max_rel < 1e-4, row.max_rel
    [documented] = [r for r in read_table(DOC) if r["model"] == row.model]
    fresh = dict(zip(("model", "TensorRT segments", "torch segments", "torch-fallback ops"), row.cells()))
    assert {k: documented[k] for k in fresh} == fresh
    assert math.isclose(float(documented["max rel error"]), row.max_rel, rel_tol=0.5, abs_tol=1e-7)
    assert math.isclose(float(documented["engine MB"]), row.engine_bytes / 1e6, rel_tol=0.05, abs_tol=0.1)
