"""Test kit for the edge forwarder: a throwaway PKI, a real origin, the forwarder as a process.

Everything listens on 127.0.0.1 with ports chosen by the kernel; every wait is bounded.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO = Path(__file__).resolve().parents[2]
EDGE_SECRET = "edge-secret-for-tests-0123456789abcdef"

# ---------------------------------------------------------------------------------------------
# PKI
# ---------------------------------------------------------------------------------------------


@dataclass
class Cert:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    issuer: Cert | None = None

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def chain(self) -> list[Cert]:
        """This certificate, then its issuers up to (excluding) the root: what a client sends."""
        out: list[Cert] = [self]
        node = self.issuer
        while node is not None and node.issuer is not None:
            out.append(node)
            node = node.issuer
        return out


def _name(cn: str, org: str = "originverify tests") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_cert(
    subject: x509.Name,
    issuer: Cert | None,
    *,
    ca: bool,
    sans: list[x509.GeneralName] | None = None,
    serial: int | None = None,
    eku: x509.ObjectIdentifier | None = None,
) -> Cert:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    signer = issuer.key if issuer else key
    cert = builder.sign(signer, hashes.SHA256())
    return Cert(cert, key, issuer)


@dataclass
class Pki:
    """Files on disk for every certificate the tests present or trust."""

    root: Path
    server_ca: Cert
    client_root: Cert
    client: Cert  # client_root -> intermediate -> client leaf
    long_chain: Cert  # client_root -> 4 intermediates -> leaf
    self_signed: Cert
    stranger: Cert  # issued by a CA nobody trusts
    files: dict[str, Path] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return str(self.files[name])


def build_pki(root: Path) -> Pki:
    server_ca = make_cert(_name("Edge Test Server CA"), None, ca=True)
    server = make_cert(
        _name("localhost"),
        server_ca,
        ca=False,
        sans=[
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ],
        eku=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client_root = make_cert(_name("Client Root CA"), None, ca=True)
    inter = make_cert(_name("Client Issuing CA"), client_root, ca=True)
    # A subject that needs RFC 4514 escaping and a serial with the high bit set.
    tricky_subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Zoë & Co, "Edge"'),
            x509.NameAttribute(NameOID.COMMON_NAME, "client+one"),
        ]
    )
    client = make_cert(
        tricky_subject,
        inter,
        ca=False,
        sans=[
            x509.UniformResourceIdentifier("spiffe://example.org/ns/edge/sa/client"),
            x509.DNSName("client.example"),
            x509.DNSName("alt.example"),
        ],
        serial=0x8BADF00D_0000_0001,
        eku=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    node = client_root
    for depth in range(4):
        node = make_cert(_name(f"Chain CA {depth + 1}"), node, ca=True)
    long_chain = make_cert(
        _name("long chain client"), node, ca=False, eku=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    self_signed = make_cert(_name("self-signed client"), None, ca=False)
    stranger_ca = make_cert(_name("Stranger CA"), None, ca=True)
    stranger = make_cert(
        _name("stranger"), stranger_ca, ca=False, eku=ExtendedKeyUsageOID.CLIENT_AUTH
    )

    pki = Pki(root, server_ca, client_root, client, long_chain, self_signed, stranger)

    def write(name: str, data: bytes) -> None:
        path = root / name
        path.write_bytes(data)
        pki.files[name] = path

    write("server-ca.pem", server_ca.pem)
    write("server.pem", server.pem + server_ca.pem)
    write("server.key", server.key_pem)
    write("client-ca.pem", client_root.pem)
    for label, leaf in (
        ("client", client),
        ("long", long_chain),
        ("selfsigned", self_signed),
        ("stranger", stranger),
    ):
        write(f"{label}.pem", b"".join(c.pem for c in leaf.chain()))
        write(f"{label}.key", leaf.key_pem)
    write("secret.txt", EDGE_SECRET.encode() + b"\n")
    return pki


# ---------------------------------------------------------------------------------------------
# The origin
# ---------------------------------------------------------------------------------------------


class OriginState:
    """What the origin observed, shared with the tests (the origin runs in a test thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ports: list[int] = []
        self.upload_received = 0
        self.upload_progress = threading.Event()
        self.upload_threshold = 1 << 20
        self.slow_started = threading.Event()

    def reset(self) -> None:
        with self.lock:
            self.ports.clear()
            self.upload_received = 0
            self.upload_progress.clear()
            self.slow_started.clear()


def pattern(size: int) -> bytes:
    block = hashlib.sha256(b"edge").digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


class _Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _OriginServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        state = self.server.state
        body = bytearray()
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline()
                if not line:
                    break  # the edge gave up on this upload (e.g. a malformed body)
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                chunk = self.rfile.read(size)
                self.rfile.readline()
                body += chunk
                with state.lock:
                    state.upload_received += len(chunk)
                    if state.upload_received >= state.upload_threshold:
                        state.upload_progress.set()
        elif self.headers.get("Content-Length"):
            body += self.rfile.read(int(self.headers["Content-Length"]))
        return bytes(body)

    def _json(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.server.state.lock:
            self.server.state.ports.append(self.client_address[1])
        body = self._read_body()
        if url.path == "/slow":
            self.server.state.slow_started.set()
            time.sleep(float(query.get("delay", "1")))
        if url.path == "/download":
            size = int(query["size"])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            data = pattern(size)
            for i in range(0, size, 65536):
                piece = data[i : i + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self._json(
            {
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_len": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "port": self.client_address[1],
            }
        )

    do_GET = do_POST = do_PUT = do_HEAD = _handle


class _OriginServer(ThreadingHTTPServer):
    daemon_threads = True
    state: OriginState

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The edge hangs up on purpose in the timeout tests; only report real errors.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Origin:
    url: str
    port: int
    state: OriginState
    server: _OriginServer


@pytest.fixture(scope="session")
def origin() -> Iterator[Origin]:
    server = _OriginServer(("127.0.0.1", 0), _Origin)
    server.state = OriginState()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    port = server.server_address[1]
    yield Origin(f"http://127.0.0.1:{port}", port, server.state, server)
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# The forwarder process
# ---------------------------------------------------------------------------------------------


class EdgeProcess:
    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        cmd = [sys.executable, "-m", "originverify.edge", "--listen", "127.0.0.1:0", *args]
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.port = 0
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._ready.wait(20):
            self.stop()
            raise RuntimeError("forwarder did not start:\n" + "".join(self.lines))
        if not self.port:
            raise RuntimeError("forwarder failed:\n" + "".join(self.lines))

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "listening on https://127.0.0.1:" in line and not self.port:
                self.port = int(line.split("https://127.0.0.1:")[1].split()[0])
                self._ready.set()
        self._ready.set()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def access_lines(self) -> list[str]:
        return [line for line in self.lines if line.startswith("127.0.0.1 ")]

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._close_pipe()
        return code

    def _close_pipe(self) -> None:
        self._reader.join(5)
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_pipe()

    def rss_kib(self, pid: int | None = None) -> int:
        status = Path(f"/proc/{pid or self.proc.pid}/status").read_text()
        return int(
            next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]
        )


def edge_args(pki: Pki, upstream: str, *extra: str) -> list[str]:
    return [
        "--upstream",
        upstream,
        "--cert",
        pki.path("server.pem"),
        "--key",
        pki.path("server.key"),
        "--origin-secret-file",
        pki.path("secret.txt"),
        *extra,
    ]


# ---------------------------------------------------------------------------------------------
# Clients and decoders
# ---------------------------------------------------------------------------------------------


def require_binary(name: str, package: str) -> str:
    """Path of a client binary; skipped when missing, except in CI where it must run."""
    path = shutil.which(name)
    if path is None:
        how = f"apt-get install -y {package}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI; install it with: {how}")
        pytest.skip(f"{name} not installed; install it with: {how}")
    return path


def client_context(pki: Pki, identity: str | None = "client", **kw: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.path("server-ca.pem"))
    if identity is not None:
        ctx.load_cert_chain(pki.path(f"{identity}.pem"), pki.path(f"{identity}.key"))
    for name, value in kw.items():
        setattr(ctx, name, value)
    return ctx


def curl(
    pki: Pki, url: str, *args: str, identity: str | None = "client"
) -> subprocess.CompletedProcess[str]:
    exe = require_binary("curl", "curl")
    cmd = [exe, "-sS", "--http1.1", "--max-time", "20", "--cacert", pki.path("server-ca.pem")]
    if identity is not None:
        cmd += ["--cert", pki.path(f"{identity}.pem"), "--key", pki.path(f"{identity}.key")]
    return subprocess.run(
        [*cmd, *args, url], capture_output=True, text=True, timeout=30, check=False
    )


def echo(
    pki: Pki, edge: EdgeProcess, *args: str, identity: str | None = "client"
) -> dict[str, Any]:
    """GET /echo with curl; returns what the origin received."""
    result = curl(pki, edge.url + "/echo", *args, identity=identity)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def values(payload: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in payload["headers"] if k.lower() == name.lower()]


def only(payload: dict[str, Any], name: str) -> str:
    found = values(payload, name)
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


@contextlib.contextmanager
def tls_connection(
    port: int, ctx: ssl.SSLContext, *, session: ssl.SSLSession | None = None, timeout: float = 10
) -> Iterator[ssl.SSLSocket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        with ctx.wrap_socket(sock, server_hostname="localhost", session=session) as tls:
            yield tls
    finally:
        sock.close()


def raw_request(port: int, ctx: ssl.SSLContext, data: bytes, *, timeout: float = 10) -> bytes:
    """Send bytes over one TLS connection and read until the server closes or goes quiet."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock,
        ctx.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        tls.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = tls.recv(65536)
            except (TimeoutError, ssl.SSLError, ConnectionError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def pem_blocks(text: str) -> list[bytes]:
    """DER of each PEM block in ``text``."""
    out = []
    for block in text.split("-----BEGIN CERTIFICATE-----")[1:]:
        body = block.split("-----END CERTIFICATE-----")[0]
        out.append(base64.b64decode("".join(body.split())))
    return out


def url_pem(value: str) -> list[bytes]:
    return pem_blocks(unquote(value))


@dataclass
class Response:
    status_code: int
    headers: http.client.HTTPMessage


class KeepAliveClient:
    """One TLS connection carrying several requests; refuses to reconnect silently."""

    def __init__(self, port: int, ctx: ssl.SSLContext, timeout: float = 10) -> None:
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
        self.conn.connect()
        self.sock = self.conn.sock
        self.conn.auto_open = 0  # a closed connection raises instead of opening a new one

    def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> tuple[Response, bytes]:
        self.conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        self.conn.putheader("Host", "localhost")
        for name, value in headers or []:
            self.conn.putheader(name, value)
        if body:
            self.conn.putheader("Content-Length", str(len(body)))
        self.conn.endheaders(body or None)
        response = self.conn.getresponse()
        data = response.read()
        assert self.conn.sock is self.sock, (
            f"the edge closed the connection after {response.status} "
            f"(Connection: {response.headers.get('Connection')})"
        )
        return Response(response.status, response.headers), data

    def close(self) -> None:
        self.conn.close()
