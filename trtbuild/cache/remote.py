"""Remote cache backends: one small interface over HTTP(S) (GET/HEAD/PUT) and S3-compatible storage.

Entry names are `blob/<sha256>`, `segment/<key>` and `recipe/<key>`. A backend only moves bytes: it
never trusts them (LayeredStore verifies digests and signatures). Every transport failure surfaces as
`RemoteError` after a bounded number of attempts, so the caller can fall back to the local cache.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from typing import Any, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from ..errors import InputError

NAME_RE = re.compile(r"^(blob|segment|recipe)/[0-9a-f]{64}$")
DEFAULT_TIMEOUT = 10.0  # seconds per request: a cache that answers slower than a build is no use
DEFAULT_RETRIES = 2  # extra attempts after the first, for refused/reset connections, timeouts and 5xx
RETRY_STATUS = (408, 429, 500, 502, 503, 504)


class RemoteError(Exception):
    """The remote could not be used (unreachable, timing out, failing, or refusing us)."""


def check_name(name: str) -> str:
    """Names go into URLs and object keys: allow only the three entry shapes (no traversal)."""
    if not NAME_RE.match(name):
        raise ValueError(f"not a cache entry name: {name!r}")
    return name


class RemoteBackend:
    """What LayeredStore needs from a remote. `url` is for messages and must not hold secrets."""

    url: str = ""

    def get(self, name: str) -> bytes | None:
        raise NotImplementedError

    def put(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def exists(self, name: str) -> bool:
        raise NotImplementedError


def _backoff(attempt: int) -> None:
    time.sleep(min(0.1 * (2 ** attempt), 2.0))


# -- HTTP -------------------------------------------------------------------------------------

def auth_headers(environ: Mapping[str, str], userinfo: tuple[str, str] | None = None) -> dict[str, str]:
    """Bearer token, else basic auth from the environment, else credentials written in the URL."""
    token = environ.get("TRTBUILD_REMOTE_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = environ.get("TRTBUILD_REMOTE_USER")
    pair = (user, environ.get("TRTBUILD_REMOTE_PASSWORD", "")) if user else userinfo
    if pair:
        encoded = base64.b64encode(f"{pair[0]}:{pair[1]}".encode()).decode()
        return {"Authorization": f"Basic {encoded}"}
    return {}


class _Retry(Exception):
    pass


class HttpRemote(RemoteBackend):
    """Plain GET/HEAD/PUT under a base URL: nginx WebDAV, Bazel-style cache servers, object stores."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 environ: Mapping[str, str] | None = None):
        parts = urlsplit(base_url)
        userinfo = (parts.username or "", parts.password or "") if parts.username else None
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        netloc += f":{parts.port}" if parts.port else ""
        self.base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/", "", ""))
        self.url = self.base  # credentials stripped: this string appears in warnings
        self.timeout, self.retries = float(timeout), int(retries)
        self._headers = auth_headers(os.environ if environ is None else environ, userinfo)
        self._opener = urllib.request.build_opener()  # honours the usual *_proxy variables

    def get(self, name: str) -> bytes | None:
        status, body = self._request("GET", name)
        return None if status == 404 else body

    def exists(self, name: str) -> bool:
        return self._request("HEAD", name)[0] != 404

    def put(self, name: str, data: bytes) -> None:
        self._request("PUT", name, bytes(data))

    def _request(self, method: str, name: str, data: bytes | None = None) -> tuple[int, bytes]:
        url = self.base + quote(check_name(name))
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                _backoff(attempt - 1)
            try:
                return self._once(method, url, data)
            except _Retry as exc:
                last = exc
        raise RemoteError(f"{method} {url} failed after {self.retries + 1} attempts: {last}")

    def _once(self, method: str, url: str, data: bytes | None) -> tuple[int, bytes]:
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/octet-stream"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                # read() raises IncompleteRead when the body is shorter than Content-Length
                return response.status, (response.read() if method == "GET" else b"")
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404 and method != "PUT":
                return 404, b""
            if exc.code in RETRY_STATUS:
                raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
            # 401/403/405/...: a configuration problem that retrying cannot fix
            raise RemoteError(f"{method} {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise _Retry(_describe(exc)) from None


def _describe(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, http.client.IncompleteRead):
        return f"truncated body ({len(exc.partial)} bytes, {exc.expected} more expected)"
    return f"{type(exc).__name__}: {reason if reason is not None else exc}"


# -- S3 ---------------------------------------------------------------------------------------

class S3Remote(RemoteBackend):
    """Objects `<prefix>/<name>` in a bucket, via boto3 (the optional `s3` extra).

    Credentials and region come from boto3's usual chain (AWS_* variables, profiles, instance roles);
    `endpoint_url` points at S3-compatible servers (MinIO, Ceph, moto).
    """

    def __init__(self, url: str, *, endpoint_url: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = DEFAULT_RETRIES, client: Any = None):
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise InputError(f"not an S3 URL (expected s3://bucket/prefix): {url}")
        self.bucket, self.prefix = parts.netloc, parts.path.strip("/")
        self.url = f"s3://{self.bucket}/{self.prefix}" + (f" at {endpoint_url}" if endpoint_url else "")
        try:
            import botocore.exceptions as boto_errors
        except ImportError:
            raise InputError("the S3 remote cache needs boto3: pip install 'trtbuild[s3]'") from None
        self._errors = boto_errors
        self._client = client or _s3_client(endpoint_url, timeout, retries)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{check_name(name)}" if self.prefix else check_name(name)

    def get(self, name: str) -> bytes | None:
        return self._call(lambda: self._client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read())

    def exists(self, name: str) -> bool:
        return self._call(lambda: self._client.head_object(Bucket=self.bucket, Key=self._key(name))) is not None

    def put(self, name: str, data: bytes) -> None:
        self._call(lambda: self._client.put_object(Bucket=self.bucket, Key=self._key(name), Body=bytes(data)))

    def _call(self, action: Any) -> Any:
        """Run one call (botocore already retried it); a missing object is None, anything else RemoteError."""
        try:
            return action()
        except self._errors.ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise RemoteError(f"{self.url}: {error.get('Code')} {error.get('Message') or ''}".strip()) from None
        except (self._errors.BotoCoreError, OSError, ValueError) as exc:
            raise RemoteError(f"{self.url}: {type(exc).__name__}: {exc}") from None


def _s3_client(endpoint_url: str | None, timeout: float, retries: int) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=timeout, read_timeout=timeout,
                    retries={"total_max_attempts": int(retries) + 1, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


def open_remote(url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                s3_endpoint: str | None = None) -> RemoteBackend:
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        return HttpRemote(url, timeout=timeout, retries=retries)
    if scheme == "s3":
        return S3Remote(url, endpoint_url=s3_endpoint, timeout=timeout, retries=retries)
    raise InputError(f"remote cache URL must start with http://, https:// or s3://: {url}")
