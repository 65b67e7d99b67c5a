"""What real edges forward passes the cross-check for names with every character RFC 2253
escapes, multi-valued RDNs and non-ASCII text: the DN and validity comparisons never refuse
an honest edge. nginx (``$ssl_client_s_dn``, ``_i_dn``, ``_v_start``, ``_v_end``,
``_serial``: OpenSSL's ``XN_FLAG_RFC2253``) and Apache httpd (``SSL_CLIENT_S_DN``,
``SSL_CLIENT_I_DN``, ``SSL_CLIENT_M_SERIAL``, with the shipped vhost config).

The edge terminates real TLS with a client certificate; a capturing origin records the
header lines it sends, which then go through ``Verifier.verify_request``."""

from __future__ import annotations

import http.client
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from originverify.devpki import CertificateAuthority, cert_pem, key_pem
from originverify.names import read_dn_claim
from tests.adversarial.names_kit import issue, verifier
from tests.adversarial.test_claims import TRICKY
from tests.conftest import EDGE_SECRET, PKI, require_binary
from tests.edges_e2e.conftest import template_values
from tests.edges_e2e.kit import EXAMPLES, Server, render, start_on_free_port

APACHE_CLAIMS = """
    RequestHeader set X-SSL-Client-Verify "%{SSL_CLIENT_VERIFY}s"
    RequestHeader set X-SSL-Client-S-DN   "%{SSL_CLIENT_S_DN}s"
    RequestHeader set X-SSL-Client-I-DN   "%{SSL_CLIENT_I_DN}s"
    RequestHeader set X-SSL-Client-Serial "%{SSL_CLIENT_M_SERIAL}s"

    ProxyPass """

CONF = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.key;
        ssl_verify_client optional_no_ca;
        proxy_set_header X-Origin-Verify "{secret}";
        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
        proxy_set_header X-SSL-Client-S-DN $ssl_client_s_dn;
        proxy_set_header X-SSL-Client-I-DN $ssl_client_i_dn;
        proxy_set_header X-SSL-Client-Serial $ssl_client_serial;
        proxy_set_header X-SSL-Client-V-Start $ssl_client_v_start;
        proxy_set_header X-SSL-Client-V-End $ssl_client_v_end;
        location / {{ proxy_pass http://127.0.0.1:{upstream}; }}
    }}
}}
"""

Captured = list[tuple[str, str]]


class _Capture(http.server.BaseHTTPRequestHandler):
    seen: list[Captured]

    def do_GET(self) -> None:
        # Octets as sent, one code point each (what a WSGI or ASGI server hands over).
        type(self).seen.append([(k, v) for k, v in self.headers.raw_items()])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _start_nginx(directory: Path, upstream: int) -> Server:
    binary = require_binary("nginx", "nginx")

    def start(port: int) -> Server:
        conf = CONF.format(dir=directory, port=port, secret=EDGE_SECRET, upstream=upstream)
        (directory / "nginx.conf").write_text(conf)
        cmd = [binary, "-p", str(directory), "-c", str(directory / "nginx.conf")]
        cmd += ["-e", str(directory / "error.log")]
        return Server("nginx", cmd, port, directory / "nginx.out")

    return start_on_free_port(start)


def _start_apache(directory: Path, upstream: int) -> Server:
    binary = require_binary("apache2", "apache2")
    folder = EXAMPLES / "apache"

    def start(port: int) -> Server:
        values = template_values(
            directory, lambda f: str(directory / f), f"127.0.0.1:{upstream}", port, folder
        )
        vhost = render(folder / "edge-vhost.conf", values, directory / "edge-vhost.conf")
        text = vhost.read_text()
        assert text.count("\n    ProxyPass ") == 1
        vhost.write_text(text.replace("\n    ProxyPass ", APACHE_CLAIMS, 1))
        config = render(folder / "standalone.conf", values, directory / "httpd.conf")
        cmd = [binary, "-X", "-f", str(config)]
        return Server(
            "apache2", cmd, port, directory / "apache2.out", env={"EDGE_SECRET": EDGE_SECRET}
        )

    return start_on_free_port(start)


EDGES = {"nginx": _start_nginx, "apache": _start_apache}


@pytest.fixture(scope="module", params=sorted(EDGES))
def edge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int, list[Captured]]]:
    directory = tmp_path_factory.mktemp(f"{request.param}-dn")
    server_issued = CertificateAuthority.root_ca("dn server root").issue_server("127.0.0.1")
    (directory / "server.pem").write_bytes(cert_pem(server_issued.cert))
    (directory / "server.key").write_bytes(key_pem(server_issued.key))
    handler = type("Capture", (_Capture,), {"seen": []})
    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=origin.serve_forever, daemon=True)
    thread.start()
    try:
        server = EDGES[request.param](directory, origin.server_address[1])
        try:
            yield request.param, server.port, handler.seen
        finally:
            server.stop()
    finally:
        origin.shutdown()
        origin.server_close()


def _through_edge(port: int, seen: list[Captured], cert: bytes, key: bytes, tmp: Path) -> Captured:
    (tmp / "client.pem").write_bytes(cert)
    (tmp / "client.key").write_bytes(key)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(tmp / "client.pem", tmp / "client.key")
    before = len(seen)
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("GET", "/")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    assert len(seen) == before + 1
    return seen[-1]


@pytest.mark.parametrize("label", sorted(TRICKY))
def test_real_edge_claims_pass_the_cross_check(
    edge: tuple[str, int, list[Captured]], pki: PKI, label: str, tmp_path: Path
) -> None:
    fmt, port, seen = edge
    leaf = issue(pki.intermediate, TRICKY[label])
    bundle = cert_pem(leaf.cert) + b"".join(cert_pem(c) for c in leaf.intermediates)
    headers = _through_edge(port, seen, bundle, key_pem(leaf.key), tmp_path)
    claimed = dict(headers)
    assert claimed.get("X-SSL-Client-S-DN"), headers  # nginx did send the DN claims
    for header in ("X-SSL-Client-S-DN", "X-SSL-Client-I-DN"):  # and they are compared
        assert read_dn_claim(claimed[header]) is not None, claimed[header]
    v = verifier(pki, format=fmt, extra_intermediates=pki.intermediate.pem)
    identity = v.verify_request(headers)
    assert identity is not None
    assert identity.claims.serial == leaf.cert.serial_number
    assert identity.claims.unverified_subject == claimed["X-SSL-Client-S-DN"]
    if fmt == "nginx":
        assert identity.claims.not_after == leaf.cert.not_valid_after_utc
