"""RFC 8705 certificate-bound access tokens: the binding, not the token.

An authorization server that issues tokens to mTLS clients puts the SHA-256 thumbprint of the
client certificate into the token's confirmation claim, ``{"cnf": {"x5t#S256": "..."}}``
(RFC 8705 §3.1). A resource server then accepts the token only on a request made with that
same certificate, so a stolen token is useless without the client's private key.

Your JWT library (or token introspection) validates the token itself: signature, issuer,
audience, expiry. This module does only what needs the verified certificate: compute the
thumbprint of the ``ClientIdentity`` originverify established, and compare it with the
token's ``cnf`` claim in constant time. See docs/token-binding.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .errors import Reason, VerificationError
from .identity import AnonymousClient, ClientIdentity

#: The confirmation method RFC 8705 §3.1 registers for a certificate's SHA-256 thumbprint.
CNF_MEMBER = "x5t#S256"
_THUMBPRINT_LENGTH = 43  # base64url of 32 bytes, without padding


def x5t_s256(certificate: ClientIdentity | x509.Certificate | bytes) -> str:
    """The ``x5t#S256`` thumbprint: base64url (no padding) of the SHA-256 of the DER."""
    if isinstance(certificate, ClientIdentity):
        return certificate.x5t_s256  # from the fingerprint computed once per identity
    der = (
        certificate.public_bytes(Encoding.DER)
        if isinstance(certificate, x509.Certificate)
        else certificate
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def check_token_binding(
    claims: Mapping[str, Any], identity: ClientIdentity | AnonymousClient | None
) -> None:
    """Raise ``VerificationError`` unless ``claims`` (a validated token's claims or an
    introspection response) are bound to ``identity``'s certificate.

    ``missing_certificate``: no verified client certificate (anonymous request).
    ``token_not_bound``: no ``cnf`` claim with an ``x5t#S256`` member: the token is a plain
    bearer token, refused where binding is required.
    ``token_binding_mismatch``: the thumbprint is malformed or names another certificate.
    All three answer 401 (RFC 8705 §3: RFC 6750's ``invalid_token``).
    """
    if not isinstance(identity, ClientIdentity):
        raise VerificationError(
            Reason.MISSING_CERTIFICATE, "certificate-bound token on a request without one"
        )
    cnf = claims.get("cnf")
    bound = cnf.get(CNF_MEMBER) if isinstance(cnf, Mapping) else None
    if bound is None:
        raise VerificationError(Reason.TOKEN_NOT_BOUND, f"token has no cnf.{CNF_MEMBER} claim")
    if not isinstance(bound, str) or len(bound) != _THUMBPRINT_LENGTH or not bound.isascii():
        raise VerificationError(
            Reason.TOKEN_BINDING_MISMATCH, f"cnf.{CNF_MEMBER} is not a SHA-256 thumbprint"
        )
    expected = identity.x5t_s256
    if not hmac.compare_digest(bound.encode("ascii"), expected.encode("ascii")):
        raise VerificationError(
            Reason.TOKEN_BINDING_MISMATCH,
            f"token bound to {bound}, client certificate is {expected} "
            f"(sha256 {identity.fingerprint_sha256})",
        )


def bearer_challenge(error: VerificationError) -> str:
    """The ``WWW-Authenticate`` value RFC 6750 §3 asks for with a refused token."""
    if error.reason in (Reason.TOKEN_NOT_BOUND, Reason.TOKEN_BINDING_MISMATCH):
        return f'Bearer error="invalid_token", error_description="{error.public_message}"'
    return "Bearer"
