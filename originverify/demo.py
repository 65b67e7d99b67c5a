"""``originverify demo``: the whole job on a throwaway PKI, with real TLS and real HTTP.

A client CA and an edge server certificate are generated; the reference edge forwarder runs
in passthrough mode (like CloudFront: it checks only proof of possession) in front of an
example Flask origin that verifies with originverify; real mTLS requests are made with the
standard library's ``http.client`` and ``ssl``; each verdict is printed with the reason.
Everything listens on 127.0.0.1, on free ports, and is stopped at the end.

Without the ``edge`` and ``flask`` extras, the same requests are judged in-process instead
(``scenarios``), so the demo still shows every verdict.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .devpki import SERVER_AUTH, CertificateAuthority, Issued, cert_der, cert_pem
from .formats.sfbinary import serialize_item, serialize_list
from .source import EdgeSecret
from .verifier import Verifier

SECRET_ENV = "ORIGINVERIFY_DEMO_EDGE_SECRET"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class Scenario:
    name: str
    headers: list[tuple[str, str]]
    expect: str  # "accepted" or a reason code


@dataclass(frozen=True)
class Case:
    name: str
    expect: tuple[int, str]  # status, reason (or "accepted", or "edge")
    why: str
    send: Callable[[], tuple[int, str]]


@dataclass
class DemoPKI:
    root: CertificateAuthority
    issuing: CertificateAuthority
    alice: Issued
    expired: Issued
    stranger: Issued
    server_only: Issued


def make_pki() -> DemoPKI:
    now = dt.datetime.now(dt.UTC)
    root = CertificateAuthority.root_ca("Demo Device Root CA")
    issuing = root.intermediate("Demo Issuing CA")
    return DemoPKI(
        root=root,
        issuing=issuing,
        alice=issuing.issue("device-alice", uris=["spiffe://demo.example/device/alice"]),
        expired=issuing.issue(
            "device-old",
            not_before=now - dt.timedelta(days=400),
            not_after=now - dt.timedelta(days=1),
        ),
        stranger=CertificateAuthority.root_ca("Unknown CA")
        .intermediate("Unknown Issuing")
        .issue("eve"),
        server_only=issuing.issue("web-server", dns=["www.demo.example"], eku=(SERVER_AUTH,)),
    )


# -- the full demo: forwarder + Flask origin + real clients ------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(WSGIServer):
    daemon_threads = True

    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(target=self._handle, args=(request, client_address), daemon=True).start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        finally:
            self.shutdown_request(request)


def origin_app(anchors: Path) -> Any:
    """The example origin: a Flask app protected by the originverify extension."""
    from flask import Flask, jsonify
    from flask_originverify import ClientCertificateError, OriginVerify, current_client

    app = Flask("originverify-demo-origin")
    app.config.update(
        ORIGINVERIFY_ANCHORS=str(anchors),
        ORIGINVERIFY_EDGE_SECRETS_ENV=SECRET_ENV,
        ORIGINVERIFY_MODE="required",
        ORIGINVERIFY_APP_WIDE=True,
    )
    OriginVerify(app)

    @app.get("/whoami")
    def whoami() -> Any:
        return jsonify(subject=current_client.subject, spiffe_id=current_client.spiffe_id)

    @app.errorhandler(ClientCertificateError)
    def refused(error: ClientCertificateError) -> Any:
        # A demo shows the reason code; production apps usually keep it in the logs only.
        return jsonify(error=error.description, reason=error.reason.value), error.code

    return app


def _request(
    port: int, context: ssl.SSLContext | None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        conn.request("GET", "/whoami", headers=headers or {})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        data = json.loads(body)
    except ValueError:
        return response.status, "edge"
    if response.status == 200:
        return 200, "accepted: " + str(data.get("subject"))
    return response.status, str(data.get("reason", "?"))


def run_live(pki: DemoPKI, tmp: Path, stream: TextIO) -> int:
    # The demo prints each verdict and its reason itself; the origin's WARNING lines
    # (one per refusal, which a real deployment wants on stderr) would repeat them.
    logging.getLogger("originverify").addHandler(logging.NullHandler())
    secret = secrets.token_urlsafe(32)
    os.environ[SECRET_ENV] = secret
    (tmp / "client-ca.pem").write_bytes(cert_pem(pki.root.cert))
    server_ca = CertificateAuthority.root_ca("Demo Edge Server CA")
    (tmp / "server-ca.pem").write_bytes(server_ca.pem)
    server = server_ca.issue_server("127.0.0.1").write(tmp, "edge-server")
    files = {
        name: issued.write(tmp, name)
        for name, issued in (
            ("alice", pki.alice),
            ("expired", pki.expired),
            ("stranger", pki.stranger),
            ("server-only", pki.server_only),
        )
    }
    origin_port, edge_port = _free_port(), _free_port()
    httpd = make_server(
        "127.0.0.1",
        origin_port,
        origin_app(tmp / "client-ca.pem"),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    edge = _start_edge(edge_port, origin_port, server)
    try:
        _wait_for(edge_port, edge)

        def tls(client: str | None) -> ssl.SSLContext:
            context = ssl.create_default_context(cafile=str(tmp / "server-ca.pem"))
            if client is not None:
                context.load_cert_chain(files[client]["cert"], files[client]["key"])
            return context

        cases = _cases(serialize_item(pki.alice.der), edge_port, origin_port, tls)
        return _report(cases, stream, edge_port, origin_port)
    finally:
        edge.terminate()
        try:
            edge.wait(timeout=15)
        except subprocess.TimeoutExpired:
            edge.kill()
        httpd.shutdown()
        httpd.server_close()


def _start_edge(
    edge_port: int, origin_port: int, server: dict[str, Path]
) -> subprocess.Popen[bytes]:
    """The reference forwarder in passthrough mode, as CloudFront would sit in front."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "originverify.edge",
            "--listen",
            f"127.0.0.1:{edge_port}",
            "--upstream",
            f"http://127.0.0.1:{origin_port}",
            "--cert",
            str(server["cert"]),
            "--key",
            str(server["key"]),
            "--mode",
            "passthrough",
            "--origin-secret-env",
            SECRET_ENV,
            "--access-log",
            "off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


def _cases(
    forged: str, edge_port: int, origin_port: int, tls: Callable[[str | None], ssl.SSLContext]
) -> list[Case]:
    """What the demo tries, with the verdict each must get and why."""
    return [
        Case(
            "valid device certificate + chain",
            (200, "accepted"),
            "chain re-validated up to the origin's own root",
            lambda: _request(edge_port, tls("alice")),
        ),
        Case(
            "no client certificate",
            (401, "missing_certificate"),
            "passthrough lets it in; the origin requires one",
            lambda: _request(edge_port, tls(None)),
        ),
        Case(
            "certificate from an unknown CA",
            (403, "untrusted_chain"),
            "the edge accepted it (passthrough); the origin did not",
            lambda: _request(edge_port, tls("stranger")),
        ),
        Case(
            "expired certificate",
            (403, "expired"),
            "validity is checked at the origin",
            lambda: _request(edge_port, tls("expired")),
        ),
        Case(
            "server certificate used as a client",
            (403, "bad_usage"),
            "EKU serverAuth only: not for client authentication",
            lambda: _request(edge_port, tls("server-only")),
        ),
        Case(
            "client sends its own Client-Cert header",
            (401, "missing_certificate"),
            "the edge replaces forged certificate headers",
            lambda: _request(edge_port, tls(None), {"Client-Cert": forged}),
        ),
        Case(
            "client sends Client_Cert (underscore)",
            (400, "edge"),
            "the edge refuses underscore spellings outright",
            lambda: _request(edge_port, tls(None), {"Client_Cert": forged}),
        ),
        Case(
            "spoofed Client-Cert straight to the origin",
            (403, "edge_secret_missing"),
            "no edge secret: the header proves nothing",
            lambda: _request(origin_port, None, {"Client-Cert": forged}),
        ),
    ]


def _wait_for(port: int, edge: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if edge.poll() is not None:
            err = edge.stderr.read().decode(errors="replace") if edge.stderr else ""
            raise RuntimeError(f"the edge forwarder exited: {err.strip()[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the edge forwarder did not start listening")


def _report(cases: list[Case], stream: TextIO, edge_port: int, origin_port: int) -> int:
    print(
        "originverify demo: client ⇄ (mTLS) reference edge forwarder, passthrough mode, "
        f"127.0.0.1:{edge_port} ⇄ Flask origin verifying with originverify, "
        f"127.0.0.1:{origin_port}\n",
        file=stream,
    )
    width = max(len(c.name) for c in cases)
    print(f"  {'request':<{width}}  status  verdict", file=stream)
    wrong = 0
    for case in cases:
        status, verdict = case.send()
        reason = verdict.split(":")[0]
        ok = status == case.expect[0] and reason == case.expect[1]
        wrong += not ok
        mark = "✓" if ok else f"✗ UNEXPECTED (wanted {case.expect[0]} {case.expect[1]})"
        shown = verdict if verdict != "edge" else "refused by the edge"
        print(f"  {case.name:<{width}}  {status:>6}  {shown}  {mark}", file=stream)
        print(f"  {'':<{width}}          why: {case.why}", file=stream)
    print(f"\n{len(cases) - wrong}/{len(cases)} verdicts as expected", file=stream)
    return 1 if wrong else 0


# -- the offline demo: the same verdicts without the forwarder ---------------------------------


def scenarios(pki: DemoPKI, secret: str) -> list[Scenario]:
    """Requests as CloudFront passthrough would forward them (or an attacker would forge)."""

    def edge(
        leaf: Issued | None, *, chain: tuple[bytes, ...] | None = None, with_secret: bool = True
    ) -> list[tuple[str, str]]:
        headers = [("Host", "api.demo.example")]
        if with_secret:
            headers.append(("X-Origin-Verify", secret))
        if leaf is not None:
            headers.append(("Client-Cert", serialize_item(leaf.der)))
            chain_der = leaf.chain_der if chain is None else chain
            if chain_der:
                headers.append(("Client-Cert-Chain", serialize_list(chain_der)))
            headers.append(("CloudFront-Viewer-Cert-Present", "1"))
        else:
            headers.append(("CloudFront-Viewer-Cert-Present", "0"))
        return headers

    alice, stranger = pki.alice, pki.stranger
    forged = [*edge(None, with_secret=False), ("Client-Cert", serialize_item(alice.der))]
    rogue_root = edge(stranger, chain=(*stranger.chain_der, cert_der(stranger.root)))
    garbage = [h for h in edge(alice) if h[0] != "Client-Cert"] + [("Client-Cert", ":no!:")]
    return [
        Scenario("valid device certificate + chain", edge(alice), "accepted"),
        Scenario("no client certificate", edge(None), "missing_certificate"),
        Scenario(
            "certificate from an unknown CA (its root sent too)", rogue_root, "untrusted_chain"
        ),
        Scenario("expired certificate", edge(pki.expired), "expired"),
        Scenario("server certificate used as client", edge(pki.server_only), "bad_usage"),
        Scenario("leaf only, intermediate not forwarded", edge(alice, chain=()), "untrusted_chain"),
        Scenario("spoofed Client-Cert sent straight to the origin", forged, "edge_secret_missing"),
        Scenario(
            "Client_Cert underscore spelling smuggled in",
            [*edge(None), ("Client_Cert", serialize_item(alice.der))],
            "ambiguous_header_name",
        ),
        Scenario(
            "Client-Cert sent twice",
            [*edge(alice), ("Client-Cert", serialize_item(alice.der))],
            "duplicate_header",
        ),
        Scenario("garbage in Client-Cert", garbage, "malformed_header"),
    ]


def run_offline(pki: DemoPKI, tmp: Path, stream: TextIO) -> int:
    secret = secrets.token_urlsafe(32)
    cases = scenarios(pki, secret)
    ca_path = tmp / "client-ca.pem"
    ca_path.write_bytes(pki.root.pem)
    verifier = Verifier(trust=ca_path, source=EdgeSecret(secrets=[secret]))
    print(
        "originverify demo (offline: CloudFront passthrough headers judged in-process)\n",
        file=stream,
    )
    width = max(len(c.name) for c in cases)
    print(f"  {'request':<{width}}  {'status':>6}  verdict", file=stream)
    wrong = 0
    for case in cases:
        report = verifier.explain(case.headers, peer="203.0.113.7")
        if report.error is None:
            got, status = "accepted", 200
            verdict = f"accepted: {report.identity.subject if report.identity else 'anonymous'}"
        else:
            got, status = report.error.reason.value, report.error.http_status
            verdict = got
        wrong += got != case.expect
        mark = "✓" if got == case.expect else "✗ UNEXPECTED"
        print(f"  {case.name:<{width}}  {status:>6}  {verdict}  {mark}", file=stream)
    print(f"\n{len(cases) - wrong}/{len(cases)} verdicts as expected", file=stream)
    return 1 if wrong else 0


def live_available() -> bool:
    try:
        import flask  # noqa: F401
        import flask_originverify  # noqa: F401
        import OpenSSL  # noqa: F401

        from . import edge  # noqa: F401
    except ImportError:
        return False
    return True


def run(out: TextIO | None = None, *, offline: bool = False) -> int:
    stream = out or sys.stdout
    pki = make_pki()
    with tempfile.TemporaryDirectory(prefix="originverify-demo-") as tmp:
        if offline or not live_available():
            if not offline:
                print(
                    "(the 'edge' and 'flask' extras are not installed: offline demo)\n", file=stream
                )
            return run_offline(pki, Path(tmp), stream)
        return run_live(pki, Path(tmp), stream)
