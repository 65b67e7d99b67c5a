"""The leaf profile: every check on the presented certificates that needs no path.

It runs once per request, before any engine, so ``cryptography``, ``certvalidator`` and
``both`` judge every leaf alike (the engines disagree on most of these when left alone:
pyhanko accepts a CA:TRUE leaf, keyCertSign on an end-entity, unknown critical extensions
that pyca refuses...). Checked, in this order, each with its reason:

1. the extensions parse, with no extension twice → ``malformed_certificate``
2. key caps on the leaf and every presented certificate (RSA size and exponent, no DSA)
   → ``unsupported_key``
3. the leaf is not a CA (basicConstraints CA:TRUE) and carries no nameConstraints; no
   critical extension outside basicConstraints, keyUsage, extendedKeyUsage,
   subjectAltName, subject/authority key identifiers → ``invalid_certificate``
4. keyUsage, when present, asserts digitalSignature (TLS client authentication signs the
   handshake) and neither keyCertSign nor cRLSign → ``bad_usage``
5. extendedKeyUsage allows the policy's purpose (or anyExtendedKeyUsage), and is present
   when ``require_eku`` → ``bad_usage``; the ``webpki`` profile also wants EKU and AKI
   non-critical, AKI and SAN present → ``invalid_certificate``
6. validity, exactly (RFC 5280 bounds are inclusive, compared to the microsecond), with
   ``clock_skew`` → ``expired`` / ``not_yet_valid``

The facts are read once per distinct DER (a bounded memo keyed by its SHA-256); applying the
policy to them is a handful of comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from .. import describe
from ..errors import Reason, VerificationError
from .keys import KEY_FACTS, KeyFacts, apply_key_policy, key_facts
from .memo import Memo
from .policy import ANY_EKU, ValidationPolicy, eku_name

#: Extensions a leaf may mark critical: both engines process them.
CRITICAL_ALLOWED = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    }
)

Refusal = tuple[Reason, str]


@dataclass(frozen=True, slots=True)
class LeafFacts:
    """What the leaf profile reads from a leaf, independent of any policy."""

    not_before: datetime
    not_after: datetime
    key: KeyFacts
    refusal: Refusal | None  # a defect every policy refuses (malformed, CA, usage, critical)
    eku: frozenset[x509.ObjectIdentifier] | None
    critical: frozenset[x509.ObjectIdentifier]  # OIDs of the critical extensions
    present: frozenset[x509.ObjectIdentifier]  # OIDs of every extension


def leaf_facts(cert: x509.Certificate) -> LeafFacts | Refusal:
    """The facts, or ``malformed_certificate`` when the certificate cannot be read."""
    try:
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        extensions = list(cert.extensions)
    except x509.DuplicateExtension as exc:
        return Reason.MALFORMED_CERTIFICATE, f"leaf: extension {exc.oid.dotted_string} twice"
    except Exception as exc:
        return Reason.MALFORMED_CERTIFICATE, f"leaf: unreadable ({type(exc).__name__})"
    by_oid = {ext.oid: ext for ext in extensions}
    eku = by_oid.get(ExtensionOID.EXTENDED_KEY_USAGE)
    eku_value = eku.value if eku is not None else None
    return LeafFacts(
        not_before=start,
        not_after=end,
        key=key_facts(cert),
        refusal=_structural_refusal(by_oid),
        eku=frozenset(eku_value) if isinstance(eku_value, x509.ExtendedKeyUsage) else None,
        critical=frozenset(ext.oid for ext in extensions if ext.critical),
        present=frozenset(by_oid),
    )


Extensions = dict[x509.ObjectIdentifier, x509.Extension[x509.ExtensionType]]


def _structural_refusal(by_oid: Extensions) -> Refusal | None:
    bc = by_oid.get(ExtensionOID.BASIC_CONSTRAINTS)
    if bc is not None and isinstance(bc.value, x509.BasicConstraints) and bc.value.ca:
        return Reason.INVALID_CERTIFICATE, "leaf is a CA certificate (basicConstraints CA:TRUE)"
    if ExtensionOID.NAME_CONSTRAINTS in by_oid:
        return Reason.INVALID_CERTIFICATE, "leaf carries nameConstraints (CA certificates only)"
    unknown = sorted(
        ext.oid.dotted_string
        for ext in by_oid.values()
        if ext.critical and ext.oid not in CRITICAL_ALLOWED
    )
    if unknown:
        return Reason.INVALID_CERTIFICATE, f"leaf: unsupported critical extension {unknown[0]}"
    ku = by_oid.get(ExtensionOID.KEY_USAGE)
    if ku is not None and isinstance(ku.value, x509.KeyUsage):
        usage = ku.value
        if not usage.digital_signature:
            return Reason.BAD_USAGE, "leaf keyUsage lacks digitalSignature"
        if usage.key_cert_sign or usage.crl_sign:
            return Reason.BAD_USAGE, "leaf keyUsage asserts keyCertSign or cRLSign"
    return None


LEAF_FACTS: Memo[LeafFacts | Refusal] = Memo(leaf_facts)


def check_presented(
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    leaf_der: bytes,
    chain_ders: Sequence[bytes],
    policy: ValidationPolicy,
    now: datetime,
) -> datetime:
    """Run the leaf profile; return the instant the path is judged at (``now``, exact).

    Raises ``VerificationError`` with the reason of the first failed check.
    """
    facts = LEAF_FACTS(leaf_der, leaf)
    if isinstance(facts, tuple):
        raise VerificationError(*facts)
    apply_key_policy(facts.key, policy, "leaf")
    for index, (cert, der) in enumerate(zip(chain, chain_ders, strict=True)):
        apply_key_policy(KEY_FACTS(der, cert), policy, f"chain[{index}]")
    if facts.refusal is not None:
        raise VerificationError(*facts.refusal)
    _check_profile(facts, policy)
    _check_validity(facts, leaf, now, policy)
    return now


def _check_profile(facts: LeafFacts, policy: ValidationPolicy) -> None:
    purpose = policy.extended_key_usage
    if facts.eku is None:
        if policy.require_eku:
            raise VerificationError(Reason.BAD_USAGE, "leaf has no extendedKeyUsage")
    elif purpose not in facts.eku and ANY_EKU not in facts.eku:
        raise VerificationError(Reason.BAD_USAGE, f"leaf EKU does not allow {eku_name(purpose)}")
    if policy.profile != "webpki":
        return
    critical, present = facts.critical, facts.present
    aki, san = ExtensionOID.AUTHORITY_KEY_IDENTIFIER, ExtensionOID.SUBJECT_ALTERNATIVE_NAME
    problem = None
    if ExtensionOID.EXTENDED_KEY_USAGE in critical:
        problem = "EKU (2.5.29.37) criticality: must be non-critical"
    elif aki not in present:
        problem = "leaf lacks authorityKeyIdentifier (2.5.29.35)"
    elif aki in critical:
        problem = "AKI (2.5.29.35) criticality: must be non-critical"
    elif san not in present:
        problem = "leaf lacks subjectAltName (2.5.29.17)"
    if problem is not None:
        raise VerificationError(Reason.INVALID_CERTIFICATE, f"webpki profile: {problem}")


def _check_validity(
    facts: LeafFacts, leaf: x509.Certificate, now: datetime, policy: ValidationPolicy
) -> None:
    """RFC 5280 4.1.2.5: valid from notBefore to notAfter, both inclusive; ``now`` keeps
    its microseconds (truncating it would accept a leaf up to a second after notAfter)."""
    skew = policy.clock_skew
    if now - skew > facts.not_after:
        raise VerificationError(
            Reason.EXPIRED,
            f"leaf {describe.subject(leaf)!r} expired {facts.not_after.isoformat()}",
        )
    if now + skew < facts.not_before:
        raise VerificationError(
            Reason.NOT_YET_VALID,
            f"leaf {describe.subject(leaf)!r} valid from {facts.not_before.isoformat()}",
        )
