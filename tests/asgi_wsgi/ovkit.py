"""Shared by tests/flask and tests/asgi_wsgi: a throwaway PKI, the edge's headers, servers.

Named ``ovkit`` (not ``helpers``) because test folders without ``__init__.py`` share one
module namespace under pytest's default import mode.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from originverify.devpki import CertificateAuthority, Issued, cert_pem
from originverify.formats.sfbinary import serialize_item, serialize_list

SECRET = "test-edge-secret-0123456789abcdef"
WRONG_SECRET = "not-the-edge-secret-0123456789ab"
SECRET_HEADER = "X-Origin-Verify"
HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
ADMIN_SPIFFE = "spiffe://example.org/admin/alice"

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Pki:
    """Everything the scenarios need, generated once per session."""

    ca: CertificateAuthority  # the intermediate that issues client certificates
    anchors: Path  # PEM file holding our root only
    alice: Issued  # valid, SPIFFE ID under /admin/
    bob: Issued  # valid, but not an admin (rule denied)
    expired: Issued
    stranger: Issued  # issued under another root (wrong CA)
    forged: Issued  # signed by a look-alike intermediate: same names, other key


def make_pki(directory: Path) -> Pki:
    ca = CertificateAuthority.root_ca().intermediate()
    # Same names as ours, other keys: chains that look right but whose signatures fail.
    lookalike = CertificateAuthority.root_ca().intermediate()
    other = CertificateAuthority.root_ca("someone else's root").intermediate("their ca")
    now = dt.datetime.now(dt.UTC)
    anchors = directory / "client-ca.pem"
    anchors.write_bytes(cert_pem(ca.root))
    return Pki(
        ca=ca,
        anchors=anchors,
        alice=ca.issue("alice", emails=["alice@example.org"], uris=[ADMIN_SPIFFE]),
        bob=ca.issue("bob", uris=["spiffe://example.org/billing/bob"]),
        expired=ca.issue(
            "old", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
        ),
        stranger=other.issue("mallory"),
        forged=replace(lookalike.issue("alice"), intermediates=ca.issue("x").intermediates),
    )


def cert_headers(issued: Issued, *, chain: bool = True) -> Headers:
    headers = [("Client-Cert", serialize_item(issued.der))]
    if chain and issued.chain_der:
        headers.append(("Client-Cert-Chain", serialize_list(issued.chain_der)))
    return headers


def edge(issued: Issued | None = None, *, secret: str | None = SECRET) -> Headers:
    """What the edge sends: its secret and (if the client presented one) the certificate."""
    headers: Headers = [] if secret is None else [(SECRET_HEADER, secret)]
    if issued is not None:
        headers += cert_headers(issued)
    return headers


def garbage_cert() -> Headers:
    """Well-formed header, DER that is not a certificate."""
    return [("Client-Cert", ":" + base64.b64encode(b"not a certificate").decode() + ":")]


# -- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(
    argv: Sequence[str],
    port: int,
    env: dict[str, str],
    log: Path,
    timeout: float = 30,
    cwd: Path | None = None,
) -> Server:
    """Start ``argv`` and wait (bounded) until it answers HTTP on 127.0.0.1:``port``."""
    full_env = {
        **os.environ,
        **env,
        "PYTHONPATH": os.pathsep.join(
            [str(HERE), str(TESTS / "flask"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, env=full_env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.output()}")
        try:
            httpx.get(server.url + "/", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return server
    stop_server(server)
    raise RuntimeError(f"server not ready after {timeout}s:\n{server.output()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)


@contextlib.contextmanager
def running(
    argv: Sequence[str], port: int, env: dict[str, str], log: Path, cwd: Path | None = None
) -> Iterator[Server]:
    server = start_server(argv, port, env, log, cwd=cwd)
    try:
        yield server
    finally:
        stop_server(server)


def gunicorn_argv(app: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--graceful-timeout",
        "2",
        *extra,
        app,
    ]


def uvicorn_argv(app: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra,
    ]


def server_env(pki: Pki) -> dict[str, str]:
    return {"OV_TEST_ANCHORS": str(pki.anchors), "OV_TEST_SECRET": SECRET}


# -- examples/ -----------------------------------------------------------------------------

ROOT = TESTS.parent


def example_env(pki: Pki, **extra: str) -> dict[str, str]:
    """What examples/*.py document: ``ORIGINVERIFY_ANCHORS`` and ``ORIGINVERIFY_EDGE_SECRET``."""
    return {"ORIGINVERIFY_ANCHORS": str(pki.anchors), "ORIGINVERIFY_EDGE_SECRET": SECRET, **extra}


def read_headers_file(path: Path) -> Headers:
    """A curl ``-H @file`` file: one ``Name: value`` per line."""
    pairs = []
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        pairs.append((name.strip(), value.strip()))
    return pairs


def wait_for_file(path: Path, server: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise RuntimeError(f"{path} not written:\n{server.output()}")
        time.sleep(0.1)
