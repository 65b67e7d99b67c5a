"""Shared by the red-team tests: a PKI, request builders, raw HTTP, and the five real servers
(WSGI middleware under gunicorn, ASGI middleware under uvicorn, Flask under gunicorn, Django
under gunicorn and under uvicorn), all trusting the same anchors and the same edge secret, so
one hostile request can be sent to every adapter and the answers compared."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from originverify import EdgeSecret, Verifier
from originverify.devpki import CertificateAuthority, Issued, cert_pem
from originverify.formats.sfbinary import serialize_item, serialize_list

SECRET = "test-edge-secret-0123456789abcdef"
SECRET_HEADER = "X-Origin-Verify"
TESTS = Path(__file__).resolve().parents[2]
REPO = TESTS.parent

Pairs = list[tuple[str, str]]


@dataclass(frozen=True)
class RedPKI:
    root: CertificateAuthority
    ca: CertificateAuthority
    alice: Issued
    bob: Issued
    stranger: Issued


def make_pki() -> RedPKI:
    root = CertificateAuthority.root_ca("redteam root")
    ca = root.intermediate("redteam intermediate")
    other = CertificateAuthority.root_ca("redteam root").intermediate("redteam intermediate")
    return RedPKI(
        root=root,
        ca=ca,
        alice=ca.issue("alice", uris=["spiffe://example.org/admin/alice"]),
        bob=ca.issue("bob", uris=["spiffe://example.org/billing/bob"]),
        stranger=other.issue("alice", uris=["spiffe://example.org/admin/alice"]),
    )


def pairs(
    leaf: Issued | bytes | None,
    chain: tuple[bytes, ...] | None = None,
    *,
    secret: str | None = SECRET,
    extra: Pairs | None = None,
) -> Pairs:
    """Raw header field lines as the edge sends them."""
    out: Pairs = [] if secret is None else [(SECRET_HEADER, secret)]
    if leaf is not None:
        der = leaf if isinstance(leaf, bytes) else leaf.der
        out.append(("Client-Cert", serialize_item(der)))
        if chain is None and isinstance(leaf, Issued):
            chain = leaf.chain_der
        if chain:
            out.append(("Client-Cert-Chain", serialize_list(list(chain))))
    out.extend(extra or [])
    return out


def verifier(pki: RedPKI, **options: object) -> Verifier:
    options.setdefault("cache", None)
    options.setdefault("watch_interval", None)
    options.setdefault("source", EdgeSecret(secrets=[SECRET]))
    options.setdefault("trust", pki.root.pem)
    return Verifier(**options)  # type: ignore[arg-type]


# -- raw HTTP --------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def send(port: int, path: str, lines: Pairs, timeout: float = 10) -> Reply:
    """One GET with exactly these header field lines, in this order and spelling."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("GET", path, skip_host=False, skip_accept_encoding=True)
        for name, value in lines:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, response.read(), headers)
    finally:
        conn.close()


def send_raw(port: int, request: bytes, timeout: float = 10) -> int:
    """Bytes on the wire (obs-fold, odd octets); the status code of the answer, 0 if the
    server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    if not data.startswith(b"HTTP/1."):
        return 0
    return int(data.split(b" ", 2)[1])


# -- real servers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    #: path of a route in each mode
    routes: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _gunicorn(app: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--graceful-timeout", "1", app,
    ]  # fmt: skip


def _uvicorn(app: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", *extra,
    ]  # fmt: skip


#: name → (argv builder, routes per mode: required / optional / report)
SPECS = {
    "wsgi-gunicorn": (
        lambda p: _gunicorn("ov_wsgi_app:create_app()", p),
        {"required": "/", "optional": "/optional/", "report": "/report/"},
    ),
    "asgi-uvicorn": (
        lambda p: _uvicorn("ov_asgi_app:create_app", p, "--factory"),
        {"required": "/whoami", "optional": "/optional/whoami", "report": "/report/whoami"},
    ),
    "flask-gunicorn": (
        lambda p: _gunicorn("ov_flask_app:create_server_app()", p),
        {"required": "/whoami", "optional": "/optional/maybe", "report": "/report/whoami"},
    ),
    "django-gunicorn": (
        lambda p: _gunicorn("djtestproject.wsgi:application", p),
        {"required": "/whoami"},
    ),
    "django-uvicorn": (
        lambda p: _uvicorn("djtestproject.asgi:application", p, "--lifespan", "off"),
        {"required": "/whoami"},
    ),
}


def start_servers(
    pki: RedPKI,
    directory: Path,
    names: tuple[str, ...] = tuple(SPECS),
    mode: str = "required",
) -> Iterator[dict[str, Server]]:
    """Start the servers at once (they boot in parallel), wait until each answers.
    ``mode`` is the Django project's ``ORIGINVERIFY["MODE"]``."""
    anchors = directory / "anchors.pem"
    anchors.write_bytes(cert_pem(pki.root.root))
    env = {
        **os.environ,
        "OV_TEST_ANCHORS": str(anchors),
        "OV_TEST_SECRET": SECRET,
        "OV_TEST_EXTRA": '{"LOGIN_USERS": false}',
        "OV_TEST_MODE": mode,
        "DJANGO_SETTINGS_MODULE": "djtestproject.settings",
        "PYTHONPATH": os.pathsep.join(
            str(p)
            for p in (
                TESTS / "asgi_wsgi",
                TESTS / "flask",
                TESTS / "django",
                REPO / "integrations",
                REPO,
            )
        ),
    }
    servers: dict[str, Server] = {}
    try:
        for name in names:
            argv, routes = SPECS[name]
            port = free_port()
            log_path = directory / f"{name}.log"
            with log_path.open("wb") as sink:
                process = subprocess.Popen(
                    argv(port),
                    env=env,
                    cwd=TESTS / "django" if name.startswith("django") else REPO,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            servers[name] = Server(name, port, process, log_path, routes)
        deadline = time.monotonic() + 40
        for server in servers.values():
            while True:
                if server.process.poll() is not None:
                    pytest.fail(f"{server.name} exited:\n{server.log()[-3000:]}")
                try:
                    send(server.port, "/", [], timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"{server.name} not ready:\n{server.log()[-3000:]}")
                    time.sleep(0.1)
        yield servers
    finally:
        for server in servers.values():
            server.stop()
