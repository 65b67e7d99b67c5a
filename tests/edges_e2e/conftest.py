"""Fixtures for the real-edge tests: the PKI, and one running edge + origin per edge.

Each edge is described once (``EDGES``): which Debian binary, which shipped files it renders,
which origin preset reads what it forwards, and how a client would forge its headers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from originverify.devpki import Issued
from tests.conftest import require_binary
from tests.edges_e2e.kit import (
    EDGE_SECRET,
    EXAMPLES,
    Origin,
    Pki,
    Server,
    apache_headers,
    build_pki,
    nginx_headers,
    render,
    rfc9440_headers,
    start_on_free_port,
    start_origin,
)

Forge = Callable[[Issued, str], list[tuple[str, str]]]


@dataclass(frozen=True)
class EdgeSpec:
    name: str
    binary: str
    package: str
    preset: str  # ORIGINVERIFY_FORMAT of the origin behind it
    forwards_chain: bool  # False: the origin needs extra_intermediates
    cert_header: str  # the certificate header the edge writes
    underscore_spelling: str  # the same name as a client would smuggle it
    forge: Forge  # alice's certificate the way this edge would write it


EDGES = (
    EdgeSpec(
        "nginx",
        "nginx",
        "nginx",
        "nginx",
        False,
        "X-SSL-Client-Cert",
        "X_SSL_Client_Cert",
        nginx_headers,
    ),
    EdgeSpec(
        "haproxy",
        "haproxy",
        "haproxy",
        "rfc9440",
        True,
        "Client-Cert",
        "Client_Cert",
        rfc9440_headers,
    ),
    EdgeSpec(
        "caddy",
        "caddy",
        "caddy",
        "rfc9440",
        False,
        "Client-Cert",
        "Client_Cert",
        rfc9440_headers,
    ),
    EdgeSpec(
        "apache",
        "apache2",
        "apache2",
        "apache",
        True,
        "X-SSL-Client-Cert",
        "X_SSL_Client_Cert",
        apache_headers,
    ),
)

APACHE_MODULE_DIRS = (
    "/usr/lib/apache2/modules",
    "/usr/lib64/httpd/modules",
    "/usr/lib/httpd/modules",
)


@dataclass
class Running:
    spec: EdgeSpec
    edge: Server
    origin: Origin
    pki: Pki

    @property
    def port(self) -> int:
        return self.edge.port


def template_values(
    tmp: Path, file: Callable[[str], str], upstream: str, port: int, folder: Path
) -> dict[str, str]:
    """A value for every placeholder the shipped configs use (``file``: PKI file paths)."""
    module_dir = next(
        (d for d in APACHE_MODULE_DIRS if Path(d, "mod_ssl.so").exists()), APACHE_MODULE_DIRS[0]
    )
    return {
        "LISTEN_HOST": "127.0.0.1",
        "LISTEN_PORT": str(port),
        "SERVER_NAME": "localhost",
        "SERVER_CERT": file("server.pem"),
        "SERVER_KEY": file("server.key"),
        "SERVER_CERT_AND_KEY": file("server-bundle.pem"),
        "CLIENT_CA": file("client-ca.pem"),
        "UPSTREAM": upstream,
        "RUNTIME_DIR": str(tmp),
        "CONFIG_DIR": str(folder),
        "MODULE_DIR": module_dir,
        "EDGE_SECRET": EDGE_SECRET,
        "EDGE_SECRET_INCLUDE": str(tmp / "edge-secret.conf"),
    }


def _start_nginx(binary: str, tmp: Path, pki: Pki, upstream: str) -> Server:
    folder = EXAMPLES / "nginx"

    def start(port: int) -> Server:
        values = template_values(tmp, pki.path, upstream, port, folder)
        render(folder / "edge.conf", values, tmp / "edge.conf")
        render(folder / "edge-secret.conf.example", values, tmp / "edge-secret.conf")
        render(folder / "standalone.conf", values, tmp / "nginx.conf")
        error_log = tmp / "error.log"
        cmd = [binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(error_log)]
        return Server("nginx", cmd, port, tmp / "nginx.out", extra_logs=(error_log,))

    return start_on_free_port(start)


def _start_haproxy(binary: str, tmp: Path, pki: Pki, upstream: str) -> Server:
    folder = EXAMPLES / "haproxy"

    def start(port: int) -> Server:
        values = template_values(tmp, pki.path, upstream, port, folder)
        config = render(folder / "haproxy.cfg", values, tmp / "haproxy.cfg")
        cmd = [binary, "-db", "-f", str(config)]
        return Server("haproxy", cmd, port, tmp / "haproxy.log", env={"EDGE_SECRET": EDGE_SECRET})

    return start_on_free_port(start)


def _start_caddy(binary: str, tmp: Path, pki: Pki, upstream: str) -> Server:
    folder = EXAMPLES / "caddy"
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {
        "EDGE_SECRET": EDGE_SECRET,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }

    def start(port: int) -> Server:
        values = template_values(tmp, pki.path, upstream, port, folder)
        config = render(folder / "Caddyfile", values, tmp / "Caddyfile")
        cmd = [binary, "run", "--config", str(config), "--adapter", "caddyfile"]
        return Server("caddy", cmd, port, tmp / "caddy.log", env=env)

    return start_on_free_port(start)


def _start_apache(binary: str, tmp: Path, pki: Pki, upstream: str) -> Server:
    folder = EXAMPLES / "apache"

    def start(port: int) -> Server:
        values = template_values(tmp, pki.path, upstream, port, folder)
        render(folder / "edge-vhost.conf", values, tmp / "edge-vhost.conf")
        config = render(folder / "standalone.conf", values, tmp / "httpd.conf")
        cmd = [binary, "-X", "-f", str(config)]
        return Server(
            "apache2",
            cmd,
            port,
            tmp / "apache2.out",
            env={"EDGE_SECRET": EDGE_SECRET},
            extra_logs=(tmp / "error.log",),
        )

    return start_on_free_port(start)


# Each starts one edge from its binary with the shipped files, in front of ``upstream``
# (host:port).
LAUNCHERS: dict[str, Callable[[str, Path, Pki, str], Server]] = {
    "nginx": _start_nginx,
    "haproxy": _start_haproxy,
    "caddy": _start_caddy,
    "apache": _start_apache,
}


@pytest.fixture(scope="session")
def e2e_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("edges-pki"))


@pytest.fixture(scope="module", params=EDGES, ids=[e.name for e in EDGES])
def running(
    request: pytest.FixtureRequest, e2e_pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """The edge, started from its package binary with the shipped config, and its origin."""
    spec: EdgeSpec = request.param
    binary = require_binary(spec.binary, spec.package)
    tmp = tmp_path_factory.mktemp(f"edge-{spec.name}")
    origin = start_origin(
        tmp / "origin", e2e_pki, spec.preset, extra_intermediates=not spec.forwards_chain
    )
    try:
        edge = LAUNCHERS[spec.name](binary, tmp, e2e_pki, origin.address)
    except BaseException:
        origin.server.stop()
        raise
    try:
        yield Running(spec, edge, origin, e2e_pki)
    finally:
        edge.stop()
        origin.server.stop()
