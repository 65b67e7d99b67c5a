"""Apache httpd mod_ssl + mod_headers (``RequestHeader set X "%{SSL_CLIENT_CERT}s"``).

mod_headers turns every CR and LF of the PEM into a space, and writes the literal ``(null)``
when the variable is unset (no certificate, or fewer chain certificates than headers). The
chain comes one certificate per header from ``SSL_CLIENT_CERT_CHAIN_0``, ``_1``, ... (leaf
excluded). Header names use dashes, not mod_ssl's variable names: gunicorn, Django and
nginx drop or refuse header names with underscores.
"""

from __future__ import annotations

from dataclasses import replace

from . import claims as c
from .claims import ClaimHeaders
from .encodings import SPACED_PEM, EncodedCertificate
from .nginx import openssl_verify

NULL = "(null)"

APACHE_CLAIMS = ClaimHeaders(
    {
        "verify": ("X-SSL-Client-Verify", openssl_verify),
        "subject": ("X-SSL-Client-S-DN", c.rfc2253_dn),
        "issuer": ("X-SSL-Client-I-DN", c.rfc2253_dn),
        "serial": ("X-SSL-Client-Serial", c.serial_hex),
    },
    absent=frozenset({NULL}),
)


def _chain_names(prefix: str, depth: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{index}" for index in range(depth))


APACHE = EncodedCertificate(
    name="apache",
    cert_header="X-SSL-Client-Cert",
    encoding=SPACED_PEM,
    chain_headers=_chain_names("X-SSL-Client-Cert-Chain-", 3),
    chain_encoding=SPACED_PEM,
    claims=APACHE_CLAIMS,
    absent_values=frozenset({NULL}),
    edge_validates=True,
)


def apache(
    *, chain_prefix: str = "X-SSL-Client-Cert-Chain-", chain_depth: int = 3, **renames: str
) -> EncodedCertificate:
    """Apache; ``chain_depth`` headers ``<chain_prefix>0`` ... carry the chain (0: none).

    Other renames: ``cert=``, ``verify=``, ``subject=``, ``issuer=``, ``serial=``.
    """
    if chain_depth < 0:
        raise ValueError("chain_depth must be >= 0")
    return replace(APACHE, chain_headers=_chain_names(chain_prefix, chain_depth)).renamed(**renames)
