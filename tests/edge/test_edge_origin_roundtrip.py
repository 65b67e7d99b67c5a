"""Round trip: what the forwarder writes, the originverify core accepts and verifies.

The origin received the headers over real TLS through the forwarder; the core's strict decoders
and its edge cross-checks (fingerprint, serial, DN) must agree with every style.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from originverify import VerificationError, build_verifier
from tests.edge.conftest import StartEdge
from tests.edge.edgekit import EDGE_SECRET, EdgeProcess, Pki, echo

STYLES = [
    # (forwarder style, extra forwarder options, core format preset)
    ("cloudfront-passthrough", (), "cloudfront-passthrough"),
    ("cloudfront-viewer", ("--mode", "optional"), "cloudfront-viewer"),
    ("xfcc", (), "envoy-xfcc"),
    ("alb", (), "alb-passthrough"),
]


@pytest.mark.parametrize(("style", "options", "preset"), STYLES)
def test_core_verifies_what_the_forwarder_sent(
    pki: Pki,
    start_edge: StartEdge,
    tmp_path: Path,
    style: str,
    options: tuple[str, ...],
    preset: str,
) -> None:
    if "--mode" in options:
        options = (*options, "--client-ca", pki.path("client-ca.pem"))
    edge = start_edge("--style", style, *options)
    received = echo(pki, edge)
    intermediates = tmp_path / "intermediates.pem"
    intermediates.write_bytes(pki.client.chain()[1].pem)  # for formats that carry the leaf only
    verifier = build_verifier(
        {
            "format": preset,
            "anchors": pki.path("client-ca.pem"),
            "extra_intermediates": str(intermediates),
            "edge_secrets": EDGE_SECRET,
            "require_eku": True,
        }
    )
    identity = verifier.verify_request([tuple(h) for h in received["headers"]], peer="127.0.0.1")
    assert identity is not None
    assert identity.fingerprint_sha256 == hashlib.sha256(pki.client.der).hexdigest()


def test_core_refuses_a_chain_the_forwarder_passed_through_untrusted(
    pki: Pki, passthrough: EdgeProcess
) -> None:
    """Passthrough forwards anything; the origin's re-validation is what rejects it."""
    received = echo(pki, passthrough, identity="selfsigned")
    verifier = build_verifier(
        {
            "format": "cloudfront-passthrough",
            "anchors": pki.path("client-ca.pem"),
            "edge_secrets": EDGE_SECRET,
        }
    )
    with pytest.raises(VerificationError):
        verifier.verify_request([tuple(h) for h in received["headers"]], peer="127.0.0.1")
