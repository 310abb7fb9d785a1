"""The S3 team cache against moto's standalone S3 server, signed with an ed25519 key pair:
CI writes with the private key, developers read with only the public key."""

from __future__ import annotations

import hashlib

import pytest

from trtbuild.cache.layered import LayeredStore
from trtbuild.cache.local import LocalStore
from trtbuild.cache.remote import S3Remote

from .conftest import AWS, S3Harness, Scenarios, fill


@pytest.fixture(scope="module")
def harness(moto, ed25519_keys):
    return S3Harness(moto, {"TRTBUILD_CACHE_PRIVATE_KEY_FILE": ed25519_keys["private"]},
                     {"TRTBUILD_CACHE_PUBLIC_KEY_FILE": ed25519_keys["public"]})


@pytest.fixture(scope="module")
def filled(harness, tmp_path_factory):
    return fill(harness, tmp_path_factory.mktemp("s3-fill"))


@pytest.fixture
def scenarios(harness, filled, tmp_path):
    return Scenarios(harness, filled, tmp_path)


@pytest.fixture
def aws_env(monkeypatch):
    for name, value in AWS.items():
        monkeypatch.setenv(name, value)


# -- must-show scenarios ----------------------------------------------------------------------

def test_ci_fills_the_remote_and_a_second_machine_builds_nothing(scenarios, harness, filled):
    assert {f"recipe/{filled['r1']['key']}", f"recipe/{filled['r2']['key']}"} <= harness.names("filled")
    scenarios.second_machine_builds_nothing()


def test_tampered_blob_and_forged_entries_are_rejected_and_rebuilt(scenarios):
    scenarios.tampered_and_forged_are_rejected()


def test_s3_server_stopped_mid_run_builds_locally_with_one_warning(scenarios):
    scenarios.stopped_mid_run()


def test_s3_server_answering_500_builds_locally_with_one_warning(scenarios, harness, fault_server):
    server = fault_server("500")
    scenarios.down_before_run({**harness.env("filled"), "TRTBUILD_S3_ENDPOINT_URL": server.url})
    assert server.requests <= 2  # botocore's one retry, then the remote is off


# -- the layer and the backend in-process -----------------------------------------------------

@pytest.mark.parametrize("mode", ["refused", "500", "truncate", "garbage"])
def test_faults_give_one_warning_then_the_remote_is_off(mode, fault_server, tmp_path, aws_env):
    """Each kind of fault, in-process: one warning, then local only. (The CLI run above shows '500'.)"""
    server = fault_server(mode)
    warnings = []
    remote = S3Remote("s3://team-cache/faults", endpoint_url=server.url, timeout=1, retries=1)
    store = LayeredStore(LocalStore(tmp_path / "local"), remote, write=True, warn=warnings.append)
    key = "a" * 64
    assert store.get_meta("recipe", key) is None
    assert store.get_blob(key) is None
    digest = store.put_blob(b"engine")
    assert store.get_blob(digest) == b"engine"  # the local cache keeps working
    store.close()
    assert len(warnings) == 1 and "local cache only" in warnings[0], warnings
    assert store.disabled and server.requests <= 2


def test_s3_backend_round_trip(moto, aws_env):
    remote = S3Remote("s3://team-cache/unit", endpoint_url=moto.endpoint, retries=0)
    name = "blob/" + hashlib.sha256(b"x").hexdigest()
    assert remote.get(name) is None and not remote.exists(name)
    remote.put(name, b"x")
    assert remote.get(name) == b"x" and remote.exists(name)
    assert moto.client.get_object(Bucket="team-cache", Key=f"unit/{name}")["Body"].read() == b"x"
