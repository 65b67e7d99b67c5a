"""CloudFront passthrough, origin half: examples/cloudfront/origin.py under gunicorn, fed
requests shaped as CloudFront sends them (header-formats.md §1): ``Client-Cert`` as an RFC
9440 item, ``Client-Cert-Chain`` as a list (here split over two field lines), the
``CloudFront-Viewer-Cert-*`` claims, and the ``X-Origin-Verify`` origin custom header.

The distribution itself cannot run here; its templates are checked with cfn-lint and
``terraform fmt`` when those are installed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from originverify.devpki import Issued
from originverify.formats.sfbinary import serialize_item
from tests.edges_e2e.kit import EDGE_SECRET, REPO, Pki, Server, start_on_free_port

pytestmark = pytest.mark.e2e

CLOUDFRONT = REPO / "examples" / "cloudfront"
Headers = list[tuple[str, str]]


@pytest.fixture(scope="module")
def cloudfront_origin(e2e_pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("cloudfront-origin")
    env = {
        "ORIGINVERIFY_ANCHORS": e2e_pki.path("client-ca.pem"),
        "ORIGINVERIFY_EDGE_SECRET": f"old-secret-being-rotated-out-0123,{EDGE_SECRET}",
        "PYTHONPATH": str(REPO),
    }

    def start(port: int) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--header-map",
            "refuse",
            "--limit-request-field_size",
            "16384",
            "--chdir",
            str(CLOUDFRONT),
            "origin:app",
        ]
        return Server("gunicorn (cloudfront)", cmd, port, tmp / "gunicorn.log", env=env)

    server = start_on_free_port(start)
    try:
        yield server.port
    finally:
        server.stop()


def b64(der: bytes) -> str:
    return serialize_item(der)


def recorded(issued: Issued | None, *, secret: str | None = EDGE_SECRET) -> Headers:
    """What CloudFront puts on the origin request for a viewer with ``issued`` (or none)."""
    headers: Headers = [("Host", "origin.example.com"), ("User-Agent", "Amazon CloudFront")]
    if issued is not None:
        headers.append(("Client-Cert", b64(issued.der)))
        # A List may arrive over several field lines; CloudFront keeps TLS order.
        for der in issued.chain_der:
            headers.append(("Client-Cert-Chain", b64(der)))
        serial = f"{issued.cert.serial_number:x}"
        serial = serial.zfill(len(serial) + len(serial) % 2)
        headers += [
            ("CloudFront-Viewer-Cert-Present", "1"),
            ("CloudFront-Viewer-Cert-Sha256", hashlib.sha256(issued.der).hexdigest()),
            (
                "CloudFront-Viewer-Cert-Serial-Number",
                ":".join(serial[i : i + 2] for i in range(0, len(serial), 2)),
            ),
        ]
    else:
        headers.append(("CloudFront-Viewer-Cert-Present", "0"))
    if secret is not None:
        headers.append(("X-Origin-Verify", secret))
    headers.append(("Via", "2.0 0123456789abcdef.cloudfront.net (CloudFront)"))
    return headers


def send(port: int, headers: Headers) -> tuple[int, dict[str, object] | str]:
    """One request, header lines exactly as given (no client library merging them)."""
    lines = ["GET /whoami HTTP/1.1", *(f"{k}: {v}" for k, v in headers), "Connection: close"]
    data = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def test_two_intermediates_over_two_field_lines(cloudfront_origin: int, e2e_pki: Pki) -> None:
    headers = recorded(e2e_pki.deep)
    assert sum(1 for k, _ in headers if k == "Client-Cert-Chain") == 2
    status, body = send(cloudfront_origin, headers)
    assert status == 200, body
    assert isinstance(body, dict)
    assert body["common_name"] == "deep"
    assert "format:cloudfront-passthrough" in body["checks"]  # type: ignore[operator]


def test_one_intermediate(cloudfront_origin: int, e2e_pki: Pki) -> None:
    status, body = send(cloudfront_origin, recorded(e2e_pki.alice))
    assert (status, body["common_name"]) == (200, "alice")  # type: ignore[index]


@pytest.mark.parametrize(
    ("who", "status", "reason"),
    [
        ("expired", 403, "expired"),
        ("mallory", 403, "untrusted_chain"),
        (None, 401, "missing_certificate"),
    ],
)
def test_verdicts(
    cloudfront_origin: int, e2e_pki: Pki, who: str | None, status: int, reason: str
) -> None:
    issued = getattr(e2e_pki, who) if who else None
    got, body = send(cloudfront_origin, recorded(issued))
    assert (got, body["reason"]) == (status, reason), body  # type: ignore[index]


def test_leaf_without_the_chain_cloudfront_omits_for_one_certificate(
    cloudfront_origin: int, e2e_pki: Pki
) -> None:
    """A client that sent only its leaf: no Client-Cert-Chain line at all."""
    headers = [h for h in recorded(e2e_pki.alice) if h[0] != "Client-Cert-Chain"]
    status, body = send(cloudfront_origin, headers)
    assert (status, body["reason"]) == (403, "untrusted_chain")  # type: ignore[index]


def test_sha256_claim_for_another_certificate_is_refused(
    cloudfront_origin: int, e2e_pki: Pki
) -> None:
    headers = [
        (k, hashlib.sha256(e2e_pki.mallory.der).hexdigest() if k.endswith("Sha256") else v)
        for k, v in recorded(e2e_pki.alice)
    ]
    status, body = send(cloudfront_origin, headers)
    assert (status, body["reason"]) == (403, "edge_mismatch")  # type: ignore[index]


@pytest.mark.parametrize(
    ("secret", "reason"),
    [(None, "edge_secret_missing"), ("guessed-by-a-client-0123456789ab", "edge_secret_mismatch")],
)
def test_request_not_from_the_distribution(
    cloudfront_origin: int, e2e_pki: Pki, secret: str | None, reason: str
) -> None:
    status, body = send(cloudfront_origin, recorded(e2e_pki.alice, secret=secret))
    assert (status, body["reason"]) == (403, reason)  # type: ignore[index]


def test_rotated_out_secret_still_accepted(cloudfront_origin: int, e2e_pki: Pki) -> None:
    headers = recorded(e2e_pki.alice, secret="old-secret-being-rotated-out-0123")
    assert send(cloudfront_origin, headers)[0] == 200


def test_duplicate_client_cert_line_is_refused(cloudfront_origin: int, e2e_pki: Pki) -> None:
    headers = recorded(e2e_pki.alice)
    headers.insert(2, ("Client-Cert", b64(e2e_pki.mallory.der)))
    status, body = send(cloudfront_origin, headers)
    assert (status, body["reason"]) == (400, "malformed_header")  # type: ignore[index]


def test_underscore_spelling_is_refused_by_gunicorn(cloudfront_origin: int, e2e_pki: Pki) -> None:
    """Only an "all viewer headers" policy would forward it; gunicorn refuses it anyway."""
    headers = recorded(None) + [("Client_Cert", b64(e2e_pki.alice.der))]
    status, body = send(cloudfront_origin, headers)
    assert status == 400
    assert not isinstance(body, dict), "the verifier must never see it"


def test_cloudformation_template_lints() -> None:
    cfn_lint = shutil.which("cfn-lint") or (
        "/root/.pyenv/shims/cfn-lint" if Path("/root/.pyenv/shims/cfn-lint").exists() else None
    )
    if cfn_lint is None:
        pytest.skip("cfn-lint not installed (pip install cfn-lint)")
    result = subprocess.run(
        [cfn_lint, str(CLOUDFRONT / "cloudformation.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0 and "No module named" in result.stderr:
        pytest.skip(f"cfn-lint is broken here: {result.stderr.strip()[-200:]}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_terraform_is_formatted() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform not installed")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-diff", str(CLOUDFRONT / "main.tf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_templates_say_passthrough() -> None:
    """The settings passthrough needs, in both templates."""
    cfn = (CLOUDFRONT / "cloudformation.yaml").read_text()
    tf = (CLOUDFRONT / "main.tf").read_text()
    assert "Mode: passthrough" in cfn and 'mode = "passthrough"' in tf
    assert "TrustStoreConfig" not in cfn and "trust_store_config {" not in tf
    assert "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" in cfn  # managed CachingDisabled
    assert '"Managed-CachingDisabled"' in tf
    for header in ("Client-Cert", "Client-Cert-Chain", "CloudFront-Viewer-Cert-Sha256"):
        assert f"- {header}\n" in cfn and f'"{header}",' in tf
    assert "HeaderName: X-Origin-Verify" in cfn and 'name  = "X-Origin-Verify"' in tf
