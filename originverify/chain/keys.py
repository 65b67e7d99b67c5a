"""Key caps: refuse oversized or odd RSA keys before any signature work (a DoS cap), and DSA.

Only the algorithm OID is read for non-RSA keys: loading an EC key costs ~40 µs, and the
edge's TLS stack already refuses curves it does not support during the handshake.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import PublicKeyAlgorithmOID

from ..errors import Reason, VerificationError
from .memo import Memo
from .policy import ValidationPolicy

_RSA_OIDS = (PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5, PublicKeyAlgorithmOID.RSASSA_PSS)

#: ``("rsa", bits, exponent)``, ``"dsa"``, ``"other"``, or an error text.
KeyFacts = tuple[str, int, int] | str


def key_facts(cert: x509.Certificate) -> KeyFacts:
    """What the key policy needs to know about ``cert``'s public key; never raises."""
    try:
        oid = cert.public_key_algorithm_oid
        if oid == PublicKeyAlgorithmOID.DSA:
            return "dsa"
        if oid not in _RSA_OIDS:
            return "other"
        key = cert.public_key()
    except Exception as exc:
        return f"bad key: {type(exc).__name__}"
    if not isinstance(key, rsa.RSAPublicKey):  # pragma: no cover - OID says RSA
        return "other"
    return ("rsa", key.key_size, key.public_numbers().e)


KEY_FACTS: Memo[KeyFacts] = Memo(key_facts)


def apply_key_policy(facts: KeyFacts, policy: ValidationPolicy, role: str) -> None:
    """Raise ``unsupported_key`` (or ``malformed_certificate``) for a key the policy refuses."""
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


def check_key(
    cert: x509.Certificate, policy: ValidationPolicy, role: str, der: bytes | None = None
) -> None:
    """The key policy for one certificate; with ``der`` the facts are memoised on its digest."""
    facts = KEY_FACTS(der, cert) if der is not None else key_facts(cert)
    apply_key_policy(facts, policy, role)
