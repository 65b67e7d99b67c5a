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


def _name_der(name: x509.Name) -> bytes | None:
    try:
        return name.public_bytes()
    except Exception:
        return None


def _check_ca(ca: x509.Certificate, index: int, policy: ValidationPolicy) -> None:
    try:
        extensions = {ext.oid: ext for ext in ca.extensions}
    except Exception:
        raise VerificationError(
            Reason.MALFORMED_CERTIFICATE, f"CA {index}: unreadable extensions"
        ) from None
    bc = extensions.get(ExtensionOID.BASIC_CONSTRAINTS)
    if bc is None or not bc.critical:
        raise VerificationError(
            Reason.INVALID_CERTIFICATE, f"CA {index}: basicConstraints (2.5.29.19) not critical"
        )
    if ExtensionOID.KEY_USAGE not in extensions:
        raise VerificationError(Reason.BAD_USAGE, f"CA {index}: keyUsage (2.5.29.15) missing")
    eku = extensions.get(ExtensionOID.EXTENDED_KEY_USAGE)
    purpose = policy.extended_key_usage
    usages = eku.value if eku is not None else None
    if isinstance(usages, x509.ExtendedKeyUsage) and not {purpose, ANY_EKU} & set(usages):
        raise VerificationError(
            Reason.BAD_USAGE,
            f"CA {index}: EKU allows neither {eku_name(purpose)} nor anyExtendedKeyUsage",
        )
