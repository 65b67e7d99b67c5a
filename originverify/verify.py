"""Chain validation: the policy, the profiles, and the cryptography engine behind them.

The engine is pyca/cryptography's ``x509.verification`` client verifier (Rust, RFC 5280 with
CA/B-style strictness, a 128-signature budget against path-building DoS). Two profiles:

* ``private`` (default): what private CAs really issue. A leaf may lack subjectAltName or
  authorityKeyIdentifier, and may mark EKU or SAN critical. clientAuth is still enforced
  when an EKU is present (and required when ``require_eku``).
* ``webpki``: cryptography's defaults unchanged (SAN and AKI required, non-critical EKU).

A ``ClientVerifier`` freezes its validation time when built, so the engine keeps one per
second instead of one for ever: building costs ~4 µs against ~350 µs for a verification.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, PublicKeyAlgorithmOID
from cryptography.x509.verification import (
    ClientVerifier,
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
)
from cryptography.x509.verification import VerificationError as EngineError

from .errors import ConfigurationError, Reason, VerificationError
from .trust import TrustSnapshot, TrustStore

if TYPE_CHECKING:
    from .revocation.status import RevocationStatus

Profile = Literal["private", "webpki"]
PROFILES: tuple[Profile, ...] = ("private", "webpki")


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Everything that decides whether a chain is acceptable (part of the cache key)."""

    profile: Profile = "private"
    require_eku: bool = False
    clock_skew: timedelta = timedelta(0)
    max_chain_depth: int = 5
    validation_time: datetime | None = None
    min_rsa_bits: int = 2048
    max_rsa_bits: int = 4096
    rsa_exponents: frozenset[int] = frozenset({65537})
    #: The purpose the leaf (and every CA's EKU, where present) must allow. Client
    #: authentication in production; the conformance harness also runs serverAuth cases.
    extended_key_usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigurationError(f"profile must be one of {PROFILES}, not {self.profile!r}")
        if self.clock_skew < timedelta(0):
            raise ConfigurationError("clock_skew must not be negative")
        if not 0 <= self.max_chain_depth <= 255:
            raise ConfigurationError("max_chain_depth must be between 0 and 255")
        if not 1024 <= self.min_rsa_bits <= self.max_rsa_bits <= 16384:
            raise ConfigurationError("need 1024 <= min_rsa_bits <= max_rsa_bits <= 16384")
        if self.validation_time is not None and self.validation_time.tzinfo is None:
            raise ConfigurationError("validation_time must be timezone-aware")


_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
_EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
}
EKUCheck = Callable[[Any, x509.Certificate, x509.ExtendedKeyUsage | None], None]


def _eku_checks(purpose: x509.ObjectIdentifier) -> tuple[EKUCheck, EKUCheck]:
    """pyca fixes a client verifier's EKU to clientAuth; these validators make it ours."""
    name = _EKU_NAMES.get(purpose, purpose.dotted_string)

    def leaf(_policy: Any, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
        if eku is not None and purpose not in eku and _ANY_EKU not in eku:
            raise ValueError(f"leaf EKU does not allow {name}")

    def ca(_policy: Any, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
        if eku is not None and purpose not in eku and _ANY_EKU not in eku:
            raise ValueError(f"CA EKU allows neither {name} nor anyExtendedKeyUsage")

    return leaf, ca


def _extension_policies(policy: ValidationPolicy) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    leaf_eku, ca_eku = _eku_checks(policy.extended_key_usage)
    private = policy.profile == "private"
    eku_criticality = Criticality.AGNOSTIC if private else Criticality.NON_CRITICAL
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, eku_criticality, ca_eku
    )
    ee = ExtensionPolicy.webpki_defaults_ee()
    if private:
        ee = ee.may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        ee = ee.may_be_present(x509.AuthorityKeyIdentifier, Criticality.AGNOSTIC, None)
    if policy.require_eku:
        ee = ee.require_present(x509.ExtendedKeyUsage, eku_criticality, leaf_eku)
    else:
        ee = ee.may_be_present(x509.ExtendedKeyUsage, eku_criticality, leaf_eku)
    return ca, ee


_RSA_OIDS = (PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5, PublicKeyAlgorithmOID.RSASSA_PSS)


class Memo:
    """Facts about a certificate, computed once per certificate instead of once per request.

    Bounded (cleared when full). The key must bind everything the facts depend on: the DER
    itself for unverified certificates, or the signature for certificates on a path the
    engine has validated (a valid signature identifies its to-be-signed part; reading it
    costs ~0.1 µs where hashing a freshly parsed ``Certificate`` costs ~3.5 µs).
    """

    def __init__(self, compute: Callable[[x509.Certificate], Any], size: int = 4096) -> None:
        self._compute = compute
        self._size = size
        self._facts: dict[bytes, Any] = {}

    def __call__(self, key: bytes, cert: x509.Certificate) -> Any:
        try:
            return self._facts[key]
        except KeyError:
            pass
        value = self._compute(cert)
        if len(self._facts) >= self._size:
            self._facts.clear()
        self._facts[key] = value
        return value


def _key_facts(cert: x509.Certificate) -> tuple[str, int, int] | str:
    """``("rsa", bits, exponent)``, ``"dsa"``, ``"other"``, or an error text."""
    oid = cert.public_key_algorithm_oid
    if oid == PublicKeyAlgorithmOID.DSA:
        return "dsa"
    if oid not in _RSA_OIDS:
        return "other"
    try:
        key = cert.public_key()
    except ValueError as exc:
        return f"bad key: {exc}"
    if not isinstance(key, rsa.RSAPublicKey):  # pragma: no cover - OID says RSA
        return "other"
    return ("rsa", key.key_size, key.public_numbers().e)


_KEY_FACTS = Memo(_key_facts)


def check_key(
    cert: x509.Certificate, policy: ValidationPolicy, role: str, der: bytes | None = None
) -> None:
    """Refuse oversized or odd RSA keys before any signature work (DoS cap), and DSA.

    Only the algorithm OID is read for non-RSA keys: loading an EC key costs ~40 µs, and the
    edge's TLS stack already refuses curves it does not support during the handshake. With
    ``der`` (the bytes ``cert`` was parsed from) the facts are memoised on those bytes.
    """
    facts = _KEY_FACTS(der, cert) if der is not None else _key_facts(cert)
    if facts == "other":
        return
    if facts == "dsa":
        raise VerificationError(Reason.UNSUPPORTED_KEY, f"{role}: DSA keys are not accepted")
    if isinstance(facts, str):
        raise VerificationError(Reason.MALFORMED_CERTIFICATE, f"{role}: {facts}")
    _, bits, exponent = facts
    if bits > policy.max_rsa_bits or bits < policy.min_rsa_bits:
        raise VerificationError(
            Reason.UNSUPPORTED_KEY,
            f"{role}: RSA-{bits} outside {policy.min_rsa_bits}..{policy.max_rsa_bits} bits",
        )
    if exponent not in policy.rsa_exponents:
        raise VerificationError(Reason.UNSUPPORTED_KEY, f"{role}: RSA exponent {exponent}")


def check_validity(leaf: x509.Certificate, now: datetime, skew: timedelta) -> datetime:
    """Precise ``expired``/``not_yet_valid`` for the leaf, with clock skew.

    Returns the time to validate the chain at: ``now``, moved by at most ``skew`` into the
    leaf's validity window. Chain certificates are left to the engine: a client may send a
    stale intermediate next to a valid one, and path building must be free to skip it.
    """
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if now - skew > end:
        raise VerificationError(
            Reason.EXPIRED, f"leaf {leaf.subject.rfc4514_string()!r} expired {end.isoformat()}"
        )
    if now + skew < start:
        raise VerificationError(
            Reason.NOT_YET_VALID,
            f"leaf {leaf.subject.rfc4514_string()!r} valid from {start.isoformat()}",
        )
    return min(max(now, start), end)


def _time_reason(certs: Sequence[x509.Certificate], at: datetime) -> tuple[Reason, str]:
    """Which way a chain certificate is out of its validity period (failure path only)."""
    for cert in certs:
        if cert.not_valid_before_utc > at:
            return Reason.NOT_YET_VALID, f"{cert.subject.rfc4514_string()!r} not yet valid"
    for cert in certs:
        if cert.not_valid_after_utc < at:
            return Reason.EXPIRED, f"{cert.subject.rfc4514_string()!r} expired"
    return Reason.EXPIRED, "a certificate in the path is outside its validity period"


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


def reason_from(table: Sequence[tuple[str, Reason]], message: str) -> Reason:
    """The reason of the first needle found in an engine's message (default: invalid)."""
    lowered = message.lower()
    for needle, reason in table:
        if needle in lowered:
            return reason
    return Reason.INVALID_CERTIFICATE


def engine_reason(message: str) -> Reason:
    return reason_from(_MESSAGE_REASONS, message)


class Engine(Protocol):
    """A chain validation engine: same inputs, same path, same reason codes."""

    name: str

    def validate(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        """The validated path, leaf first, anchor last; raises ``VerificationError``."""
        ...


class RevocationChecker(Protocol):
    """Revocation status of a validated path, answered without network I/O where possible.

    ``generation`` changes whenever the checker's data changes (a CRL refresh): a cached
    identity validated under an older generation is re-checked before it is served.
    """

    @property
    def generation(self) -> int: ...

    def check(self, path: Sequence[x509.Certificate], at: datetime) -> RevocationStatus:
        """Raise ``VerificationError`` (``revoked``/``revocation_unknown``) or describe;
        the status's ``cache_for`` bounds how long the verdict may be cached."""
        ...


class CryptographyEngine:
    """Validates a leaf + untrusted intermediates against one trust store and policy."""

    name = "cryptography"

    def __init__(self, trust: TrustStore, policy: ValidationPolicy) -> None:
        self.trust = trust
        self.policy = policy
        self._ca_policy, self._ee_policy = _extension_policies(policy)
        self._cached: tuple[int, int, ClientVerifier] | None = None  # (generation, second, v)
        self._lock = threading.Lock()

    def _verifier(self, snapshot: TrustSnapshot, at: datetime) -> ClientVerifier:
        second = int(at.timestamp())
        cached = self._cached
        if cached is not None and cached[0] == snapshot.generation and cached[1] == second:
            return cached[2]
        verifier = (
            PolicyBuilder()
            .store(snapshot.store)
            .time(datetime.fromtimestamp(second, UTC))
            .max_chain_depth(self.policy.max_chain_depth)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
            .build_client_verifier()
        )
        with self._lock:
            self._cached = (snapshot.generation, second, verifier)
        return verifier

    def validate(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        """The validated path, leaf first, anchor last; raises ``VerificationError``.

        A self-issued certificate in the client's chain (a root it sent) can never be an
        anchor here, but pyca tries it as an intermediate until the depth limit and reports
        ``chain_too_deep``. Only on that failure we retry without such certificates, so the
        common path pays nothing for the check.
        """
        verifier = self._verifier(snapshot, at)
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
                reason, which = _time_reason([*intermediates, *snapshot.anchors], at)
                message = f"{which}: {message}"
            raise VerificationError(reason, message) from None
        if self.policy.profile == "private" and len(path) > 1:
            _check_unconstrained_leaf(path)
        return path


def short(message: str, limit: int = 400) -> str:
    """Engine messages embed whole subjects (thousands of characters for hostile certs)."""
    return message if len(message) <= limit else message[:limit] + "…"


def _name_constraints_facts(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return False
    except (ValueError, x509.DuplicateExtension):
        return True  # unreadable extensions: assume constrained (fail closed)
    return True


_NAME_CONSTRAINTS = Memo(_name_constraints_facts)


def _check_unconstrained_leaf(path: Sequence[x509.Certificate]) -> None:
    """pyca applies name constraints to SANs only; the ``private`` profile admits leaves
    without SAN, which would slip past a constrained CA. Refuse that combination.
    Memoised per CA certificate, so the common path costs a dict lookup per CA."""
    # Only called on a path the engine validated: keying on the signature is sound here.
    if not any(_NAME_CONSTRAINTS(ca.signature, ca) for ca in path[1:]):
        return
    try:
        path[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError, x509.DuplicateExtension):
        raise VerificationError(
            Reason.NAME_CONSTRAINTS,
            "leaf has no subjectAltName but a CA in its path is name-constrained",
        ) from None


ENGINES = ("cryptography", "certvalidator", "both")


def build_engine(choice: str | Engine, trust: TrustStore, policy: ValidationPolicy) -> Engine:
    """The engine named by ``choice`` (or ``choice`` itself when it is an engine)."""
    if not isinstance(choice, str):
        return choice
    if choice == "cryptography":
        return CryptographyEngine(trust, policy)
    if choice in ("certvalidator", "both"):
        try:
            from .engines import BothEngines, CertvalidatorEngine
        except ImportError as exc:
            raise ConfigurationError(
                f"engine={choice!r} needs the 'certvalidator' extra "
                "(pip install 'originverify[certvalidator]')"
            ) from exc
        second = CertvalidatorEngine(trust, policy)
        if choice == "certvalidator":
            return second
        return BothEngines(CryptographyEngine(trust, policy), second)
    raise ConfigurationError(f"engine must be one of {ENGINES}, not {choice!r}")
