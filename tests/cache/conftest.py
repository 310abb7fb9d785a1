"""Real servers for the team-cache tests: nginx with WebDAV PUT, moto's standalone S3 server, and a
tiny fault injector. Plus the must-show scenarios, written once and run against both backends.

nginx and moto are required: a missing server FAILS the tests (`.ci/run` installs them), unless
TRTBUILD_SKIP_SERVER_TESTS=1 says to skip them on purpose.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from trtbuild.cache.local import LocalStore
from tests.conftest import FIXTURES, run_cli, tiny_recipe

HMAC_SECRET = "team-secret-for-tests-0123456789"
RECIPE = tiny_recipe(model="kwargs = {{ channels = {channels} }}\n")  # .format(channels=...)
# Fast failure when a server is down or broken: one retry, short timeouts.
FAST = {"TRTBUILD_REMOTE_RETRIES": "1", "TRTBUILD_REMOTE_TIMEOUT": "3", "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost"}
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, log: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {seconds}s")


def require_server(found: bool, what: str, how: str) -> None:
    if os.environ.get("TRTBUILD_SKIP_SERVER_TESTS") == "1":
        pytest.skip(f"TRTBUILD_SKIP_SERVER_TESTS=1: not running the {what} tests")
    if not found:
        pytest.fail(f"{what} is not installed; .ci/run installs it ({how}). "
                    "Set TRTBUILD_SKIP_SERVER_TESTS=1 to skip these tests on purpose.")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- nginx ------------------------------------------------------------------------------------

NGINX_CONF = """
worker_processes 1;
daemon off;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log {prefix}/access.log;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location / {{
      dav_methods PUT MKCOL;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      client_max_body_size 0;
    }}
  }}
}}
"""


class Nginx:
    """One nginx on a free loopback port with its own prefix (config, pid, logs, temp dirs)."""

    def __init__(self, prefix: Path, root: Path):
        self.prefix, self.root, self.port = prefix, root, free_port()
        prefix.mkdir(parents=True, exist_ok=True)
        root.mkdir(parents=True, exist_ok=True)
        # As root, nginx's workers would run as nobody, who cannot enter pytest's 0700 tmp dirs.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, prefix=prefix, port=self.port, root=root))
        self.log = prefix / "access.log"
        out = open(prefix / "stdout.log", "wb")
        self.proc = subprocess.Popen([shutil.which("nginx"), "-c", str(conf), "-p", str(prefix),
                                      "-e", str(prefix / "error.log")], stdout=out, stderr=subprocess.STDOUT)
        out.close()
        wait_for_port(self.port, self.proc, "nginx", prefix / "error.log")

    def url(self, namespace: str) -> str:
        return f"http://127.0.0.1:{self.port}/{namespace}"

    def stop(self) -> None:
        stop(self.proc)


class HttpHarness:
    """The nginx remote as the scenarios see it: namespaces are folders under the web root."""

    kind = "http"

    def __init__(self, nginx: Nginx, keys: dict):
        self.nginx, self.writer_env, self.reader_env = nginx, keys, keys

    def url(self, ns: str) -> str:
        return self.nginx.url(ns)

    def env(self, ns: str, server: Nginx | None = None) -> dict:
        return {**FAST, "TRTBUILD_REMOTE_CACHE": (server or self.nginx).url(ns)}

    def read(self, ns: str, name: str) -> bytes:
        return (self.nginx.root / ns / name).read_bytes()

    def write(self, ns: str, name: str, data: bytes) -> None:
        path = self.nginx.root / ns / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def names(self, ns: str) -> set[str]:
        base = self.nginx.root / ns
        return {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}

    def copy(self, src: str, dst: str) -> None:
        shutil.copytree(self.nginx.root / src, self.nginx.root / dst)

    def served(self, ns: str, name: str) -> bool:
        return f'"GET /{ns}/{name} HTTP/1.1" 200' in self.nginx.log.read_text()

    def second_server(self, tmp: Path):
        """Another nginx over the same web root: one that a test may stop."""
        return Nginx(tmp / "nginx2", self.nginx.root)


@pytest.fixture(scope="session")
def nginx(tmp_path_factory):
    require_server(shutil.which("nginx") is not None, "nginx", "apt-get install -y nginx")
    base = tmp_path_factory.mktemp("nginx")
    server = Nginx(base / "prefix", base / "root")
    yield server
    server.stop()


HMAC_ENV = {"TRTBUILD_CACHE_HMAC_KEY": HMAC_SECRET}


@pytest.fixture(scope="session")
def http_harness(nginx):
    return HttpHarness(nginx, HMAC_ENV)


@pytest.fixture(scope="session")
def http_filled(http_harness, tmp_path_factory):
    """CI has run `make --remote-write` (HMAC-signed) into the nginx namespace 'filled'."""
    return fill(http_harness, tmp_path_factory.mktemp("http-fill"))


# -- moto (S3) --------------------------------------------------------------------------------

class Moto:
    def __init__(self, prefix: Path):
        prefix.mkdir(parents=True, exist_ok=True)
        self.port, self.log = free_port(), prefix / "moto.log"
        out = open(self.log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **AWS})
        out.close()
        wait_for_port(self.port, self.proc, "moto_server", self.log, seconds=60)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.client = s3_client(self.endpoint)
        self.client.create_bucket(Bucket="team-cache")

    def stop(self) -> None:
        stop(self.proc)


def s3_client(endpoint: str):
    import boto3

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    return session.client("s3", endpoint_url=endpoint)


class S3Harness:
    """The moto remote as the scenarios see it: namespaces are key prefixes in one bucket."""

    kind = "s3"
    bucket = "team-cache"

    def __init__(self, moto: Moto, writer_env: dict, reader_env: dict):
        self.moto, self.writer_env, self.reader_env = moto, writer_env, reader_env

    def url(self, ns: str) -> str:
        return f"s3://{self.bucket}/{ns}"

    def env(self, ns: str, server: Moto | None = None) -> dict:
        return {**FAST, **AWS, "TRTBUILD_REMOTE_CACHE": self.url(ns),
                "TRTBUILD_S3_ENDPOINT_URL": (server or self.moto).endpoint}

    def read(self, ns: str, name: str) -> bytes:
        return self.moto.client.get_object(Bucket=self.bucket, Key=f"{ns}/{name}")["Body"].read()

    def write(self, ns: str, name: str, data: bytes) -> None:
        self.moto.client.put_object(Bucket=self.bucket, Key=f"{ns}/{name}", Body=data)

    def names(self, ns: str) -> set[str]:
        pages = self.moto.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{ns}/")
        return {o["Key"][len(ns) + 1:] for page in pages for o in page.get("Contents", [])}

    def copy(self, src: str, dst: str, client=None) -> None:
        for name in self.names(src):
            (client or self.moto.client).put_object(Bucket=self.bucket, Key=f"{dst}/{name}", Body=self.read(src, name))

    def served(self, ns: str, name: str) -> bool:
        return f'"GET /{self.bucket}/{ns}/{name} HTTP/1.1" 200' in self.moto.log.read_text(errors="replace")

    def second_server(self, tmp: Path):
        """Another moto holding a copy of the filled namespace: one that a test may stop."""
        other = Moto(tmp / "moto2")
        self.copy("filled", "filled", client=other.client)
        return other


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    import importlib.util

    found = all(importlib.util.find_spec(m) is not None for m in ("boto3", "moto", "flask"))
    require_server(found, "moto's S3 server (moto[server]) and boto3", "pip install -e '.[test,s3]'")
    server = Moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ed25519_keys(tmp_path_factory) -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    folder = tmp_path_factory.mktemp("keys")
    private = ed25519.Ed25519PrivateKey.generate()
    (folder / "ci.pem").write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (folder / "team.pub").write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"private": str(folder / "ci.pem"), "public": str(folder / "team.pub")}


# -- recipes, CLI runs and the fill -----------------------------------------------------------

def write_tiny_recipes(folder: Path) -> list[Path]:
    """Two tiny recipes with distinct keys (keys do not depend on the folder or file name)."""
    for source in FIXTURES.glob("*.py"):
        shutil.copy(source, folder / source.name)
    paths = []
    for name, channels in (("r1", 4), ("r2", 5)):
        path = folder / f"{name}.toml"
        path.write_text(RECIPE.format(channels=channels))
        paths.append(path)
    return paths


class Run:
    """One CLI run: exit code, parsed --json report, warning lines."""

    def __init__(self, proc):
        self.code, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        self.warnings = [line for line in proc.stderr.splitlines() if "warning:" in line]
        try:
            self.report = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            self.report = None

    def recipe(self, name: str) -> dict:
        return next(r for r in self.report["recipes"] if r["name"] == name)

    def __repr__(self) -> str:
        return f"Run(code={self.code}, stderr={self.stderr[-3000:]!r})"


def make(folder: Path, cache: Path, env: dict, *extra: str, recipes: tuple = ("r1", "r2")) -> Run:
    args = ["make", *(f"{r}.toml" for r in recipes), "--cache-dir", str(cache), "--out-dir", str(folder / "out"),
            "--json", *extra]
    return Run(run_cli(*args, cwd=folder, env=env))


def fill(harness, tmp: Path) -> dict:
    """CI: `make --remote-write` into namespace 'filled'. Returns keys, blob digests and the local cache."""
    folder = tmp / "ci"
    folder.mkdir()
    write_tiny_recipes(folder)
    run = make(folder, tmp / "ci-cache", {**harness.env("filled"), **harness.writer_env}, "--remote-write")
    assert run.code == 0, run
    assert run.warnings == [], run
    info = {"cache": tmp / "ci-cache", "run": run}
    for name in ("r1", "r2"):
        report = run.recipe(name)
        assert report["status"] == "built"
        entry = json.loads(harness.read("filled", f"recipe/{report['key']}"))
        assert "signature" in entry  # CI signs what it writes
        info[name] = {"key": report["key"], "segments": [s["key"] for s in report["segments"]
                                                         if s["kind"] == "tensorrt"],
                      "blobs": sorted(entry["files"].values())}
    return info


# -- the must-show scenarios, for any backend -------------------------------------------------

class Scenarios:
    def __init__(self, harness, filled: dict, tmp: Path):
        self.h, self.filled, self.tmp = harness, filled, tmp

    def namespace(self, name: str) -> str:
        self.h.copy("filled", name)
        return name

    def workdir(self) -> Path:
        folder = self.tmp / "work"
        folder.mkdir()
        write_tiny_recipes(folder)
        return folder

    def second_machine_builds_nothing(self) -> None:
        ns = self.namespace("second-machine")
        folder = self.workdir()
        run = make(folder, folder / "empty-cache", {**self.h.env(ns), **self.h.reader_env})
        assert run.code == 0, run
        assert run.warnings == [], run
        for name in ("r1", "r2"):
            report = run.recipe(name)
            assert report["status"] == "cached", run
            trt = [s for s in report["segments"] if s["kind"] == "tensorrt"]
            assert trt and all(s["cache"] == "hit" for s in trt)
            assert all(s["build_seconds"] == 0.0 for s in trt)
            # served by the remote: the server logged the download of the recipe entry and its blobs
            assert self.h.served(ns, f"recipe/{self.filled[name]['key']}")
            assert all(self.h.served(ns, f"blob/{d}") for d in self.filled[name]["blobs"])
        # and the verified downloads were kept in the local cache, for the next (offline) run
        local = LocalStore(folder / "empty-cache")
        try:
            for name in ("r1", "r2"):
                entry = local.get_meta("recipe", self.filled[name]["key"])
                assert entry is not None and all(local.get_blob(d) is not None for d in entry["files"].values())
        finally:
            local.close()

    def tampered_and_forged_are_rejected(self) -> None:
        ns = self.namespace("tampered")
        r1, r2 = self.filled["r1"], self.filled["r2"]
        # (a) one byte flipped in r1's engine blob
        blob = f"blob/{r1['blobs'][0]}"
        data = bytearray(self.h.read(ns, blob))
        data[len(data) // 2] ^= 0x01
        self.h.write(ns, blob, bytes(data))
        # (b) an attacker's engine, correctly content-addressed, behind forged r2 entries:
        # the recipe entry unsigned, the segment entry with its genuine signature over other content
        evil = b"not an engine: attacker bytes"
        evil_digest = hashlib.sha256(evil).hexdigest()
        self.h.write(ns, f"blob/{evil_digest}", evil)
        rec_name = f"recipe/{r2['key']}"
        rec = json.loads(self.h.read(ns, rec_name))
        rec.pop("signature")
        rec["files"] = {path: evil_digest for path in rec["files"]}
        self.h.write(ns, rec_name, json.dumps(rec).encode())
        seg_name = f"segment/{r2['segments'][0]}"
        seg = json.loads(self.h.read(ns, seg_name))
        seg["blob"] = evil_digest
        self.h.write(ns, seg_name, json.dumps(seg).encode())

        before = {n: self.h.read(ns, n) for n in self.h.names(ns)}
        folder = self.workdir()
        cache = folder / "cache"
        run = make(folder, cache, {**self.h.env(ns), **self.h.reader_env})
        assert run.code == 0, run
        # read-only by default: the local rebuilds were not uploaded over the bad entries
        assert {n: self.h.read(ns, n) for n in self.h.names(ns)} == before
        text = "\n".join(run.warnings)
        assert f"{blob} rejected: its bytes do not match its SHA-256" in text, run
        assert f"{rec_name} rejected: it is unsigned" in text, run
        expected = 2
        if seg_name.split("/")[1] in [s["key"] for s in run.recipe("r2")["segments"]]:
            # only when this run computed the same segment key as CI did (see the report)
            assert f"{seg_name} rejected: its signature does not match" in text, run
            expected = 3
        assert len(run.warnings) == expected, run  # one per bad entry, none for the good ones
        for name in ("r1", "r2"):
            report = run.recipe(name)
            assert report["status"] == "built"
            assert all(s["cache"] == "miss" for s in report["segments"] if s["kind"] == "tensorrt")
        local = LocalStore(cache)
        try:
            blobs = {n.split("/")[1]: local.raw(n) for n in local.names("blob")}
        finally:
            local.close()
        assert evil_digest not in blobs
        assert all(hashlib.sha256(data).hexdigest() == d for d, data in blobs.items())  # no tampered bytes
        engines = list((folder / "out").rglob("*.plan"))
        assert engines and all(p.read_bytes() != evil for p in engines)

    def down_before_run(self, env: dict) -> None:
        folder = self.workdir()
        run = make(folder, folder / "cache", {**env, **self.h.reader_env}, recipes=("r1",))
        self._one_warning_local_build(run, ("built",))

    def stopped_mid_run(self) -> None:
        """The server serves r1, is stopped, then r2 must build locally: one warning, exit 0."""
        server = self.h.second_server(self.tmp)
        folder = self.workdir()
        env = dict(os.environ, **self.h.env("filled", server), **self.h.reader_env)
        args = [sys.executable, "-m", "trtbuild", "make", "r1.toml", "r2.toml", "--cache-dir",
                str(folder / "cache"), "--out-dir", str(folder / "out"), "--json"]
        proc = subprocess.Popen(args, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not (folder / "out" / "r1" / "manifest.json").exists() and proc.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            server.stop()
            stdout, stderr = proc.communicate(timeout=300)
        finally:
            server.stop()
            if proc.poll() is None:
                proc.kill()
        run = Run(subprocess.CompletedProcess(args, proc.returncode, stdout, stderr))
        self._one_warning_local_build(run, ("cached", "built"))

    def _one_warning_local_build(self, run: Run, statuses: tuple[str, ...]) -> None:
        assert run.code == 0, run
        assert len(run.warnings) == 1, run
        assert "remote cache" in run.warnings[0] and "local cache only" in run.warnings[0]
        got = tuple(r["status"] for r in run.report["recipes"])
        assert got == statuses, (got, run)


# -- a server that misbehaves on purpose ------------------------------------------------------

class FaultServer:
    """HTTP on loopback answering every request badly: '500', '403', 'truncate', 'garbage' or 'hang'."""

    def __init__(self, mode: str):
        self.mode, self.requests = mode, 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                owner.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.respond(self)

            do_GET = do_HEAD = do_PUT = _answer

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def respond(self, h: http.server.BaseHTTPRequestHandler) -> None:
        if self.mode == "hang":
            time.sleep(3)
            return
        if self.mode in ("500", "403"):
            body = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
            h.send_response(int(self.mode))
        else:
            body = os.urandom(64) if self.mode == "garbage" else b'{"key": "' + b"a" * 40
            h.send_response(200)
        h.send_header("Content-Length", str(len(body) * (4 if self.mode == "truncate" else 1)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
        h.close_connection = True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class NoServer:
    """'refused': a loopback port with nothing listening."""

    def __init__(self):
        self.url, self.requests = f"http://127.0.0.1:{free_port()}", 0

    def close(self) -> None:
        pass


@pytest.fixture
def fault_server(request):
    servers = []

    def start(mode: str) -> FaultServer:
        servers.append(NoServer() if mode == "refused" else FaultServer(mode))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
