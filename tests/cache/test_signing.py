"""Entry signing (HMAC-SHA256 and ed25519) and how the layered store uses it, with an in-memory remote."""

from __future__ import annotations

import hashlib
import json

import pytest

from trtbuild.cache.digest import canonical_json
from trtbuild.cache.layered import LayeredStore
from trtbuild.cache.local import LocalStore
from trtbuild.cache.remote import RemoteBackend
from trtbuild.cache.signing import Ed25519Key, HmacKey, SignatureError, check_entry, load_key, sign_entry
from trtbuild.cache.stores import cache_key, open_store
from trtbuild.errors import InputError

SECRET = b"0123456789abcdef-team-secret"
KEY = "c" * 64
NAME = f"segment/{KEY}"


def entry(blob: str = "d" * 64) -> dict:
    return {"key": KEY, "blob": blob, "bytes": 3, "inputs": [], "outputs": []}


def ed25519_pair():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.generate()
    return Ed25519Key(private=private), Ed25519Key(public=private.public_key())


# -- the schemes ------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["hmac", "ed25519"])
def test_round_trip_and_tamper_detection(scheme):
    signer, verifier = (HmacKey(SECRET), HmacKey(SECRET)) if scheme == "hmac" else ed25519_pair()
    signed = sign_entry(signer, NAME, entry())
    check_entry(verifier, NAME, signed)  # no exception: valid
    assert json.loads(canonical_json(signed)) == signed  # survives the trip through JSON

    tampered = {**signed, "blob": "e" * 64}  # point the entry at another engine
    with pytest.raises(SignatureError, match="does not match"):
        check_entry(verifier, NAME, tampered)
    with pytest.raises(SignatureError, match="does not match"):  # a valid entry replayed under another key
        check_entry(verifier, f"segment/{'f' * 64}", signed)


@pytest.mark.parametrize("scheme", ["hmac", "ed25519"])
def test_unsigned_foreign_and_malformed_entries_are_rejected(scheme):
    signer, verifier = (HmacKey(SECRET), HmacKey(SECRET)) if scheme == "hmac" else ed25519_pair()
    with pytest.raises(SignatureError, match="unsigned"):
        check_entry(verifier, NAME, entry())
    other = HmacKey(b"another-team-secret-456") if scheme == "hmac" else ed25519_pair()[0]
    with pytest.raises(SignatureError, match="another key"):
        check_entry(verifier, NAME, sign_entry(other, NAME, entry()))
    with pytest.raises(SignatureError, match="malformed"):
        check_entry(verifier, NAME, {**entry(), "signature": "yes, trust me"})
    forged = sign_entry(signer, NAME, entry())
    forged["signature"] = {**forged["signature"], "value": forged["signature"]["value"][::-1]}
    with pytest.raises(SignatureError):
        check_entry(verifier, NAME, forged)


def test_a_public_key_verifies_but_cannot_sign():
    private, public = ed25519_pair()
    assert private.can_sign and not public.can_sign and private.key_id == public.key_id
    with pytest.raises(SignatureError, match="public only"):
        sign_entry(public, NAME, entry())


def test_keys_load_from_environment_and_files(tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    (tmp_path / "hmac.key").write_bytes(SECRET + b"\n")
    assert load_key(hmac_key_file=str(tmp_path / "hmac.key")).key_id == HmacKey(SECRET).key_id  # newline stripped
    private = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "ci.pem").write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
    (tmp_path / "team.pub").write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    signer = load_key(private_key_file=str(tmp_path / "ci.pem"))
    reader = load_key(public_key_file=str(tmp_path / "team.pub"))
    check_entry(reader, NAME, sign_entry(signer, NAME, entry()))
    assert load_key() is None

    # the environment wins over trtbuild.toml
    monkeypatch.setenv("TRTBUILD_CACHE_HMAC_KEY", SECRET.decode())
    assert cache_key({"public_key_file": "ignored"}, {"TRTBUILD_CACHE_HMAC_KEY": SECRET.decode()}).alg == "hmac-sha256"
    assert cache_key({"public_key_file": str(tmp_path / "team.pub")}, {}).alg == "ed25519"


def test_bad_key_configuration_is_bad_input(tmp_path):
    with pytest.raises(InputError, match="too short"):
        load_key(hmac_key="short")
    with pytest.raises(InputError, match="not both"):
        load_key(hmac_key=SECRET.decode(), public_key_file="x.pub")
    (tmp_path / "junk.pub").write_text("not a key")
    with pytest.raises(InputError, match="junk.pub"):
        load_key(public_key_file=str(tmp_path / "junk.pub"))
    with pytest.raises(InputError, match="missing.pem"):
        load_key(private_key_file=str(tmp_path / "missing.pem"))


def test_remote_write_with_only_a_public_key_is_refused(tmp_path):
    _, public = ed25519_pair()
    from cryptography.hazmat.primitives import serialization

    path = tmp_path / "team.pub"
    path.write_bytes(public._public.public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(InputError, match="private key"):
        open_store(tmp_path / "c", remote="http://127.0.0.1:9/x", remote_write=True,
                   environ={"TRTBUILD_CACHE_PUBLIC_KEY_FILE": str(path)})


# -- the layered store with signing -----------------------------------------------------------

class DictRemote(RemoteBackend):
    url = "memory://team"

    def __init__(self):
        self.data: dict[str, bytes] = {}
        self.gets: list[str] = []

    def get(self, name):
        self.gets.append(name)
        return self.data.get(name)

    def put(self, name, data):
        self.data[name] = bytes(data)

    def exists(self, name):
        return name in self.data


def layered(tmp_path, remote, key=None, write=False, warnings=None, name="local"):
    signer = key if key is not None and key.can_sign else None
    return LayeredStore(LocalStore(tmp_path / name), remote, write=write, signer=signer, verifier=key,
                        warn=(warnings if warnings is not None else []).append)


def test_writers_sign_and_readers_verify(tmp_path):
    remote = DictRemote()
    ci = layered(tmp_path, remote, HmacKey(SECRET), write=True, name="ci")
    digest = ci.put_blob(b"plan")
    ci.put_meta("segment", KEY, entry(digest))
    ci.put_meta("filehash", "sha256:" + "1" * 64, {"key": "sha256:" + "1" * 64})  # machine-local
    ci.close()
    assert set(remote.data) == {f"blob/{digest}", NAME}  # blobs and shared metadata only
    check_entry(HmacKey(SECRET), NAME, json.loads(remote.data[NAME]))

    warnings = []
    dev = layered(tmp_path, remote, HmacKey(SECRET), warnings=warnings, name="dev")
    assert dev.get_meta("segment", KEY)["blob"] == digest
    assert dev.local.get_blob(digest) == b"plan"  # kept locally with its entry
    assert dev.counters["hits"] == 2 and warnings == []
    dev.close()


def test_forged_entries_are_rejected_once_and_never_stored(tmp_path):
    remote = DictRemote()
    evil = b"attacker engine"
    remote.data[f"blob/{hashlib.sha256(evil).hexdigest()}"] = evil
    remote.data[NAME] = canonical_json(entry(hashlib.sha256(evil).hexdigest())).encode()  # unsigned
    warnings = []
    dev = layered(tmp_path, remote, HmacKey(SECRET), warnings=warnings)
    assert dev.get_meta("segment", KEY) is None
    assert dev.get_meta("segment", KEY) is None  # asked twice in one run: one warning, one download
    assert warnings == [f"remote cache entry {NAME} rejected: it is unsigned; building it locally"]
    assert remote.gets.count(NAME) == 1 and not any(n.startswith("blob/") for n in remote.gets)
    assert list(dev.local.names()) == [] and not dev.disabled
    dev.close()


def test_without_a_key_unsigned_entries_are_accepted_but_still_digest_checked(tmp_path):
    remote = DictRemote()
    good = b"engine"
    digest = hashlib.sha256(good).hexdigest()
    remote.data[f"blob/{digest}"] = b"engine, tampered"
    remote.data[NAME] = canonical_json(entry(digest)).encode()
    warnings = []
    dev = layered(tmp_path, remote, None, warnings=warnings)
    assert dev.get_meta("segment", KEY) is None  # its blob failed the SHA-256 check
    assert len(warnings) == 1 and f"blob/{digest} rejected" in warnings[0]
    assert list(dev.local.names()) == []  # neither the blob nor the entry pointing at it
    dev.close()


def test_an_entry_filed_under_another_key_is_rejected(tmp_path):
    remote = DictRemote()
    other = "9" * 64
    remote.data[f"segment/{other}"] = canonical_json(entry()).encode()  # names KEY, filed under `other`
    warnings = []
    dev = layered(tmp_path, remote, None, warnings=warnings)
    assert dev.get_meta("segment", other) is None
    assert "does not name its own key" in warnings[0]
    dev.close()
