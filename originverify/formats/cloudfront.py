"""Amazon CloudFront: passthrough (RFC 9440 + metadata) and required/optional (``-Pem``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Reason, VerificationError
from ..headers import Headers
from . import claims as c
from .base import CertificateFormat, ForwardedCertificate, Limits, single_value
from .claims import ClaimHeaders
from .pem import percent_decode, split_pem
from .rfc9440 import RFC9440

VIEWER_CLAIMS = ClaimHeaders(
    {
        "sha256": ("CloudFront-Viewer-Cert-Sha256", c.sha256_hex),
        "serial": ("CloudFront-Viewer-Cert-Serial-Number", c.serial_colon_hex),
        "subject": ("CloudFront-Viewer-Cert-Subject", c.rfc2253_dn),
        "issuer": ("CloudFront-Viewer-Cert-Issuer", c.rfc2253_dn),
        "present": ("CloudFront-Viewer-Cert-Present", c.flag_01),
        "validity": ("CloudFront-Viewer-Cert-Validity", c.validity_pair),
    }
)


def cloudfront_passthrough(**renames: str) -> RFC9440:
    """CloudFront passthrough; keyword arguments rename headers (``cf.mtls`` helpers).

    ``cert=`` and ``chain=`` rename ``Client-Cert``/``Client-Cert-Chain``; claim names
    (``sha256``, ``serial``, ``subject``, ``issuer``, ``present``, ``validity``) rename the
    ``CloudFront-Viewer-Cert-*`` headers.
    """
    cert = renames.pop("cert", "Client-Cert")
    chain = renames.pop("chain", "Client-Cert-Chain")
    return RFC9440(
        name="cloudfront-passthrough",
        cert_header=cert,
        chain_header=chain,
        claims=VIEWER_CLAIMS.renamed(renames),
    )


@dataclass(frozen=True)
class CloudFrontViewer(CertificateFormat):
    """Required/optional mode: the leaf as URL-encoded PEM, no chain, plus metadata.

    CloudFront validated the chain against its own trust store; re-validating at the origin
    needs the intermediates configured as extra intermediates (the chain is not forwarded).
    """

    name: str = "cloudfront-viewer"
    edge_validates: bool = True
    pem_header: str = "CloudFront-Viewer-Cert-Pem"
    claims: ClaimHeaders = field(default=VIEWER_CLAIMS)

    @property
    def header_names(self) -> tuple[str, ...]:
        return (self.pem_header, *self.claims.header_names)

    def decode(self, headers: Headers, limits: Limits) -> ForwardedCertificate:
        value = single_value(headers, self.pem_header, limits.max_leaf_bytes)
        claims = self.claims.read(headers, limits)
        if value is None:
            return ForwardedCertificate(None, (), claims)
        blocks = split_pem(percent_decode(value, self.pem_header), self.pem_header)
        if len(blocks) != 1:
            raise VerificationError(
                Reason.MALFORMED_HEADER, f"{self.pem_header}: {len(blocks)} PEM blocks, expected 1"
            )
        return ForwardedCertificate(blocks[0], (), claims)


def cloudfront_viewer(**renames: str) -> CloudFrontViewer:
    pem = renames.pop("pem", "CloudFront-Viewer-Cert-Pem")
    return CloudFrontViewer(pem_header=pem, claims=VIEWER_CLAIMS.renamed(renames))
