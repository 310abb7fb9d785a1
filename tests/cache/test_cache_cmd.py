"""`trtbuild cache ...`: stats, ls, verify, prune, clear, export/import, push/pull, and where the CLI
finds its configuration (trtbuild.toml [cache], environment)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import run_cli
from trtbuild.cache.digest import canonical_json
from trtbuild.cache.local import SHARED_KINDS, LocalStore
from trtbuild.cache.signing import HmacKey, check_entry
from trtbuild.cache.stores import open_store, read_cache_config, remote_settings
from trtbuild.errors import InputError, RecipeError

from .conftest import HMAC_ENV, HMAC_SECRET, write_tiny_recipes


def cache_cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    proc = run_cli("cache", *args, env=env, cwd=cwd)
    data = json.loads(proc.stdout) if "--json" in args and proc.stdout.strip().startswith("{") else None
    return proc, data


def fake_cache(folder: Path, sizes=(1000, 50_000)) -> dict:
    """A local cache holding blobs of the given sizes, one segment entry per blob and one recipe entry."""
    store = LocalStore(folder)
    digests = [store.put_blob(bytes([i + 1]) * n) for i, n in enumerate(sizes)]
    segs = [hashlib.sha256(d.encode()).hexdigest() for d in digests]
    for seg, digest in zip(segs, digests):
        store.put_meta("segment", seg, {"key": seg, "blob": digest})
    recipe = "e" * 64
    store.put_meta("recipe", recipe, {"key": recipe, "manifest": {"segments": []},
                                      "files": {f"engines/{d}.plan": d for d in digests}})
    store.close()
    return {"blobs": digests, "segments": segs, "recipe": recipe}


# -- inspecting and housekeeping (no server, no torch) ----------------------------------------

def test_stats_and_ls(tmp_path):
    fake_cache(tmp_path / "c")
    proc, data = cache_cli("stats", "--cache-dir", str(tmp_path / "c"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert data["kinds"]["blob"] == {"entries": 2, "bytes": 51_000}
    assert data["kinds"]["segment"]["entries"] == 2 and data["kinds"]["recipe"]["entries"] == 1
    proc, data = cache_cli("ls", "--cache-dir", str(tmp_path / "c"), "--json", "--kind", "blob")
    assert sorted(e["bytes"] for e in data["entries"]) == [1000, 50_000]
    assert all(e["kind"] == "blob" and e["name"].startswith("blob/") for e in data["entries"])


def test_verify_finds_corrupt_blobs_and_dangling_metadata(tmp_path):
    made = fake_cache(tmp_path / "c")
    proc, data = cache_cli("verify", "--cache-dir", str(tmp_path / "c"), "--json")
    assert proc.returncode == 0 and data["problems"] == [], proc.stderr
    store = LocalStore(tmp_path / "c")
    store._write(f"blob/{made['blobs'][0]}", b"bit rot")  # bytes no longer match the name
    store.put_meta("segment", "f" * 64, {"key": "f" * 64, "blob": "0" * 64})
    store.close()
    proc, data = cache_cli("verify", "--cache-dir", str(tmp_path / "c"), "--json")
    assert proc.returncode == 1
    problems = {p["name"]: p["problem"] for p in data["problems"]}
    assert problems[f"blob/{made['blobs'][0]}"] == "bytes do not match the digest"
    assert "missing blobs" in problems[f"segment/{'f' * 64}"]


def test_prune_by_size_then_clear(tmp_path):
    cache = str(tmp_path / "c")
    made = fake_cache(tmp_path / "c", sizes=(50_000, 1000))
    proc, data = cache_cli("prune", "--cache-dir", cache, "--older-than", "7d", "--json")
    assert proc.returncode == 0 and data["removed"] == 0  # everything is fresh
    proc, data = cache_cli("prune", "--cache-dir", cache, "--max-size", "20K", "--json")
    assert proc.returncode == 0, proc.stderr
    store = LocalStore(tmp_path / "c")
    names = set(store.names())
    store.close()
    # the oldest (and big) blob went first, then the metadata that pointed at it
    assert names == {f"blob/{made['blobs'][1]}", f"segment/{made['segments'][1]}"}
    assert data["bytes_left"] <= 20 * 1024 and data["removed"] == 3
    proc, data = cache_cli("clear", "--cache-dir", cache, "--json")
    assert proc.returncode == 0 and data["removed"] == len(names)


@pytest.mark.parametrize("args", [["prune"], ["prune", "--max-size", "lots"], ["prune", "--older-than", "7 fortnights"],
                                  ["import", "/nonexistent.tar"], ["push"], ["pull", "x.toml"]])
def test_bad_input_exits_2(args, tmp_path):
    (tmp_path / "x.toml").write_text('[model]\nfactory = "m:f"\n[[inputs]]\nname = "x"\nshape = [1]\n')
    proc, _ = cache_cli(*args, "--cache-dir", str(tmp_path / "c"), cwd=tmp_path, env={"TRTBUILD_REMOTE_CACHE": ""})
    assert proc.returncode == 2, (proc.stdout, proc.stderr)


# -- moving caches ----------------------------------------------------------------------------

def test_export_import_verifies_digests_and_signatures(http_filled, tmp_path):
    """CI's signed cache goes through a tar file; a doctored archive loses exactly its bad entries."""
    tar_path = tmp_path / "team.tar"
    proc, data = cache_cli("export", str(tar_path), "--cache-dir", str(http_filled["cache"]), "--json")
    assert proc.returncode == 0, proc.stderr
    proc, data = cache_cli("import", str(tar_path), "--cache-dir", str(tmp_path / "a"), "--json", env=HMAC_ENV)
    assert proc.returncode == 0 and data["rejected"] == [] and data["imported"] == data_entries(tar_path)

    doctored = tmp_path / "doctored.tar"
    blob = f"blob/{http_filled['r1']['blobs'][0]}"
    forged = f"recipe/{http_filled['r2']['key']}"
    with tarfile.open(tar_path) as src, tarfile.open(doctored, "w") as dst:
        for member in src:
            data_bytes = src.extractfile(member).read()
            if member.name == blob:
                data_bytes = bytes([data_bytes[0] ^ 1]) + data_bytes[1:]
            if member.name == forged:
                doc = json.loads(data_bytes)
                doc.pop("signature")
                data_bytes = canonical_json(doc).encode()
            add(dst, member.name, data_bytes)
        add(dst, "../escape", b"path traversal attempt")
    proc, data = cache_cli("import", str(doctored), "--cache-dir", str(tmp_path / "b"), "--json", env=HMAC_ENV)
    assert proc.returncode == 1
    rejected = {r["name"]: r["problem"] for r in data["rejected"]}
    assert rejected[blob] == "its bytes do not match its SHA-256"
    assert rejected[forged] == "it is unsigned"
    assert rejected["../escape"] == "not a cache entry"
    assert f"recipe/{http_filled['r1']['key']}" in rejected  # its engine blob was the tampered one
    assert f"warning: cache entry {forged} in {doctored} rejected: it is unsigned" in proc.stderr
    assert not (tmp_path / "escape").exists()
    store = LocalStore(tmp_path / "b")
    names = set(store.names())
    store.close()
    assert blob not in names and forged not in names
    assert f"blob/{http_filled['r2']['blobs'][0]}" in names  # the good entries came in


def data_entries(tar_path: Path) -> int:
    with tarfile.open(tar_path) as tar:
        return len(tar.getmembers())


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_push_needs_write_mode_and_uploads_signed_entries(http_filled, http_harness):
    cache = str(http_filled["cache"])
    env = {**http_harness.env("pushed"), **HMAC_ENV}
    proc, _ = cache_cli("push", "--cache-dir", cache, env=env)
    assert proc.returncode == 2 and "--remote-write" in proc.stderr
    proc, data = cache_cli("push", "--cache-dir", cache, "--remote-write", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    store = LocalStore(http_filled["cache"])
    shared = {n for n in store.names() if n.split("/")[0] in SHARED_KINDS}
    store.close()
    assert http_harness.names("pushed") == shared and data["uploaded"] == len(shared)
    for name in shared - {n for n in shared if n.startswith("blob/")}:
        check_entry(HmacKey(HMAC_SECRET.encode()), name, json.loads(http_harness.read("pushed", name)))


def test_pull_prefetches_with_trtbuild_toml_config(http_filled, http_harness, tmp_path):
    """`cache pull` computes keys like make does, and reads its remote and key from trtbuild.toml."""
    write_tiny_recipes(tmp_path)
    (tmp_path / "r3.toml").write_text((tmp_path / "r2.toml").read_text().replace("channels = 5", "channels = 6"))
    (tmp_path / "team.key").write_text(HMAC_SECRET + "\n")
    (tmp_path / "trtbuild.toml").write_text(f'[cache]\nremote = "{http_harness.url("filled")}"\n'
                                            'hmac_key_file = "team.key"\nretries = 1\n')
    cache = tmp_path / "cache"
    proc, data = cache_cli("pull", "r1.toml", "r3.toml", "--cache-dir", str(cache), "--json", cwd=tmp_path,
                           env={"TRTBUILD_REMOTE_CACHE": "", "NO_PROXY": "127.0.0.1"})
    assert proc.returncode == 1, proc.stderr  # r3 was never built by CI
    rows = {r["name"]: r for r in data["recipes"]}
    assert rows["r1"]["status"] == "pulled" and rows["r1"]["key"] == http_filled["r1"]["key"]
    assert rows["r3"]["status"] == "missing" and data["rejected"] == 0 and data["errors"] == 0
    store = LocalStore(cache)
    try:
        entry = store.get_meta("recipe", http_filled["r1"]["key"])
        assert entry is not None and all(store.get_blob(d) is not None for d in entry["files"].values())
        segments = [s["key"] for s in entry["manifest"]["segments"] if s.get("kind") == "tensorrt"]
        assert segments and all(store.get_meta("segment", k) is not None for k in segments)
    finally:
        store.close()


# -- configuration ----------------------------------------------------------------------------

def test_read_cache_config_finds_the_nearest_table_up_to_the_project_root(tmp_path):
    project = tmp_path / "project"
    (project / "models" / "vision").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (project / "trtbuild.toml").write_text('[cache]\nremote = "s3://team/engines"\npublic_key_file = "keys/team.pub"\n')
    (project / "models" / "trtbuild.toml").write_text("[settings]\n")  # no [cache]: keep looking up
    config = read_cache_config(project / "models" / "vision")
    assert config["remote"] == "s3://team/engines"
    assert config["public_key_file"] == str(project / "keys" / "team.pub")
    (tmp_path / "trtbuild.toml").write_text('[cache]\nremote = "http://outside"\n')  # above the root: ignored
    (project / "trtbuild.toml").write_text("[settings]\n")
    assert read_cache_config(project / "models" / "vision") == {}
    (project / "trtbuild.toml").write_text('[cache]\nremote_url = "x"\n')
    with pytest.raises(RecipeError, match="cache.remote_url.*did you mean 'remote'"):
        read_cache_config(project)


def test_command_line_then_environment_then_file():
    config = {"remote": "http://file", "remote_write": True, "timeout": 7, "retries": 5}
    assert remote_settings(None, False, config, {})["url"] == "http://file"
    assert remote_settings(None, False, config, {"TRTBUILD_REMOTE_CACHE": "http://env"})["url"] == "http://env"
    assert remote_settings("http://cli", False, config, {"TRTBUILD_REMOTE_CACHE": "http://env"})["url"] == "http://cli"
    assert remote_settings(None, False, config, {})["write"] is True
    assert remote_settings(None, False, config, {"TRTBUILD_REMOTE_WRITE": "0"})["write"] is False
    assert remote_settings(None, True, {}, {"TRTBUILD_REMOTE_WRITE": "0"})["write"] is True
    assert remote_settings(None, False, config, {"TRTBUILD_REMOTE_TIMEOUT": "1.5"})["timeout"] == 1.5
    assert remote_settings(None, False, {}, {})["write"] is False  # developers only read by default
    with pytest.raises(InputError):
        remote_settings(None, False, {}, {"TRTBUILD_REMOTE_RETRIES": "many"})


def test_open_store_layers_only_when_a_remote_is_configured(tmp_path):
    plain = open_store(tmp_path / "c", environ={})
    assert type(plain).__name__ == "LocalStore"
    plain.close()
    layered = open_store(tmp_path / "c", environ={"TRTBUILD_REMOTE_CACHE": "http://127.0.0.1:9/x"})
    assert type(layered).__name__ == "LayeredStore" and not layered.write
    layered.close()
    with pytest.raises(InputError, match="http://, https:// or s3://"):
        open_store(tmp_path / "c", remote="ftp://old/cache", environ={})
