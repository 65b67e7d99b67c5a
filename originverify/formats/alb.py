"""AWS Application Load Balancer mTLS: passthrough and verify modes.

Passthrough sends the whole presented chain, leaf first, as concatenated URL-encoded PEM in
one header and validates nothing. Verify validates against the listener's trust store and
sends the leaf plus metadata; there is no "verified" header because a request only reaches
the target when the handshake validated. ALB keeps ``+``, ``/`` and ``=`` unescaped "as safe
characters" but its own examples show ``%3D``: the decoder accepts both. Every header can be
renamed with a listener attribute (``routing.http.request.x_amzn_mtls_clientcert*.header_name``).
"""

from __future__ import annotations

from . import claims as c
from .claims import ClaimHeaders
from .encodings import URL_PEM, URL_PEM_CHAIN, EncodedCertificate

VERIFY_CLAIMS = ClaimHeaders(
    {
        # The documented example is uppercase hex without separators ("03A5B1").
        "serial": ("X-Amzn-Mtls-Clientcert-Serial-Number", c.serial_hex),
        "issuer": ("X-Amzn-Mtls-Clientcert-Issuer", c.rfc2253_dn),
        "subject": ("X-Amzn-Mtls-Clientcert-Subject", c.rfc2253_dn),
        "validity": ("X-Amzn-Mtls-Clientcert-Validity", c.validity_pair),
    }
)

ALB_PASSTHROUGH = EncodedCertificate(
    name="alb-passthrough",
    cert_header="X-Amzn-Mtls-Clientcert",
    encoding=URL_PEM_CHAIN,
)

ALB_VERIFY = EncodedCertificate(
    name="alb-verify",
    cert_header="X-Amzn-Mtls-Clientcert-Leaf",
    encoding=URL_PEM,
    claims=VERIFY_CLAIMS,
    edge_validates=True,
)


def alb_passthrough(**renames: str) -> EncodedCertificate:
    """ALB passthrough; ``cert=`` follows the listener attribute
    ``routing.http.request.x_amzn_mtls_clientcert.header_name``."""
    return ALB_PASSTHROUGH.renamed(**renames)


def alb_verify(**renames: str) -> EncodedCertificate:
    """ALB verify; ``cert=`` (``..._leaf.header_name``), ``serial=``, ``issuer=``,
    ``subject=``, ``validity=`` follow the matching listener attributes."""
    return ALB_VERIFY.renamed(**renames)
