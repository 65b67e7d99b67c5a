"""Google Cloud Application Load Balancers: mTLS custom request headers.

Nothing is sent by default; the backend service's custom request headers expand
``{client_cert_*}`` variables, and the load balancer overwrites any client-sent header of the
same name. ``{client_cert_leaf}`` and ``{client_cert_chain}`` are RFC 9440 and are filled only
for a certificate that passed validation against the TrustConfig, so a forwarded leaf has
been validated by the edge. Unknown values expand to empty strings, which mean "absent".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from . import claims as c
from .claims import ClaimHeaders
from .rfc9440 import RFC9440

_ERRORS = re.compile(r"[a-z0-9_]+(?:,[a-z0-9_]+)*")


def client_cert_error(value: str) -> Mapping[str, bool]:
    """``{client_cert_error}``: any predefined error string means "not verified"."""
    if not _ERRORS.fullmatch(value):
        raise ValueError("expected comma-separated error names")
    return {"verified": False}


GCP_CLAIMS = ClaimHeaders(
    {
        "present": ("X-Client-Cert-Present", c.flag_true_false),
        "verified": ("X-Client-Cert-Chain-Verified", c.flag_true_false),
        "error": ("X-Client-Cert-Error", client_cert_error),
        "sha256": ("X-Client-Cert-Hash", c.sha256_base64),
        "not_before": ("X-Client-Cert-Not-Before", c.rfc3339),
        "not_after": ("X-Client-Cert-Not-After", c.rfc3339),
    },
    absent=frozenset({""}),
)

GCP = RFC9440(
    name="gcp",
    cert_header="X-Client-Cert-Leaf",
    chain_header="X-Client-Cert-Chain",
    empty_means_absent=True,
    claims=GCP_CLAIMS,
    edge_validates=True,
)


def gcp(**renames: str) -> RFC9440:
    """Google Cloud LB with your own header names: ``cert=``, ``chain=``, ``present=``,
    ``verified=``, ``error=``, ``sha256=``, ``not_before=``, ``not_after=``."""
    cert = renames.pop("cert", GCP.cert_header)
    chain = renames.pop("chain", GCP.chain_header)
    return replace(GCP, cert_header=cert, chain_header=chain, claims=GCP.claims.renamed(renames))
