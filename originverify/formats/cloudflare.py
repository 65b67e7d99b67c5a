"""Cloudflare: the "Add TLS client auth headers" managed transform (metadata only), and the
RFC 9440 transform-rule fields (``cf.tls_client_auth.cert_rfc9440``) with the same metadata.

The managed transform never sends the certificate: ``cloudflare`` always decodes to
``leaf=None`` plus claims, which are not proof by themselves. Requests with a presented but
invalid or revoked certificate still reach the origin unless a WAF rule blocks them, so the
verdict combines ``cf-cert-verified`` and ``cf-cert-revoked`` (revoked wins). Fields expand to
empty strings on connections without mTLS; empty means "not sent".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from . import claims as c
from .claims import ClaimHeaders
from .encodings import EncodedCertificate
from .rfc9440 import RFC9440


def revoked_flag(value: str) -> Mapping[str, bool]:
    """``cf-cert-revoked: true`` overrides ``cf-cert-verified``: not verified."""
    return {"verified": False} if c.flag_true_false(value) else {}


CLOUDFLARE_CLAIMS = ClaimHeaders(
    {
        "present": ("cf-cert-presented", c.flag_true_false),
        "verified": ("cf-cert-verified", c.flag_true_false),
        "revoked": ("cf-cert-revoked", revoked_flag),
        "subject": ("cf-cert-subject-dn-rfc2253", c.rfc2253_dn),
        "issuer": ("cf-cert-issuer-dn-rfc2253", c.rfc2253_dn),
        "serial": ("cf-cert-serial", c.serial_hex),
        "sha256": ("cf-cert-sha256", c.sha256_hex),
        "not_before": ("cf-cert-not-before", c.openssl_time),
        "not_after": ("cf-cert-not-after", c.openssl_time),
    },
    absent=frozenset({""}),
)

CLOUDFLARE = EncodedCertificate(
    name="cloudflare",
    cert_header=None,
    claims=CLOUDFLARE_CLAIMS,
    edge_validates=True,
)

CLOUDFLARE_RFC9440 = RFC9440(
    name="cloudflare-rfc9440",
    cert_header="Client-Cert",
    chain_header="Client-Cert-Chain",
    # The transform rule writes the field's value; it is empty without a certificate.
    empty_means_absent=True,
    claims=CLOUDFLARE_CLAIMS,
    edge_validates=True,
)


def cloudflare(**renames: str) -> EncodedCertificate:
    """Managed-transform metadata; rename a ``cf-cert-*`` header by its claim key
    (``present``, ``verified``, ``revoked``, ``subject``, ``issuer``, ``serial``, ``sha256``,
    ``not_before``, ``not_after``)."""
    return CLOUDFLARE.renamed(**renames)


def cloudflare_rfc9440(**renames: str) -> RFC9440:
    """Transform-rule RFC 9440 headers (you name them: ``cert=``, ``chain=``) plus the
    managed-transform metadata (claim keys as for ``cloudflare``)."""
    cert = renames.pop("cert", CLOUDFLARE_RFC9440.cert_header)
    chain = renames.pop("chain", CLOUDFLARE_RFC9440.chain_header)
    return replace(
        CLOUDFLARE_RFC9440,
        cert_header=cert,
        chain_header=chain,
        claims=CLOUDFLARE_CLAIMS.renamed(renames),
    )
