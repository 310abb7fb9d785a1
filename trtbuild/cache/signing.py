"""Signatures on cache metadata entries, so a writable team cache cannot be poisoned.

A TensorRT engine is executable content. Metadata entries (`segment/<key>`, `recipe/<key>`) name the
SHA-256 of every blob they use, so signing an entry covers its blobs transitively; blobs themselves
are verified by digest. The signed payload is the canonical JSON of {"name": <entry name>, "entry":
<entry without its signature>}: binding the name stops a signed entry being replayed under another key.

Two schemes:
  hmac-sha256  one shared secret (TRTBUILD_CACHE_HMAC_KEY or a key file); every holder can sign.
  ed25519      CI holds the private key and signs; developers hold only the public key and verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

from ..errors import InputError
from .digest import canonical_json

SIGNATURE_FIELD = "signature"


class SignatureError(Exception):
    """An entry is unsigned, signed by another key, or its signature does not match."""


def payload(name: str, doc: dict[str, Any]) -> bytes:
    entry = {k: v for k, v in doc.items() if k != SIGNATURE_FIELD}
    return canonical_json({"name": name, "entry": entry}).encode()


class HmacKey:
    alg = "hmac-sha256"

    def __init__(self, secret: bytes):
        if len(secret) < 16:
            raise InputError("the cache HMAC key is too short: use at least 16 bytes (32 random bytes is best)")
        self._secret = secret
        # An id lets a reader tell "another key" from "tampered"; it is a hash, not the secret.
        self.key_id = hashlib.sha256(b"trtbuild-hmac-key-id\0" + secret).hexdigest()[:16]
        self.can_sign = True

    def sign(self, data: bytes) -> str:
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()

    def verify(self, data: bytes, value: str) -> bool:
        return hmac.compare_digest(self.sign(data), str(value))


class Ed25519Key:
    alg = "ed25519"

    def __init__(self, private: Any = None, public: Any = None):
        from cryptography.hazmat.primitives import serialization

        self._private = private
        self._public = public if public is not None else private.public_key()
        raw = self._public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]
        self.can_sign = private is not None

    def sign(self, data: bytes) -> str:
        if self._private is None:
            raise SignatureError("this ed25519 key is public only: it can verify entries but not sign them")
        return base64.b64encode(self._private.sign(data)).decode()

    def verify(self, data: bytes, value: str) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._public.verify(base64.b64decode(str(value), validate=True), data)
            return True
        except (InvalidSignature, ValueError):
            return False


def sign_entry(key: Any, name: str, doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of `doc` carrying a signature (any previous one replaced)."""
    value = key.sign(payload(name, doc))
    return {**doc, SIGNATURE_FIELD: {"alg": key.alg, "key_id": key.key_id, "value": value}}


def check_entry(key: Any, name: str, doc: dict[str, Any]) -> None:
    """Raise SignatureError saying why `doc` is not a valid entry `name` signed with `key`."""
    sig = doc.get(SIGNATURE_FIELD)
    if sig is None:
        raise SignatureError("it is unsigned")
    if not isinstance(sig, dict) or not isinstance(sig.get("value"), str):
        raise SignatureError("its signature is malformed")
    if sig.get("alg") != key.alg or sig.get("key_id") != key.key_id:
        raise SignatureError(f"it is signed with another key ({sig.get('alg')}, id {sig.get('key_id')})")
    if not key.verify(payload(name, doc), sig["value"]):
        raise SignatureError("its signature does not match its content (tampered?)")


# -- loading keys -----------------------------------------------------------------------------

def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the cache {what} {path}: {exc.strerror or exc}") from None


def _load_pem(path: str | Path, private: bool) -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise InputError("ed25519 cache keys need the 'cryptography' package: pip install cryptography") from None
    data = _read(path, "private key" if private else "public key")
    try:
        key = (serialization.load_pem_private_key(data, password=None) if private
               else serialization.load_pem_public_key(data))
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a PEM ed25519 {'private' if private else 'public'} key ({exc})") from None
    wanted = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    if not isinstance(key, wanted):
        raise InputError(f"{path}: not an ed25519 key (got {type(key).__name__})")
    return key


def load_key(*, hmac_key: str | None = None, hmac_key_file: str | None = None,
             private_key_file: str | None = None, public_key_file: str | None = None) -> Any:
    """The one configured key (HmacKey or Ed25519Key), or None when signing is off."""
    chosen = [n for n, v in (("HMAC key", hmac_key or hmac_key_file),
                             ("ed25519 key", private_key_file or public_key_file)) if v]
    if len(chosen) > 1:
        raise InputError("configure either an HMAC key or an ed25519 key pair for the cache, not both")
    if hmac_key:
        return HmacKey(hmac_key.encode())
    if hmac_key_file:
        return HmacKey(_read(hmac_key_file, "HMAC key file").strip())
    if private_key_file:
        return Ed25519Key(private=_load_pem(private_key_file, private=True))
    if public_key_file:
        return Ed25519Key(public=_load_pem(public_key_file, private=False))
    return None
