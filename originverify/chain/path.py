"""Checks on a built path that must hold whichever engine built it.

``check_unconstrained_leaf`` runs after every engine. ``check_ca_profile`` is pyca's CA
profile (CA/B-style) re-stated for the engines that do not apply it themselves
(pyhanko-certvalidator): found by the differential run (docs/engines.md), each rule below
was a chain pyca refused and certvalidator accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID

from ..errors import Reason, VerificationError
from .policy import ANY_EKU, ValidationPolicy, eku_name

#: Signature algorithms pyca's verifier accepts (its web-PKI set): no Ed25519, no SHA-1.
SIGNATURE_ALGORITHMS = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA256,
        SignatureAlgorithmOID.RSA_WITH_SHA384,
        SignatureAlgorithmOID.RSA_WITH_SHA512,
        SignatureAlgorithmOID.RSASSA_PSS,
        SignatureAlgorithmOID.ECDSA_WITH_SHA256,
        SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    }
)

_CONSTRAINED: dict[bytes, bool] = {}
_CONSTRAINED_SIZE = 4096


def _name_constrained(ca: x509.Certificate) -> bool:
    # Only called on a path an engine validated: a valid signature identifies its
    # to-be-signed part, so keying on it is sound (and costs ~0.1 µs, no hashing).
    key = ca.signature
    known = _CONSTRAINED.get(key)
    if known is not None:
        return known
    try:
        ca.extensions.get_extension_for_class(x509.NameConstraints)
        value = True
    except x509.ExtensionNotFound:
        value = False
    except Exception:  # unreadable extensions: assume constrained (fail closed)
        value = True
    if len(_CONSTRAINED) >= _CONSTRAINED_SIZE:
        _CONSTRAINED.clear()
    _CONSTRAINED[key] = value
    return value


def check_unconstrained_leaf(path: Sequence[x509.Certificate]) -> None:
    """pyca applies name constraints to SANs only; the ``private`` profile admits leaves
    without SAN, which would slip past a constrained CA. Refuse that combination."""
    if len(path) < 2 or not any(_name_constrained(ca) for ca in path[1:]):
        return
    try:
        path[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except Exception:  # absent or unreadable: same refusal
        raise VerificationError(
            Reason.NAME_CONSTRAINTS,
            "leaf has no subjectAltName but a CA in its path is name-constrained",
        ) from None


def check_ca_profile(path: Sequence[x509.Certificate], policy: ValidationPolicy) -> None:
    """pyca's rules for the CAs of a path (anchor included) and its signatures."""
    for child, parent in pairwise(path):
        if child.signature_algorithm_oid not in SIGNATURE_ALGORITHMS:
            raise VerificationError(
                Reason.INVALID_CERTIFICATE,
                f"signature algorithm {child.signature_algorithm_oid.dotted_string} refused",
            )
        if _name_der(child.issuer) != _name_der(parent.subject):
            raise VerificationError(
                Reason.UNTRUSTED_CHAIN, "issuer name is not byte-identical to its issuer's subject"
            )
    for index, ca in enumerate(path[1:], 1):
        _check_ca(ca, index, policy)


def _check_ca_key(ca: x509.Certificate, index: int) -> None:
    """pyca's key rules for CAs: RSA of at least 2048 bits, EC on P-256/384/521 only
    (explicitly encoded curves do not even load)."""
    try:
        key = ca.public_key()
    except Exception:
        raise VerificationError(Reason.UNSUPPORTED_KEY, f"CA {index}: unreadable key") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise VerificationError(Reason.UNSUPPORTED_KEY, f"CA {index}: RSA-{key.key_size}")
    if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, _CURVES):
        raise VerificationError(Reason.UNSUPPORTED_KEY, f"CA {index}: curve {key.curve.name}")


def _name_der(name: x509.Name) -> bytes | None:
    try:
        return name.public_bytes()
    except Exception:
        return None


#: Extensions a CA may mark critical (pyca refuses any other critical one).
CA_CRITICAL_ALLOWED = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    }
)
_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


def _check_ca(ca: x509.Certificate, index: int, policy: ValidationPolicy) -> None:
    try:
        extensions = {ext.oid: ext for ext in ca.extensions}
        empty_subject = len(ca.subject) == 0
    except Exception:
        raise VerificationError(
            Reason.MALFORMED_CERTIFICATE, f"CA {index}: unreadable extensions or subject"
        ) from None
    _check_ca_key(ca, index)
    if ca.version is not x509.Version.v3 or empty_subject:
        raise VerificationError(
            Reason.INVALID_CERTIFICATE, f"CA {index}: not v3, or an empty subject"
        )
    critical = sorted(
        e.oid.dotted_string
        for e in extensions.values()
        if e.critical and e.oid not in CA_CRITICAL_ALLOWED
    )
    if critical:
        raise VerificationError(
            Reason.INVALID_CERTIFICATE, f"CA {index}: critical extension {critical[0]} refused"
        )
    aki = extensions.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    if (
        aki is not None
        and isinstance(aki.value, x509.AuthorityKeyIdentifier)
        and aki.value.key_identifier is None
    ):
        raise VerificationError(
            Reason.INVALID_CERTIFICATE, f"CA {index}: AKI without keyIdentifier"
        )
    bc = extensions.get(ExtensionOID.BASIC_CONSTRAINTS)
    if bc is None or not bc.critical:
        raise VerificationError(
            Reason.INVALID_CERTIFICATE, f"CA {index}: basicConstraints (2.5.29.19) not critical"
        )
    ku = extensions.get(ExtensionOID.KEY_USAGE)
    if ku is None or not (isinstance(ku.value, x509.KeyUsage) and ku.value.key_cert_sign):
        raise VerificationError(
            Reason.BAD_USAGE, f"CA {index}: keyUsage (2.5.29.15) missing or without keyCertSign"
        )
    eku = extensions.get(ExtensionOID.EXTENDED_KEY_USAGE)
    purpose = policy.extended_key_usage
    usages = eku.value if eku is not None else None
    if isinstance(usages, x509.ExtendedKeyUsage) and not {purpose, ANY_EKU} & set(usages):
        raise VerificationError(
            Reason.BAD_USAGE,
            f"CA {index}: EKU allows neither {eku_name(purpose)} nor anyExtendedKeyUsage",
        )
