"""The default engine: pyca/cryptography's ``x509.verification`` client verifier.

Rust, RFC 5280 with CA/B-style strictness, a 128-signature budget against path-building
DoS. A ``ClientVerifier`` freezes its validation time when built, so the engine keeps one
per second instead of one for ever: building costs ~4 µs against ~350 µs for a verification.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.verification import ClientVerifier, PolicyBuilder
from cryptography.x509.verification import VerificationError as EngineError

from .. import describe
from ..errors import Reason, VerificationError
from ..trust import TrustSnapshot, TrustStore
from .clock import run_in_window
from .engine import check_unconstrained_leaf, reason_from, short
from .policy import ValidationPolicy, extension_policies

# Engine messages are not a stable API; keep every mapping here and covered by tests.
_MESSAGE_REASONS: tuple[tuple[str, Reason], ...] = (
    ("exceeds max depth", Reason.CHAIN_TOO_DEEP),
    ("not valid at validation time", Reason.EXPIRED),
    ("criticality", Reason.INVALID_CERTIFICATE),
    ("2.5.29.37", Reason.BAD_USAGE),  # extendedKeyUsage
    ("2.5.29.15", Reason.BAD_USAGE),  # keyUsage
    ("2.5.29.30", Reason.NAME_CONSTRAINTS),  # nameConstraints
    ("eku", Reason.BAD_USAGE),
    ("key usage", Reason.BAD_USAGE),
    ("keyusage", Reason.BAD_USAGE),
    ("name constraint", Reason.NAME_CONSTRAINTS),
    ("subtree", Reason.NAME_CONSTRAINTS),
    ("all candidates exhausted", Reason.UNTRUSTED_CHAIN),
    ("signature", Reason.UNTRUSTED_CHAIN),
)


def engine_reason(message: str) -> Reason:
    """Our reason code for a pyca verifier message."""
    return reason_from(_MESSAGE_REASONS, message)


def time_reason(certs: Sequence[x509.Certificate], at: datetime) -> tuple[Reason, str]:
    """Which way a chain certificate is out of its validity period (failure path only)."""
    for cert in certs:
        if cert.not_valid_before_utc > at:
            return Reason.NOT_YET_VALID, f"{describe.subject(cert)!r} not yet valid"
    for cert in certs:
        if cert.not_valid_after_utc < at:
            return Reason.EXPIRED, f"{describe.subject(cert)!r} expired"
    return Reason.EXPIRED, "a certificate in the path is outside its validity period"


class CryptographyEngine:
    """Validates a leaf + untrusted intermediates against one trust store and policy."""

    name = "cryptography"

    def __init__(self, trust: TrustStore, policy: ValidationPolicy) -> None:
        self.trust = trust
        self.policy = policy
        self._ca_policy, self._ee_policy = extension_policies(policy)
        self._cached: tuple[int, datetime, ClientVerifier] | None = None  # (generation, t, v)
        self._lock = threading.Lock()

    def _verifier(self, snapshot: TrustSnapshot, at: datetime) -> ClientVerifier:
        cached = self._cached
        if cached is not None and cached[0] == snapshot.generation and cached[1] == at:
            return cached[2]
        verifier = (
            PolicyBuilder()
            .store(snapshot.store)
            .time(at)
            .max_chain_depth(self.policy.max_chain_depth)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
            .build_client_verifier()
        )
        with self._lock:
            self._cached = (snapshot.generation, at, verifier)
        return verifier

    def validate(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        """The validated path, leaf first, anchor last; raises ``VerificationError``."""

        def build(instant: datetime) -> list[x509.Certificate]:
            return self._validate_at(leaf, presented, instant, snapshot)

        def candidates() -> list[x509.Certificate]:
            return [*presented, *snapshot.extra_intermediates, *snapshot.anchors]

        return run_in_window(build, leaf, candidates, at, self.policy.clock_skew)

    def _validate_at(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        """Path building at one whole-second instant.

        A self-issued certificate in the client's chain (a root it sent) can never be an
        anchor here, but pyca tries it as an intermediate until the depth limit and reports
        ``chain_too_deep``. Only on that failure we retry without such certificates, so the
        common path pays nothing for the check.
        """
        verifier = self._verifier(snapshot, at.astimezone(UTC))
        try:
            return self._verify(verifier, leaf, presented, snapshot)
        except VerificationError as exc:
            if exc.reason is not Reason.CHAIN_TOO_DEEP:
                raise
            kept = [c for c in presented if c.subject != c.issuer]
            if len(kept) == len(presented):
                raise
        return self._verify(verifier, leaf, kept, snapshot)

    def _verify(
        self,
        verifier: ClientVerifier,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        intermediates = [*presented, *snapshot.extra_intermediates]
        try:
            path = list(verifier.verify(leaf, intermediates).chain)
        except EngineError as exc:
            message = short(str(exc))
            reason = engine_reason(message)
            if reason is Reason.EXPIRED:
                at = verifier.policy.validation_time.replace(tzinfo=UTC)
                reason, which = time_reason([*intermediates, *snapshot.anchors], at)
                message = f"{which}: {message}"
            raise VerificationError(reason, message) from None
        if self.policy.profile == "private":
            check_unconstrained_leaf(path)
        return path
