"""OCSP response validation (RFC 6960 §3.2): about this certificate, signed by its issuer or a
delegated responder the issuer certified for OCSP signing, inside its validity window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from .certinfo import BAD_EXTENSIONS, key_hash


class OCSPError(Exception):
    """An OCSP exchange that yields no usable answer (network, format, signature, time)."""


def _verify_signature(
    key: Any, signature: bytes, data: bytes, hash_algorithm: Any, algorithm_oid: Any
) -> None:
    """Verify a raw signature (cryptography has no ``is_signature_valid`` for OCSP)."""
    if isinstance(key, rsa.RSAPublicKey):
        if algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS or hash_algorithm is None:
            raise OCSPError("unsupported RSA signature scheme")
        key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if hash_algorithm is None:
            raise OCSPError("ECDSA signature without a hash")
        key.verify(signature, data, ec.ECDSA(hash_algorithm))
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key.verify(signature, data)
    else:
        raise OCSPError(f"unsupported responder key type {type(key).__name__}")


def cert_id(cert: x509.Certificate, issuer: x509.Certificate, algorithm: Any) -> ocsp.OCSPRequest:
    return ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm).build()


def check_ocsp_response(
    der: bytes, cert: x509.Certificate, issuer: x509.Certificate, at: datetime, skew: timedelta
) -> tuple[Literal["good", "revoked", "unknown"], datetime | None, datetime | None, str]:
    """Validate an OCSP response for ``cert`` (RFC 6960 3.2); raises ``OCSPError``.

    Returns ``(status, thisUpdate, nextUpdate, signer description)``. The signer is the
    issuer itself or a delegated responder certificate issued directly by the issuer and
    carrying the OCSP-signing EKU.
    """
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise OCSPError(f"malformed response: {exc}") from None
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OCSPError(f"responder says {response.response_status.name}")
    single = _single_response(response, cert, issuer)
    signer, signer_name = _signer(response, issuer, at, skew)
    try:
        _verify_signature(
            signer.public_key(),
            response.signature,
            response.tbs_response_bytes,
            response.signature_hash_algorithm,
            response.signature_algorithm_oid,
        )
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError) as exc:
        raise OCSPError(f"bad response signature ({type(exc).__name__})") from None

    this_update, next_update = single.this_update_utc, single.next_update_utc
    if this_update > at + skew:
        raise OCSPError(f"response not valid before {this_update:%Y-%m-%dT%H:%M:%SZ}")
    if next_update is not None and next_update <= at:
        raise OCSPError(f"stale response (nextUpdate {next_update:%Y-%m-%dT%H:%M:%SZ})")
    status = single.certificate_status
    if status is ocsp.OCSPCertStatus.GOOD:
        return "good", this_update, next_update, signer_name
    if status is ocsp.OCSPCertStatus.REVOKED:
        return "revoked", this_update, next_update, signer_name
    return "unknown", this_update, next_update, signer_name


def _single_response(
    response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse:
    """The SingleResponse whose CertID (serial, issuer name hash, issuer key hash) is ours."""
    for candidate in response.responses:
        if candidate.serial_number != cert.serial_number:
            continue
        expected = cert_id(cert, issuer, candidate.hash_algorithm)
        if (
            candidate.issuer_key_hash == expected.issuer_key_hash
            and candidate.issuer_name_hash == expected.issuer_name_hash
        ):
            return candidate
    raise OCSPError("response does not cover this certificate")


def _signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, at: datetime, skew: timedelta
) -> tuple[x509.Certificate, str]:
    """The issuer itself, or a delegated responder certificate included in the response."""
    by_name, by_key = response.responder_name, response.responder_key_hash
    if by_name == issuer.subject if by_name is not None else by_key == key_hash(issuer):
        return issuer, "issuer"
    for candidate in response.certificates:
        matches = (
            candidate.subject == by_name if by_name is not None else key_hash(candidate) == by_key
        )
        if matches:
            _check_delegate(candidate, issuer, at, skew)
            return candidate, "delegated responder"
    raise OCSPError("response signed by neither the issuer nor a delegated responder")


def _check_delegate(
    delegate: x509.Certificate, issuer: x509.Certificate, at: datetime, skew: timedelta
) -> None:
    try:
        delegate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as exc:
        raise OCSPError(f"delegated responder not issued by the issuer ({exc})") from None
    try:
        eku = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, *BAD_EXTENSIONS):
        raise OCSPError("delegated responder lacks the OCSP-signing EKU") from None
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        raise OCSPError("delegated responder lacks the OCSP-signing EKU")
    if not delegate.not_valid_before_utc - skew <= at <= delegate.not_valid_after_utc + skew:
        raise OCSPError("delegated responder certificate outside its validity period")
