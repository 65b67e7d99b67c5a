"""``originverify demo``: a throwaway PKI and a set of requests, each with its verdict.

Every request is built the way CloudFront passthrough would forward it (or the way an
attacker would forge it), then judged by the same ``Verifier`` an application would use.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .devpki import SERVER_AUTH, CertificateAuthority, Issued, cert_der
from .formats.sfbinary import serialize_item, serialize_list
from .source import EdgeSecret
from .verifier import Verifier


@dataclass(frozen=True)
class Scenario:
    name: str
    headers: list[tuple[str, str]]
    expect: str  # "accepted" or a reason code


def scenarios(secret: str) -> tuple[bytes, list[Scenario]]:
    """The trust anchor PEM and the demo requests."""
    now = dt.datetime.now(dt.UTC)
    root = CertificateAuthority.root_ca("Demo Device Root CA")
    inter = root.intermediate("Demo Issuing CA")
    alice = inter.issue("device-alice", uris=["spiffe://demo.example/device/alice"])
    expired = inter.issue(
        "device-old", not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=1)
    )
    stranger = (
        CertificateAuthority.root_ca("Unknown CA").intermediate("Unknown Issuing").issue("eve")
    )
    server_only = inter.issue("web-server", dns=["www.demo.example"], eku=(SERVER_AUTH,))

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

    forged = edge(None, with_secret=False) + [("Client-Cert", serialize_item(alice.der))]
    rogue_root = edge(stranger, chain=(*stranger.chain_der, cert_der(stranger.root)))
    return root.pem, [
        Scenario("valid device certificate + chain", edge(alice), "accepted"),
        Scenario("no client certificate", edge(None), "missing_certificate"),
        Scenario(
            "certificate from an unknown CA (its root sent too)", rogue_root, "untrusted_chain"
        ),
        Scenario("expired certificate", edge(expired), "expired"),
        Scenario("server certificate used as client", edge(server_only), "bad_usage"),
        Scenario("leaf only, intermediate not forwarded", edge(alice, chain=()), "untrusted_chain"),
        Scenario("spoofed Client-Cert sent straight to the origin", forged, "edge_secret_missing"),
        Scenario(
            "Client_Cert underscore spelling smuggled in",
            edge(None) + [("Client_Cert", serialize_item(alice.der))],
            "ambiguous_header_name",
        ),
        Scenario(
            "Client-Cert sent twice",
            edge(alice) + [("Client-Cert", serialize_item(alice.der))],
            "duplicate_header",
        ),
        Scenario(
            "garbage in Client-Cert",
            [h for h in edge(alice) if h[0] != "Client-Cert"] + [("Client-Cert", ":not base64!:")],
            "malformed_header",
        ),
    ]


def run(out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    secret = secrets.token_urlsafe(32)
    anchors, cases = scenarios(secret)
    with tempfile.TemporaryDirectory(prefix="originverify-demo-") as tmp:
        ca_path = Path(tmp) / "client-ca.pem"
        ca_path.write_bytes(anchors)
        verifier = Verifier(trust=ca_path, source=EdgeSecret(secrets=[secret]))
        print("originverify demo: CloudFront passthrough headers → origin verdicts\n", file=stream)
        width = max(len(c.name) for c in cases)
        print(f"  {'request':<{width}}  {'status':>6}  verdict", file=stream)
        wrong = 0
        for case in cases:
            report = verifier.explain(case.headers, peer="203.0.113.7")
            if report.error is None:
                got, status = "accepted", 200
                who = report.identity.subject if report.identity else "anonymous"
                verdict = f"accepted: {who}"
            else:
                got, status = report.error.reason.value, report.error.http_status
                verdict = f"{got}"
            wrong += got != case.expect
            mark = "✓" if got == case.expect else "✗ UNEXPECTED"
            print(f"  {case.name:<{width}}  {status:>6}  {verdict}  {mark}", file=stream)
    print(f"\n{len(cases) - wrong}/{len(cases)} verdicts as expected", file=stream)
    return 1 if wrong else 0
