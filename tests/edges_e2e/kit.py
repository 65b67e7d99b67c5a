"""Kit for the real-edge tests: render the shipped configs, run servers, drive TLS clients.

Every server is a child process started from its Debian package binary with a generated
configuration in a scratch directory, listening on 127.0.0.1 on a free port; every wait is
bounded and every process is stopped (by its own id) in a finalizer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509

from originverify.devpki import CertificateAuthority, Issued, cert_pem, key_pem
from originverify.formats.sfbinary import serialize_item, serialize_list

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "edges"
EDGE_SECRET = "edges-e2e-secret-0123456789abcdef"
PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")
START_TIMEOUT = 20.0


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------


def placeholders(path: Path) -> set[str]:
    return set(PLACEHOLDER.findall(path.read_text()))


def render(template: Path, values: Mapping[str, str], target: Path) -> Path:
    """Write ``template`` with every ``{{NAME}}`` replaced; a missing value is an error."""
    text = template.read_text()
    missing = placeholders(template) - set(values)
    if missing:
        raise AssertionError(f"{template.name}: no value for {sorted(missing)}")
    target.write_text(PLACEHOLDER.sub(lambda m: values[m.group(1)], text))
    return target


# ---------------------------------------------------------------------------------------------
# PKI
# ---------------------------------------------------------------------------------------------


@dataclass
class Pki:
    """Files for every certificate the tests present or trust, and the DER to forge with."""

    dir: Path
    alice: Issued  # root -> issuing CA -> alice: the valid client
    deep: Issued  # root -> issuing CA -> sub CA -> deep: two intermediates
    expired: Issued  # issued by the issuing CA, expired yesterday
    mallory: Issued  # another root -> its CA -> mallory
    bigchain: Issued  # root -> 8 RSA-4096 CAs -> bigchain
    files: dict[str, Path] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return str(self.files[name])


def build_pki(directory: Path) -> Pki:
    now = dt.datetime.now(dt.UTC)
    root = CertificateAuthority.root_ca("E2E Client Root")
    issuing = root.intermediate("E2E Issuing CA")
    sub = issuing.intermediate("E2E Sub CA")
    alice = issuing.issue("alice", emails=["alice@example.com"])
    deep = sub.issue("deep")
    expired = issuing.issue(
        "expired", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
    mallory = CertificateAuthority.root_ca("Stranger Root").intermediate("Stranger CA")
    mallory_leaf = mallory.issue("mallory")
    node = root
    for depth in range(8):
        node = node.intermediate(f"Big RSA CA {depth + 1}", key_type="rsa", rsa_bits=4096)
    bigchain = node.issue("bigchain")
    server_ca = CertificateAuthority.root_ca("E2E Server CA")
    server = server_ca.issue_server("localhost", "127.0.0.1")

    pki = Pki(directory, alice, deep, expired, mallory_leaf, bigchain)

    def write(name: str, data: bytes) -> None:
        path = directory / name
        path.write_bytes(data)
        pki.files[name] = path

    for stem, issued in (
        ("alice", alice),
        ("deep", deep),
        ("expired", expired),
        ("mallory", mallory_leaf),
        ("bigchain", bigchain),
    ):
        paths = issued.write(directory, stem)  # <stem>.pem = leaf + intermediates
        pki.files[stem + ".pem"] = paths["cert"]
        pki.files[stem + ".key"] = paths["key"]
        write(stem + "-leaf.pem", cert_pem(issued.cert))
        write(stem + "-chain.pem", b"".join(cert_pem(c) for c in issued.intermediates))
    write("client-ca.pem", cert_pem(root.cert))
    write("intermediates.pem", issuing.pem)
    write("server-ca.pem", cert_pem(server_ca.cert))
    write("server.pem", cert_pem(server.cert))
    write("server.key", key_pem(server.key))
    write("server-bundle.pem", cert_pem(server.cert) + key_pem(server.key))
    return pki


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


# How each edge spells a certificate it forwards: what a client forges to impersonate alice.
def rfc9440_headers(issued: Issued, cert: str = "Client-Cert") -> list[tuple[str, str]]:
    return [
        (cert, serialize_item(issued.der)),
        (cert + "-Chain", serialize_list(list(issued.chain_der))),
    ]


def nginx_headers(issued: Issued, cert: str = "X-SSL-Client-Cert") -> list[tuple[str, str]]:
    return [(cert, quote(cert_pem(issued.cert).decode(), safe=""))]


def apache_headers(issued: Issued, cert: str = "X-SSL-Client-Cert") -> list[tuple[str, str]]:
    def spaced(c: x509.Certificate) -> str:
        return cert_pem(c).decode().replace("\n", " ")

    return [(cert, spaced(issued.cert))] + [
        (f"{cert}-Chain-{i}", spaced(c)) for i, c in enumerate(issued.intermediates)
    ]


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StartError(RuntimeError):
    pass


class Server:
    """A child process in its own session (so its workers stop with it), logs to a file."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        port: int,
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        extra_logs: tuple[Path, ...] = (),
    ) -> None:
        self.name = name
        self.port = port
        self.log = log
        self.extra_logs = extra_logs
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"{self.name} exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise StartError(f"{self.name} did not listen within {START_TIMEOUT}s:\n{self.logs()}")

    def logs(self, tail: int = 4000) -> str:
        parts = []
        for path in (self.log, *self.extra_logs):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_on_free_port(start: Callable[[int], Server], attempts: int = 3) -> Server:
    """``start(port)`` with a fresh port; retried when another process took the port."""
    error: StartError | None = None
    for _ in range(attempts):
        try:
            return start(free_port())
        except StartError as exc:
            if "in use" not in str(exc).lower():
                raise
            error = exc
    assert error is not None
    raise error


@dataclass
class Origin:
    server: Server
    access_log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def requests(self) -> int:
        """Requests gunicorn has answered so far (lines in its access log)."""
        if not self.access_log.exists():
            return 0
        return len(self.access_log.read_text().splitlines())

    def requests_since(self, before: int, expected: int) -> int:
        """Requests answered since ``before``. gunicorn logs a request after sending the
        response, so wait (bounded) until ``expected`` show up, or briefly when 0."""
        deadline = time.monotonic() + (2.0 if expected else 0.3)
        while True:
            seen = self.requests() - before
            if (expected and seen >= expected) or time.monotonic() > deadline:
                return seen
            time.sleep(0.02)


def start_origin(directory: Path, pki: Pki, fmt: str, *, extra_intermediates: bool) -> Origin:
    """examples/edges/origin.py under gunicorn, configured for one edge's preset."""
    directory.mkdir(parents=True, exist_ok=True)
    access_log = directory / "access.log"
    env = {
        "ORIGINVERIFY_FORMAT": fmt,
        "ORIGINVERIFY_ANCHORS": pki.path("client-ca.pem"),
        "ORIGINVERIFY_EXTRA_INTERMEDIATES": (
            pki.path("intermediates.pem") if extra_intermediates else ""
        ),
        "ORIGINVERIFY_EDGE_SECRET": EDGE_SECRET,
        "PYTHONPATH": str(REPO),
    }

    def start(port: int) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            # What origin.py's docstring asks for: refuse "_" header names (so a spelling
            # an edge failed to strip shows up as a bare 400 instead of vanishing) and
            # accept certificate headers larger than gunicorn's 8190-byte default.
            "--header-map",
            "refuse",
            "--limit-request-field_size",
            "16384",
            "--access-logfile",
            str(access_log),
            "--chdir",
            str(EXAMPLES),
            "origin:app",
        ]
        return Server(f"gunicorn ({fmt})", cmd, port, directory / "gunicorn.log", env=env)

    return Origin(start_on_free_port(start), access_log)


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """What a TLS client got: ``status`` None when no HTTP response came (TLS refused)."""

    status: int | None
    body: str
    error: str = ""

    @property
    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except ValueError:
            raise AssertionError(f"not JSON from the origin: {self.status} {self.body!r}") from None
        assert isinstance(data, dict)
        return data

    def describe(self) -> str:
        return f"status={self.status} body={self.body[:300]!r} error={self.error[-300:]!r}"


def curl(
    pki: Pki,
    port: int,
    identity: str | None,
    headers: Sequence[tuple[str, str]] = (),
    *,
    cert_file: str | None = None,
    path: str = "/whoami",
) -> Reply:
    """curl over HTTP/1.1 to https://localhost:<port> (SNI localhost, server CA pinned)."""
    from tests.conftest import require_binary

    exe = require_binary("curl", "curl")
    cmd = [
        exe,
        "-sS",
        "--http1.1",
        "--max-time",
        "15",
        "--cacert",
        pki.path("server-ca.pem"),
        "--resolve",
        f"localhost:{port}:127.0.0.1",
        "-w",
        "\n%{http_code}",
    ]
    if identity is not None:
        cert = cert_file or pki.path(identity + ".pem")
        cmd += ["--cert", cert, "--key", pki.path(identity + ".key")]
    for name, value in headers:
        cmd += ["-H", f"{name}: {value}"]
    result = subprocess.run(
        [*cmd, f"https://localhost:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    body, _, code = result.stdout.rpartition("\n")
    status = int(code) if code.isdigit() and code != "000" else None
    return Reply(status, body, result.stderr)


def s_client(pki: Pki, port: int, identity: str) -> Reply:
    """One GET with ``openssl s_client``, leaf and chain given separately."""
    from tests.conftest import require_binary

    exe = require_binary("openssl", "openssl")
    cmd = [
        exe,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        "localhost",
        "-CAfile",
        pki.path("server-ca.pem"),
        "-verify_return_error",
        "-cert",
        pki.path(identity + "-leaf.pem"),
        "-cert_chain",
        pki.path(identity + "-chain.pem"),
        "-key",
        pki.path(identity + ".key"),
        "-brief",  # connection summary on stderr, nothing but the response on stdout
        "-ign_eof",
    ]
    request = b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    result = subprocess.run(cmd, input=request, capture_output=True, timeout=30, check=False)
    return parse_response(result.stdout, result.stderr.decode("latin-1"))


def client_context(pki: Pki, identity: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.path("server-ca.pem"))
    ctx.load_cert_chain(pki.path(identity + ".pem"), pki.path(identity + ".key"))
    return ctx


def python_tls(
    ctx: ssl.SSLContext, port: int, session: ssl.SSLSession | None = None
) -> tuple[Reply, ssl.SSLSession | None, bool]:
    """One GET with Python's ssl module (OpenSSL); returns the reply, the TLS session to
    resume with, and whether this connection resumed ``session``."""
    request = b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    data = bytearray()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=15) as sock,
        ctx.wrap_socket(sock, server_hostname="localhost", session=session) as tls,
    ):
        tls.sendall(request)
        while chunk := tls.recv(65536):
            data += chunk
        return parse_response(bytes(data), ""), tls.session, bool(tls.session_reused)


def parse_response(raw: bytes, error: str) -> Reply:
    out = raw.decode("latin-1")
    match = re.search(r"^HTTP/1\.[01] (\d{3})", out, re.MULTILINE)
    if match is None:
        return Reply(None, "", error + out[-2000:])
    head, _, rest = out[match.start() :].partition("\r\n\r\n")
    length = re.search(r"^content-length:\s*(\d+)", head, re.IGNORECASE | re.MULTILINE)
    body = rest[: int(length.group(1))] if length else rest
    return Reply(int(match.group(1)), body, error)
