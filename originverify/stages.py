"""What the request-path stages share: the per-request ``State`` they read and fill in, and
the work that needs no ``Verifier``: parsing the forwarded DER, cross-checking the edge's
claims, the opt-in edge-verdict path, and the descriptions a traced check prints.
``Verifier`` (verifier.py) runs the stages in order."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography import x509

from .cache import CertificateInterner
from .errors import Reason, VerificationError
from .formats import CertificateFormat, ForwardedCertificate
from .formats.claims import cross_check as check_claims
from .identity import ClientIdentity
from .names import require_decodable
from .outcome import Trace
from .rules import Rules
from .source import RequestContext

__all__ = [
    "Gate",
    "State",
    "cross_check",
    "describe_forwarded",
    "edge_verdict_path",
    "gates_of",
    "intern_validated",
    "leaf_sha256",
    "parse_forwarded",
]


class State:
    """Everything one request's stages share; one per call, never shared across threads."""

    __slots__ = (
        "at",
        "cache_for",
        "chain",
        "done",
        "error",
        "forwarded",
        "identity",
        "key",
        "leaf",
        "now",
        "path",
        "request",
        "revocation_generation",
        "stage",
        "started",
        "trace",
        "via",
    )

    def __init__(self, request: RequestContext, trace: Trace, now: float) -> None:
        self.request = request
        self.trace = trace
        self.now = now
        self.started = time.perf_counter()
        self.stage = ""
        self.done = False
        self.via = "anonymous"
        self.key: bytes | None = None
        self.error: VerificationError | None = None
        self.identity: ClientIdentity | None = None
        self.forwarded: ForwardedCertificate | None = None
        self.leaf: x509.Certificate | None = None
        self.chain: list[x509.Certificate] = []
        self.path: list[x509.Certificate] = []
        self.at = datetime.fromtimestamp(0, UTC)
        self.cache_for: float | None = None
        self.revocation_generation = 0


def parse_forwarded(
    forwarded: ForwardedCertificate, interned: CertificateInterner | None = None
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The leaf and the chain certificates; ``malformed_certificate`` for anything not DER.
    Chain certificates validated before come from ``interned``, parsed once."""
    assert forwarded.leaf is not None
    try:
        leaf = x509.load_der_x509_certificate(forwarded.leaf)
    except (ValueError, x509.InvalidVersion) as exc:
        raise VerificationError(Reason.MALFORMED_CERTIFICATE, f"leaf: {exc}") from None
    require_decodable(leaf, forwarded.leaf)
    chain = []
    for index, der in enumerate(forwarded.chain):
        known = interned.get(der) if interned is not None else None
        if known is not None:
            chain.append(known)
            continue
        try:
            chain.append(x509.load_der_x509_certificate(der))
        except (ValueError, x509.InvalidVersion) as exc:
            raise VerificationError(
                Reason.MALFORMED_CERTIFICATE, f"chain[{index}]: {exc}"
            ) from None
    return leaf, chain


def intern_validated(
    interned: CertificateInterner,
    forwarded: ForwardedCertificate,
    presented: list[x509.Certificate],
    path: list[x509.Certificate],
) -> None:
    """Remember the presented chain certificates the engine put on a validated path."""
    on_path = {id(cert) for cert in path[1:]}
    for der, cert in zip(forwarded.chain, presented, strict=True):
        if id(cert) in on_path:
            interned.add(der, cert)


def cross_check(forwarded: ForwardedCertificate, leaf: x509.Certificate) -> str:
    """Raise ``edge_mismatch`` when the edge's claims contradict the DER; describe them."""
    check_claims(forwarded, leaf)
    if not forwarded.claims:
        return ""
    return f"consistent with the certificate ({', '.join(n for n, _ in forwarded.claims.raw)})"


def edge_verdict_path(
    fmt: CertificateFormat, forwarded: ForwardedCertificate, leaf: x509.Certificate
) -> list[x509.Certificate]:
    """``trust_edge_verdict``: the edge must have said the chain verified."""
    verified = forwarded.claims.verified
    if verified is False:
        raise VerificationError(Reason.UNTRUSTED_CHAIN, "edge reports verification failed")
    if verified is not True and (fmt.reports_verdict or not fmt.edge_validates):
        raise VerificationError(
            Reason.UNTRUSTED_CHAIN, "edge verdict trusted but the edge did not say verified"
        )
    return [leaf]


def describe_forwarded(fmt: CertificateFormat, forwarded: ForwardedCertificate) -> str:
    if forwarded.leaf is None:
        return f"{fmt.name}: no client certificate in the request"
    return (
        f"{fmt.name}: leaf ({len(forwarded.leaf)} bytes DER) + "
        f"{len(forwarded.chain)} chain certificate(s)"
        + (f", {len(forwarded.claims.raw)} edge claim header(s)" if forwarded.claims else "")
    )


#: A view-level check on a verified identity: raises ``VerificationError`` to refuse.
Gate = Callable[[ClientIdentity], None]


def gates_of(rules: Rules | None) -> list[Gate]:
    return [rules.check] if rules is not None else []


def leaf_sha256(state: State) -> str | None:
    """The forwarded leaf's fingerprint, for the log line of a refusal."""
    if state.identity is not None:
        return state.identity.fingerprint_sha256
    forwarded = state.forwarded
    if forwarded is None or forwarded.leaf is None:
        return None
    return hashlib.sha256(forwarded.leaf).hexdigest()
