"""The HTTP team cache against a real nginx (WebDAV PUT), signed with a shared HMAC secret."""

from __future__ import annotations

import hashlib

import pytest

from trtbuild.cache.layered import LayeredStore
from trtbuild.cache.local import LocalStore
from trtbuild.cache.remote import HttpRemote, RemoteError, auth_headers

from .conftest import Scenarios


@pytest.fixture
def harness(http_harness):
    return http_harness


@pytest.fixture
def filled(http_filled):
    return http_filled


@pytest.fixture
def scenarios(harness, filled, tmp_path):
    return Scenarios(harness, filled, tmp_path)


# -- must-show scenarios ----------------------------------------------------------------------

def test_ci_fills_the_remote_and_a_second_machine_builds_nothing(scenarios, harness, filled):
    assert {f"recipe/{filled['r1']['key']}", f"recipe/{filled['r2']['key']}"} <= harness.names("filled")
    scenarios.second_machine_builds_nothing()


def test_tampered_blob_and_forged_entries_are_rejected_and_rebuilt(scenarios):
    scenarios.tampered_and_forged_are_rejected()


def test_nginx_stopped_mid_run_builds_locally_with_one_warning(scenarios):
    scenarios.stopped_mid_run()


# -- the layer and the backend in-process -----------------------------------------------------

@pytest.mark.parametrize("mode", ["refused", "500", "truncate", "garbage", "hang"])
def test_faults_give_one_warning_then_the_remote_is_off(mode, fault_server, tmp_path):
    """Each kind of fault, in-process: one warning, then local only (the mid-run CLI test ends in 'refused')."""
    server = fault_server(mode)
    warnings = []
    store = LayeredStore(LocalStore(tmp_path / "local"), HttpRemote(server.url, timeout=0.5, retries=1),
                         write=True, warn=warnings.append)
    key = "a" * 64
    assert store.get_meta("recipe", key) is None
    assert store.get_blob(key) is None
    digest = store.put_blob(b"engine")  # local write still works
    store.put_meta("segment", key, {"key": key, "blob": digest})
    assert store.get_meta("segment", key)["blob"] == digest
    store.close()
    assert len(warnings) == 1 and "local cache only" in warnings[0], warnings
    assert store.disabled and store.counters["errors"] == 1
    assert server.requests <= 2


def test_http_backend_round_trip(nginx):
    remote = HttpRemote(nginx.url("unit"), retries=0)
    name = "blob/" + hashlib.sha256(b"x").hexdigest()
    assert remote.get(name) is None and not remote.exists(name)
    remote.put(name, b"x")
    assert remote.get(name) == b"x" and remote.exists(name)
    with pytest.raises(ValueError):
        remote.get("blob/../../etc/passwd")


def test_http_client_errors_are_not_retried(fault_server):
    # 401/403: a configuration problem that retrying cannot fix, reported at once.
    server = fault_server("403")
    with pytest.raises(RemoteError, match="403"):
        HttpRemote(server.url, retries=3).get("blob/" + "0" * 64)
    assert server.requests == 1


def test_auth_headers_from_environment():
    assert auth_headers({"TRTBUILD_REMOTE_TOKEN": "t0k"}) == {"Authorization": "Bearer t0k"}
    basic = auth_headers({"TRTBUILD_REMOTE_USER": "ci", "TRTBUILD_REMOTE_PASSWORD": "pw"})
    assert basic == {"Authorization": "Basic Y2k6cHc="}
    assert auth_headers({}) == {}
    remote = HttpRemote("https://bob:secret@cache.example/team/", environ={})
    assert remote.url == "https://cache.example/team/"  # no secrets in warnings
    assert remote._headers == {"Authorization": "Basic Ym9iOnNlY3JldA=="}
