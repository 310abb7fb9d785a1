"""Remote cache backends: one small interface over HTTP(S) (GET/HEAD/PUT, MKCOL) and S3-compatible storage.

Entry names are `<kind>/<64 hex>` for the shared kinds (blob, segment, recipe, stamp, latest) and
`lease/<key>/<generation>` for build leases. A backend only moves bytes: it never trusts them
(LayeredStore verifies digests and signatures). Every transport failure surfaces as `RemoteError`
after a bounded number of attempts, so the caller can fall back to the local cache.

Leases need one atomic primitive, `claim(name, body)`: create the entry only if it does not exist.
S3 has it as a conditional PUT (`If-None-Match: *`). Plain HTTP PUT has no such guarantee (nginx,
for one, ignores If-None-Match on PUT), but WebDAV's MKCOL does: a collection is created by one
mkdir, which fails for everyone but the first. So over HTTP a claim is a collection, and its body is
the file `holder` inside it. A server with neither raises `LeaseUnsupported`.
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
from .local import SHARED_KINDS

NAME_RE = re.compile(rf"^({'|'.join(SHARED_KINDS)})/[0-9a-f]{{64}}$")
LEASE_RE = re.compile(r"^lease/[0-9a-f]{64}/[0-9]{1,9}$")
DEFAULT_TIMEOUT = 10.0  # seconds per request: a cache that answers slower than a build is no use
DEFAULT_RETRIES = 2  # extra attempts after the first, for refused/reset connections, timeouts and 5xx
RETRY_STATUS = (408, 429, 500, 502, 503, 504)


class RemoteError(Exception):
    """The remote could not be used (unreachable, timing out, failing, or refusing us)."""


class LeaseUnsupported(RemoteError):
    """The remote cannot create an entry exclusively (no conditional PUT, no MKCOL)."""


def check_name(name: str) -> str:
    """Names go into URLs and object keys: allow only entry and lease shapes (no traversal)."""
    if not (NAME_RE.match(name) or LEASE_RE.match(name)):
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

    # -- leases: see the module docstring --------------------------------------------------
    def claim(self, name: str, data: bytes) -> bool:
        """Create lease entry `name` holding `data` if it does not exist; False if it does."""
        raise LeaseUnsupported(f"{self.url} cannot create entries exclusively")

    def read_claim(self, name: str) -> tuple[bytes, float | None] | None:
        """(body, age in seconds by the server's clock, or None if unknown), or None if absent.
        A claim whose body is not written yet reads as b""."""
        raise NotImplementedError

    def update_claim(self, name: str, data: bytes) -> None:
        """Rewrite the body of a claim we hold (its age starts again)."""
        raise NotImplementedError


def _server_age(date: str | None, modified: Any) -> float | None:
    """Seconds since `modified`, by the server's own clock (its Date header): immune to our clock's skew."""
    from email.utils import parsedate_to_datetime

    try:
        now = parsedate_to_datetime(date)
        then = modified if hasattr(modified, "timestamp") else parsedate_to_datetime(modified)
        return max(0.0, now.timestamp() - then.timestamp())
    except (TypeError, ValueError, IndexError):
        return None


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
        status, body, _ = self._request("GET", check_name(name))
        return None if status == 404 else body

    def exists(self, name: str) -> bool:
        return self._request("HEAD", check_name(name))[0] != 404

    def put(self, name: str, data: bytes) -> None:
        self._request("PUT", check_name(name), bytes(data))

    def claim(self, name: str, data: bytes) -> bool:
        status = self._request("MKCOL", check_name(name) + "/", accept=(403, 404, 405, 409, 501))[0]
        if status == 409:  # MKCOL needs its parent: the first lease in this namespace makes them
            for parent in self._parents(name):
                self._request(parent=True, method="MKCOL", path=parent, accept=(405, 409))
            status = self._request("MKCOL", name + "/", accept=(403, 404, 405, 409, 501))[0]
        if status == 201:
            self.put_holder(name, data)
            return True
        if status == 405 and self._request("HEAD", name + "/", accept=(403, 404))[0] != 404:
            return False  # it exists: someone else's claim
        raise LeaseUnsupported(f"{self.url} does not create collections (MKCOL answered {status}): "
                               "enable it (nginx: dav_methods PUT DELETE MKCOL)")

    def read_claim(self, name: str) -> tuple[bytes, float | None] | None:
        status, body, headers = self._request("GET", check_name(name) + "/holder")
        if status != 404:
            return body, _server_age(headers.get("Date"), headers.get("Last-Modified"))
        if self._request("HEAD", name + "/", accept=(403, 404))[0] != 404:
            return b"", None  # claimed a moment ago: the holder's body is on its way
        return None

    def update_claim(self, name: str, data: bytes) -> None:
        self.put_holder(check_name(name), data)

    def put_holder(self, name: str, data: bytes) -> None:
        self._request("PUT", name + "/holder", bytes(data))

    def _parents(self, name: str) -> list[str]:
        """Absolute paths of the collections above a lease, outermost first: the base path's own
        folders (an untouched namespace may not exist yet), then lease/ and lease/<key>/."""
        base = urlsplit(self.base).path.strip("/").split("/")
        folders = ["/".join(base[:i]) for i in range(1, len(base) + 1) if base[0]]
        lease, key, _ = name.split("/")
        return [f"/{f}/" for f in folders] + [urlsplit(self.base).path + p for p in (f"{lease}/", f"{lease}/{key}/")]

    def _request(self, method: str, path: str, data: bytes | None = None,
                 accept: tuple[int, ...] = (404,), parent: bool = False) -> tuple[int, bytes, Any]:
        """(status, body, headers) for `path` under the base URL (an absolute path with `parent`). A
        status in `accept` is an answer (404 never is for PUT); other 4xx raise RemoteError; refused
        connections, timeouts and RETRY_STATUS are retried."""
        url = (urlunsplit(urlsplit(self.base)._replace(path=quote(path))) if parent else self.base + quote(path))
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                _backoff(attempt - 1)
            try:
                return self._once(method, url, data, accept)
            except _Retry as exc:
                last = exc
        raise RemoteError(f"{method} {url} failed after {self.retries + 1} attempts: {last}")

    def _once(self, method: str, url: str, data: bytes | None, accept: tuple[int, ...]) -> tuple[int, bytes, Any]:
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/octet-stream"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                # read() raises IncompleteRead when the body is shorter than Content-Length
                return response.status, (response.read() if method == "GET" else b""), response.headers
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in accept and not (exc.code == 404 and method == "PUT"):
                return exc.code, b"", exc.headers
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

    def claim(self, name: str, data: bytes) -> bool:
        put = lambda: self._client.put_object(Bucket=self.bucket, Key=self._key(name), Body=bytes(data),  # noqa: E731
                                              IfNoneMatch="*")
        return self._call(put, taken=("PreconditionFailed", "412", "ConditionalRequestConflict", "409")) is not None

    def read_claim(self, name: str) -> tuple[bytes, float | None] | None:
        def read() -> tuple[bytes, float | None]:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(name))
            date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
            return response["Body"].read(), _server_age(date, response.get("LastModified"))

        return self._call(read)

    def update_claim(self, name: str, data: bytes) -> None:
        self.put(name, data)

    def _call(self, action: Any, taken: tuple[str, ...] = ()) -> Any:
        """Run one call (botocore already retried it); a missing object (or, for a claim, one that is
        `taken`) is None, anything else RemoteError."""
        try:
            return action()
        except self._errors.ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in ("NoSuchKey", "404", "NotFound", *taken):
                return None
            if error.get("Code") in ("NotImplemented", "501") and taken:
                raise LeaseUnsupported(f"{self.url}: conditional writes are not supported") from None
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
