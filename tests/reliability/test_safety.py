"""Recipes are data; the cache and the artifacts are never unpickled; an engine must match its key.

Every payload here would create a marker directory if anything unpickled it.
"""

from __future__ import annotations

import os
import pickle
import sqlite3

import pytest
import torch

import trtbuild
from trtbuild.assembly.artifacts import ArtifactError
from trtbuild.cache.local import LocalStore

from .conftest import convnet_recipe, entry_file, make_here


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def pickled_row(cache_dir, name: str, payload: bytes) -> None:
    """Rewrite an entry as diskcache's pickle mode (4) would store it: what a tampered cache looks like."""
    path = entry_file(cache_dir, name)
    with sqlite3.connect(cache_dir / "cache.db") as db:
        if path is None:
            db.execute("UPDATE Cache SET mode = 4, value = ? WHERE key = ?", (payload, name))
        else:
            path.write_bytes(payload)
            db.execute("UPDATE Cache SET mode = 4 WHERE key = ?", (name,))


@pytest.mark.parametrize("kind", ["recipe", "blob"])
def test_a_pickled_cache_entry_is_refused_not_run(built, tmp_path, kind):
    marker, name = tmp_path / "pwned", built.entry(kind)
    pickled_row(built.cache, name, pickle.dumps(Payload(marker)))
    warnings = []
    again = make_here(built.recipes["tiny"], built.cache, built.out, warnings)
    assert again.status == "built", again.error
    assert f"cache entry {name} is corrupt: it is stored in a form trtbuild never writes" in warnings[0]
    assert not marker.exists()


def test_an_artifact_replaced_by_a_pickle_is_refused_not_run(built, tmp_path):
    marker = tmp_path / "pwned"
    [plan] = (built.out / "tiny" / "engines").glob("*.plan")
    plan.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ArtifactError, match=f"{plan} is corrupt: its SHA-256 does not match the manifest"):
        trtbuild.load(built.out / "tiny")
    assert not marker.exists()


def test_pickled_weights_are_refused_not_run(recipe_dir, tmp_path, cli):
    marker = tmp_path / "pwned"
    torch.save({"conv.weight": Payload(marker)}, recipe_dir / "evil.pt")
    recipe = convnet_recipe(recipe_dir, "evil")
    recipe.write_text(recipe.read_text().replace("[[inputs]]", 'weights = "evil.pt"\n\n[[inputs]]'))
    outcome = cli("make", str(recipe), "--out-dir", str(tmp_path / "out"))
    assert outcome.code == 2 and "Traceback" not in outcome.stderr
    assert f"error: {recipe}: model.weights: cannot read evil.pt: UnpicklingError" in outcome.stderr
    assert not marker.exists()


# -- an engine must match its key -------------------------------------------------------------

def test_recipe_metadata_naming_another_key_is_refused(built):
    key1, key2 = built.results["tiny"].key, built.results["r2"].key
    store = LocalStore(built.cache)
    store.put_meta("recipe", key2, store.get_meta("recipe", key1))  # tiny's build, filed under r2's key
    store.close()
    warnings = []
    again = make_here(built.recipes["r2"], built.cache, built.out, warnings)
    assert again.status == "built" and again.key == key2
    assert warnings == [f"cache entry recipe/{key2} is corrupt: broken metadata: it does not name this key; "
                        "discarding it and rebuilding"]
    assert trtbuild.load(built.out / "r2").trtbuild_manifest["key"] == key2


def test_segment_metadata_naming_another_key_is_refused(built):
    seg1, seg2 = (built.entry("segment", name).partition("/")[2] for name in ("tiny", "r2"))
    store = LocalStore(built.cache)
    store.put_meta("segment", seg2, store.get_meta("segment", seg1))  # tiny's engine, filed under r2's segment key
    store.delete(built.entry("recipe", "r2"))  # so that make looks the segment up
    store.close()
    warnings = []
    again = make_here(built.recipes["r2"], built.cache, built.out, warnings)
    assert again.status == "built" and [s["cache"] for s in again.segments] == ["miss"]
    assert warnings == [f"cache entry segment/{seg2} is corrupt: broken metadata: it does not name this key; "
                        "discarding it and rebuilding"]
    trtbuild.load(built.out / "r2")
    assert built.entry("segment", "r2") == f"segment/{seg2}"  # the output names r2's own engine
