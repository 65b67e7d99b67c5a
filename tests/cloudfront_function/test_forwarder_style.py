"""``originverify edge --style cloudfront-function`` signs as sign-request.js does, end to end:
curl with a client certificate → the forwarder (HMAC key, key id) → examples/cloudfront/origin.py
under gunicorn, configured exactly as behind real CloudFront (signed only, digest binding)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from originverify.edge import styles
from originverify.edge.styles import ClientCertificates, Style
from originverify.signatures import GeneratedKey, keygen
from tests.cloudfront_function.kit import CLAIM_HEADERS, FUNCTION
from tests.edge.edgekit import EdgeProcess, Pki, build_pki, curl, edge_args
from tests.edges_e2e.kit import REPO, Server, start_on_free_port

KEY_OLD, KEY_NEW = "cf-2026-11", "cf-2026-12"


@pytest.fixture(scope="module")
def edge_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(Path(tmp_path_factory.mktemp("cf-style-pki")))


@pytest.fixture(scope="module")
def hmac_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GeneratedKey]:
    folder = tmp_path_factory.mktemp("cf-style-keys")
    return {k: keygen(folder, k, algorithm="hmac-sha256") for k in (KEY_OLD, KEY_NEW)}


@pytest.fixture(scope="module")
def origin_port(
    edge_pki: Pki, hmac_keys: dict[str, GeneratedKey], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """The example origin knows only the old key id."""
    tmp = tmp_path_factory.mktemp("cf-style-origin")
    env = {
        "ORIGINVERIFY_ANCHORS": edge_pki.path("client-ca.pem"),
        "ORIGINVERIFY_SIGNATURE_KEYS": f"{KEY_OLD}={hmac_keys[KEY_OLD].verification_key}",
        "ORIGINVERIFY_EDGE_SECRET": "",
        "ORIGINVERIFY_MODE": "optional",
        "PYTHONPATH": str(REPO),
    }

    def start(port: int) -> Server:
        cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        cmd += ["--header-map", "refuse", "--limit-request-field_size", "16384"]
        cmd += ["--chdir", str(FUNCTION.parent), "origin:app"]
        return Server("gunicorn (cf style)", cmd, port, tmp / "gunicorn.log", env=env)

    server = start_on_free_port(start)
    try:
        yield server.port
    finally:
        server.stop()


@pytest.fixture(scope="module")
def start(
    edge_pki: Pki, hmac_keys: dict[str, GeneratedKey], origin_port: int
) -> Iterator[dict[str, EdgeProcess]]:
    edges: dict[str, EdgeProcess] = {}
    for key_id, key in hmac_keys.items():
        args = edge_args(
            edge_pki,
            f"http://127.0.0.1:{origin_port}",
            "--style",
            "cloudfront-function",
            "--sign-key",
            str(key.signing_key),
            "--key-id",
            key_id,
        )
        edges[key_id] = EdgeProcess(args)
    try:
        yield edges
    finally:
        for edge in edges.values():
            edge.stop()


def get(edge_pki: Pki, edge: EdgeProcess, identity: str | None = "client") -> dict[str, object]:
    done = curl(edge_pki, edge.url + "/whoami?a=1&b=2", identity=identity)
    assert done.returncode == 0, done.stderr
    payload: dict[str, object] = json.loads(done.stdout)
    return payload


def test_signed_like_the_function_accepted(edge_pki: Pki, start: dict[str, EdgeProcess]) -> None:
    body = get(edge_pki, start[KEY_OLD])
    assert body.get("common_name") == "client+one", body


def test_without_certificate_anonymous(edge_pki: Pki, start: dict[str, EdgeProcess]) -> None:
    assert get(edge_pki, start[KEY_OLD], identity=None) == {"anonymous": True}


def test_key_the_origin_does_not_know(edge_pki: Pki, start: dict[str, EdgeProcess]) -> None:
    assert get(edge_pki, start[KEY_NEW]).get("reason") == "signature_unknown_key"


def test_covers_the_function_s_components(edge_pki: Pki) -> None:
    """Same header components, in the same order, as sign-request.js's CLAIMS."""
    pem = Path(edge_pki.path("client.pem")).read_bytes()
    chain = [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(pem)]
    headers = styles.encode(
        Style.CLOUDFRONT_FUNCTION, ClientCertificates(chain[0], tuple(chain[1:]))
    )
    raw = [(n.encode(), v.encode()) for n, v in headers]
    covered = styles.signed_headers(Style.CLOUDFRONT_FUNCTION, raw)
    assert tuple(n.decode().lower() for n, _ in covered) == CLAIM_HEADERS
    assert {n for n, _ in headers} >= {"Client-Cert", "Client-Cert-Chain"}
    others = styles.signed_headers(Style.CLOUDFRONT_PASSTHROUGH, raw)
    assert others == raw  # other styles keep covering everything they set
