"""The shipped edge configs, end to end: real TLS clients → nginx / HAProxy / Caddy / Apache
(Debian's binaries, examples/edges/<edge>/ rendered as is) → gunicorn running
examples/edges/origin.py with the edge's preset.

Every case asserts the exact verdict and who gave it: the origin (JSON with a reason code,
counted in gunicorn's access log), the edge itself (an HTTP error the origin never saw), or
the TLS handshake (no HTTP response at all).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.edges_e2e.conftest import Running
from tests.edges_e2e.kit import Reply, client_context, curl, python_tls, s_client

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Verdict:
    """``by``: "origin" (JSON reply), "edge" (HTTP error from the edge) or "tls" (refused)."""

    by: str
    status: int | None
    reason: str | None = None
    subject_cn: str | None = None
    edge_says: str | None = None  # in the body of an edge's own error


OK_ALICE = Verdict("origin", 200, subject_cn="alice")
NO_CERT = Verdict("origin", 401, "missing_certificate")
UNTRUSTED = Verdict("origin", 403, "untrusted_chain")
EXPIRED = Verdict("origin", 403, "expired")

# The verdicts that differ per edge, with why.
EXPECTED: dict[str, dict[str, Verdict]] = {
    "nginx": {
        # nginx forwards the leaf only; the origin has the issuing CA in extra_intermediates.
        "leaf_only": OK_ALICE,
        # ... but not a sub CA it was never told about.
        "deep_chain": UNTRUSTED,
        "expired": EXPIRED,  # thanks to error_page 495 = @origin
        "underscore": NO_CERT,  # dropped by nginx (underscores_in_headers off)
        # Only the leaf travels; its issuer (8th RSA CA) is unknown to the origin.
        "oversized_chain": UNTRUSTED,
    },
    "haproxy": {
        "leaf_only": UNTRUSTED,  # the chain is forwarded, the origin has no intermediates
        "deep_chain": Verdict("origin", 200, subject_cn="deep"),
        "expired": EXPIRED,
        "underscore": NO_CERT,  # del-header -m reg
        # More than 8 KiB of DER chain.
        "oversized_chain": Verdict("edge", 400, edge_says="client certificate chain too large"),
    },
    "caddy": {
        "leaf_only": OK_ALICE,  # leaf only, extra_intermediates at the origin
        "deep_chain": UNTRUSTED,
        "expired": EXPIRED,
        "underscore": NO_CERT,  # request_header -client_* ...
        "oversized_chain": UNTRUSTED,
    },
    "apache": {
        "leaf_only": UNTRUSTED,
        "deep_chain": Verdict("origin", 200, subject_cn="deep"),
        # mod_ssl fails the handshake for an expired certificate even with optional_no_ca.
        "expired": Verdict("tls", None),
        "underscore": Verdict("edge", 400, edge_says="Bad Request"),  # SetEnvIf + RewriteRule
        # More than 3 chain certificates.
        "oversized_chain": Verdict("edge", 400, edge_says="Bad Request"),
    },
}


# Whether a client's second connection resumes its TLS session. HAProxy and Apache have no
# chain for a resumed session, so their configs turn resumption off (see their READMEs).
RESUMES = {"nginx": True, "haproxy": False, "caddy": True, "apache": False}


def check(run: Running, reply: Reply, expected: Verdict, before: int) -> None:
    """Assert the verdict, and that the origin saw the request exactly when it should."""
    seen = run.origin.requests_since(before, 1 if expected.by == "origin" else 0)
    where = f"[{run.spec.name}] {reply.describe()}\n{run.edge.logs(1500)}"
    if expected.by == "tls":
        assert reply.status is None, where
        assert seen == 0, where
        return
    assert reply.status == expected.status, where
    if expected.by == "edge":
        assert seen == 0, f"the origin answered, not the edge: {where}"
        assert expected.edge_says is not None and expected.edge_says in reply.body, where
        return
    assert seen == 1, f"the origin did not answer: {where}"
    body = reply.json
    if expected.reason is not None:
        assert body.get("reason") == expected.reason, where
    if expected.subject_cn is not None:
        assert body.get("common_name") == expected.subject_cn, where


def test_valid_chain(running: Running) -> None:
    before = running.origin.requests()
    reply = curl(running.pki, running.port, "alice")
    check(running, reply, OK_ALICE, before)
    identity = reply.json
    assert identity["subject"] == "CN=alice,O=originverify test"
    assert identity["issuer"] == "CN=E2E Issuing CA,O=originverify test"
    assert identity["emails"] == ["alice@example.com"]
    assert f"format:{running.spec.preset}" in identity["checks"]


def test_valid_chain_with_openssl_s_client(running: Running) -> None:
    before = running.origin.requests()
    reply = s_client(running.pki, running.port, "alice")
    check(running, reply, OK_ALICE, before)


def test_deep_chain(running: Running) -> None:
    """Two intermediates: the origin builds the path only from what the edge forwarded."""
    before = running.origin.requests()
    reply = curl(running.pki, running.port, "deep")
    check(running, reply, EXPECTED[running.spec.name]["deep_chain"], before)


def test_leaf_only(running: Running) -> None:
    """The client sends no intermediate."""
    before = running.origin.requests()
    reply = curl(running.pki, running.port, "alice", cert_file=running.pki.path("alice-leaf.pem"))
    check(running, reply, EXPECTED[running.spec.name]["leaf_only"], before)


def test_wrong_ca(running: Running) -> None:
    before = running.origin.requests()
    reply = curl(running.pki, running.port, "mallory")
    check(running, reply, UNTRUSTED, before)


def test_expired(running: Running) -> None:
    before = running.origin.requests()
    reply = curl(running.pki, running.port, "expired")
    expected = EXPECTED[running.spec.name]["expired"]
    check(running, reply, expected, before)
    if expected.by == "tls":  # mod_ssl says why in its alert and its error log
        assert "certificate expired" in reply.error, reply.describe()
        assert "certificate has expired" in running.edge.logs(20000)


def test_no_certificate(running: Running) -> None:
    before = running.origin.requests()
    reply = curl(running.pki, running.port, None)
    check(running, reply, NO_CERT, before)


def test_forged_certificate_header_without_certificate(running: Running) -> None:
    """alice's real certificate pasted into the edge's own header names: stripped."""
    before = running.origin.requests()
    forged = running.spec.forge(running.pki.alice, running.spec.cert_header)
    reply = curl(running.pki, running.port, None, forged)
    check(running, reply, NO_CERT, before)


def test_forged_certificate_header_with_certificate(running: Running) -> None:
    """mallory connects with her own certificate and adds alice's: the edge's copy wins."""
    before = running.origin.requests()
    forged = running.spec.forge(running.pki.alice, running.spec.cert_header)
    reply = curl(running.pki, running.port, "mallory", forged)
    check(running, reply, UNTRUSTED, before)


def test_forged_edge_secret_is_replaced(running: Running) -> None:
    """A client's X-Origin-Verify never replaces the edge's (a wrong one would be refused)."""
    before = running.origin.requests()
    reply = curl(running.pki, running.port, "alice", [("X-Origin-Verify", "guessed")])
    check(running, reply, OK_ALICE, before)


def test_underscore_spellings(running: Running) -> None:
    """alice's certificate and a secret under "_" spellings of the edge's header names.

    The origin's gunicorn runs with ``--header-map refuse``: a spelling the edge forwarded
    would come back as gunicorn's bare 400, not the verifier's JSON.
    """
    before = running.origin.requests()
    forged = running.spec.forge(running.pki.alice, running.spec.underscore_spelling)
    forged.append(("X_Origin_Verify", "guessed"))
    reply = curl(running.pki, running.port, None, forged)
    check(running, reply, EXPECTED[running.spec.name]["underscore"], before)


def test_oversized_chain(running: Running) -> None:
    """Eight RSA-4096 intermediates (about 11 KB of DER): a clear 4xx, never a 5xx."""
    before = running.origin.requests()
    reply = curl(running.pki, running.port, "bigchain")
    expected = EXPECTED[running.spec.name]["oversized_chain"]
    check(running, reply, expected, before)
    assert reply.status is not None and 400 <= reply.status < 500


def test_second_connection_with_session_resumption(running: Running) -> None:
    """A client's second connection offers the first one's TLS session (Python's ssl):
    resumed or not, the same identity comes out."""
    ctx = client_context(running.pki, "alice")
    before = running.origin.requests()
    first, session, _ = python_tls(ctx, running.port)
    check(running, first, OK_ALICE, before)
    before = running.origin.requests()
    reply, _, resumed = python_tls(ctx, running.port, session)
    assert resumed is RESUMES[running.spec.name], f"[{running.spec.name}] resumed={resumed}"
    check(running, reply, OK_ALICE, before)
