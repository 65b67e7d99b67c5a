"""RFC 9440 ``Client-Cert`` / ``Client-Cert-Chain``: CloudFront passthrough, GCP, Cloudflare."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Reason, VerificationError
from ..headers import Headers
from .base import CertificateFormat, ForwardedCertificate, Limits, single_value
from .claims import NO_CLAIM_HEADERS, ClaimHeaders
from .sfbinary import parse_item, parse_list


@dataclass(frozen=True)
class RFC9440(CertificateFormat):
    """Leaf as one sf-binary Item, the rest of the chain (leaf excluded) as an sf List.

    ``Client-Cert-Chain`` may span several field lines (it is a List); ``Client-Cert`` may
    not. ``empty_means_absent`` is for edges that expand a missing certificate to an empty
    value (Google Cloud); elsewhere an empty ``Client-Cert`` is malformed.
    """

    name: str = "rfc9440"
    cert_header: str = "Client-Cert"
    chain_header: str = "Client-Cert-Chain"
    empty_means_absent: bool = False
    claims: ClaimHeaders = field(default=NO_CLAIM_HEADERS)
    #: True for presets whose edge forwards only certificates it validated (Google Cloud).
    edge_validates: bool = False

    @property
    def header_names(self) -> tuple[str, ...]:
        return (self.cert_header, self.chain_header, *self.claims.header_names)

    def decode(self, headers: Headers, limits: Limits) -> ForwardedCertificate:
        leaf_value = single_value(headers, self.cert_header, limits.max_leaf_bytes)
        chain_values = headers.get_all(self.chain_header)
        if leaf_value == "" and self.empty_means_absent:
            leaf_value = None
        if leaf_value is None:
            if any(v.strip(" \t") for v in chain_values):
                raise VerificationError(
                    Reason.CHAIN_WITHOUT_LEAF,
                    f"{self.chain_header} sent without {self.cert_header}",
                )
            return ForwardedCertificate(None, (), self.claims.read(headers, limits))
        leaf = parse_item(leaf_value, self.cert_header)
        chain: list[bytes] = []
        if chain_values:
            joined = ",".join(chain_values)
            if len(joined) > limits.max_chain_bytes:
                raise VerificationError(
                    Reason.HEADER_TOO_LARGE,
                    f"{self.chain_header} is {len(joined)} bytes, limit {limits.max_chain_bytes}",
                )
            # Count before decoding: a List stuffed with members is refused without work.
            if joined.count(",") >= limits.max_chain_certs:
                raise VerificationError(
                    Reason.CHAIN_TOO_LONG,
                    f"{joined.count(',') + 1} chain certificates, limit {limits.max_chain_certs}",
                )
            chain = parse_list(joined, self.chain_header)
        return ForwardedCertificate(leaf, tuple(chain), self.claims.read(headers, limits))
