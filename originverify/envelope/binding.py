"""Certificate headers bound by a signed digest instead of being signed themselves.

For an edge that can sign what it *sees* but not the certificate it forwards: a CloudFront
Function sees ``CloudFront-Viewer-Cert-Sha256`` but never ``Client-Cert``
(docs/cloudfront-signing.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from ..errors import Reason, VerificationError
from ..headers import Headers

__all__ = ["CLOUDFRONT_DIGEST_BINDING", "DigestBinding"]


@dataclass(frozen=True, slots=True)
class DigestBinding:
    """Lets a signature leave the leaf certificate header uncovered when it covers the leaf's
    SHA-256 instead: the origin hashes the forwarded leaf and refuses a mismatch
    (``edge_mismatch``). The chain header may then stay uncovered too: intermediates prove
    nothing by themselves, they are validated against the origin's own anchors.

    For an edge that can sign what it *sees* but not the certificate it forwards: a CloudFront
    Function sees ``CloudFront-Viewer-Cert-Sha256`` but never ``Client-Cert``
    (docs/cloudfront-signing.md). The leaf is an RFC 9440 byte sequence; the digest 64 hex.
    """

    certificate: str = "client-cert"
    digest: str = "cloudfront-viewer-cert-sha256"
    chain: str = "client-cert-chain"

    def names(self) -> tuple[str, str, str]:
        return (self.certificate.lower(), self.digest.lower(), self.chain.lower())

    def exempt(self, covered: list[str]) -> frozenset[str]:
        """The certificate headers a signature covering ``covered`` may leave uncovered."""
        certificate, digest, chain = self.names()
        if digest not in covered or certificate in covered:
            return frozenset()
        return frozenset((certificate, chain))

    def verify(self, headers: Headers) -> None:
        """After the signature verified: the forwarded leaf hashes to the signed digest."""
        certificate, digest, _ = self.names()
        leaves = headers.get_all(certificate)
        if not leaves:  # the edge hashed a certificate that did not arrive
            raise VerificationError(
                Reason.EDGE_MISMATCH, f"signed {digest!r} but no {certificate!r} forwarded"
            )
        if len(leaves) > 1:
            raise VerificationError(Reason.DUPLICATE_HEADER, f"{certificate!r} appears twice")
        value = leaves[0].strip()
        try:
            if len(value) < 2 or value[0] != ":" or value[-1] != ":":
                raise ValueError("not an RFC 9440 byte sequence")
            der = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VerificationError(
                Reason.MALFORMED_HEADER, f"{certificate!r}: {exc}"[:120]
            ) from None
        signed = headers.get_all(digest)[0].strip().lower()  # covered: present exactly once
        if not hmac.compare_digest(hashlib.sha256(der).hexdigest(), signed):
            raise VerificationError(
                Reason.EDGE_MISMATCH, f"{certificate!r} does not hash to the signed {digest!r}"
            )


#: CloudFront passthrough: ``Client-Cert`` bound by ``CloudFront-Viewer-Cert-Sha256``.
CLOUDFRONT_DIGEST_BINDING = DigestBinding()
