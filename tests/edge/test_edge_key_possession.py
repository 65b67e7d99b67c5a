"""Proof of possession: a client that has a certificate but not its key fails the handshake.

The edge's only proof that a client owns the certificate it forwards is the TLS
CertificateVerify signature. To test it, the client needs to present a certificate and sign
with a different key, which real TLS stacks refuse to do: OpenSSL checks locally that the key
matches the certificate (``X509_check_private_key``) before it sends anything. It compares
public keys only, though, so the forged key here is an EC private key file that carries the
certificate's public point next to an unrelated private scalar. OpenSSL (Python's ``ssl``,
``openssl s_client``) loads it as "the key of this certificate", presents the certificate and
signs CertificateVerify with the wrong scalar, exactly what an attacker holding only a copied
certificate would send. The edge must reject that handshake in TLS 1.3 and in TLS 1.2, in
every mode, and nothing may reach the origin.
"""

from __future__ import annotations

import base64
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.edge.conftest import StartEdge
from tests.edge.edgekit import (
    EdgeProcess,
    Origin,
    Pki,
    client_context,
    require_binary,
    tls_connection,
)

VERSIONS = {"TLSv1.3": ssl.TLSVersion.TLSv1_3, "TLSv1.2": ssl.TLSVersion.TLSv1_2}
REQUEST = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def forged_key(cert_pem: Path, out: Path) -> Path:
    """A SEC1 key file with the certificate's public point and someone else's secret."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    point = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    public = cert.public_key().public_bytes(*point)
    other = ec.generate_private_key(ec.SECP256R1())
    der = other.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    own = other.public_key().public_bytes(*point)
    assert der.count(own) == 1 and len(own) == len(public)
    body = base64.encodebytes(der.replace(own, public))
    out.write_bytes(b"-----BEGIN EC PRIVATE KEY-----\n" + body + b"-----END EC PRIVATE KEY-----\n")
    return out


@pytest.fixture(scope="module")
def forged(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return forged_key(Path(pki.path("client.pem")), tmp_path_factory.mktemp("forged") / "k.pem")


@pytest.fixture(scope="module", params=["passthrough", "required"])
def edge(request: pytest.FixtureRequest, pki: Pki, start_edge: StartEdge) -> EdgeProcess:
    if request.param == "passthrough":
        return start_edge()
    return start_edge("--mode", "required", "--client-ca", pki.path("client-ca.pem"))


def exchange(port: int, ctx: ssl.SSLContext) -> bytes:
    with tls_connection(port, ctx) as tls:
        tls.sendall(REQUEST)
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        return data


@pytest.mark.parametrize("version", VERSIONS)
def test_certificate_without_its_key_fails_the_handshake(
    pki: Pki, edge: EdgeProcess, origin: Origin, forged: Path, version: str
) -> None:
    honest = client_context(pki, minimum_version=VERSIONS[version])
    honest.maximum_version = VERSIONS[version]
    assert exchange(edge.port, honest).startswith(b"HTTP/1.1 200 ")  # the control
    origin.state.reset()

    ctx = client_context(pki, identity=None, minimum_version=VERSIONS[version])
    ctx.maximum_version = VERSIONS[version]
    ctx.load_cert_chain(pki.path("client.pem"), str(forged))  # OpenSSL takes it as a pair
    with pytest.raises((ssl.SSLError, ConnectionError)) as failure:
        # TLS 1.3: the client's side of the handshake completes before the server checks
        # CertificateVerify, so the refusal (an alert) arrives on the first read.
        exchange(edge.port, ctx)
    assert "DECRYPT_ERROR" in str(failure.value).upper() or isinstance(
        failure.value, ConnectionError
    ), failure.value
    assert origin.state.ports == []  # nothing reached the origin


@pytest.mark.parametrize("flag", ["-tls1_3", "-tls1_2"])
def test_openssl_s_client_without_the_key_is_refused(
    pki: Pki, edge: EdgeProcess, origin: Origin, forged: Path, flag: str
) -> None:
    exe = require_binary("openssl", "openssl")
    chain = pki.path("client.pem")
    cmd = [exe, "s_client", "-connect", f"127.0.0.1:{edge.port}", "-quiet", flag]
    cmd += ["-CAfile", pki.path("server-ca.pem"), "-cert", chain, "-cert_chain", chain]
    result = subprocess.run(
        [*cmd, "-key", str(forged)], input=REQUEST, capture_output=True, timeout=20, check=False
    )
    assert b"HTTP/1.1" not in result.stdout
    assert b"decrypt error" in result.stderr.lower(), result.stderr[-500:]
    assert origin.state.ports == []
