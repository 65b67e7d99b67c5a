"""nginx (``proxy_set_header`` with ``$ssl_client_*``) and Kubernetes ingress-nginx.

nginx has no chain variable: only the leaf travels. ``$ssl_client_escaped_cert`` escapes
everything but ``A-Z a-z 0-9 - . _ ~``; the deprecated ``$ssl_client_cert`` folds the PEM with
a tab before every line after the first (obs-fold), which servers either keep or replace
with spaces, and which gunicorn >= 23 refuses unless ``permit_obsolete_folding`` is set.
``$ssl_client_verify`` carries nginx's verdict: ``SUCCESS``, ``FAILED:<reason>`` (a
certificate was presented and failed, only possible with ``ssl_verify_client optional`` or
``optional_no_ca``) or ``NONE`` (no certificate).
"""

from __future__ import annotations

from collections.abc import Mapping

from . import claims as c
from .claims import ClaimHeaders
from .encodings import TAB_FOLDED_PEM, URL_PEM, EncodedCertificate


def openssl_verify(value: str) -> Mapping[str, bool]:
    """``$ssl_client_verify`` / Apache ``SSL_CLIENT_VERIFY`` → ``present`` and ``verified``.

    ``GENEROUS`` is Apache's "failed but tolerated" (``SSLVerifyClient optional_no_ca``).
    """
    if value == "SUCCESS":
        return {"present": True, "verified": True}
    if value == "NONE":
        return {"present": False, "verified": False}
    if value == "GENEROUS" or value == "FAILED" or value.startswith("FAILED:"):
        return {"present": True, "verified": False}
    raise ValueError("expected SUCCESS, FAILED:<reason>, GENEROUS or NONE")


NGINX_CLAIMS = ClaimHeaders(
    {
        "verify": ("X-SSL-Client-Verify", openssl_verify),
        "subject": ("X-SSL-Client-S-DN", c.rfc2253_dn),
        "issuer": ("X-SSL-Client-I-DN", c.rfc2253_dn),
        "serial": ("X-SSL-Client-Serial", c.serial_hex),
        "not_before": ("X-SSL-Client-V-Start", c.openssl_time),
        "not_after": ("X-SSL-Client-V-End", c.openssl_time),
    }
)

NGINX = EncodedCertificate(
    name="nginx",
    cert_header="X-SSL-Client-Cert",
    encoding=URL_PEM,
    claims=NGINX_CLAIMS,
    edge_validates=True,
)

NGINX_LEGACY = EncodedCertificate(
    name="nginx-legacy",
    cert_header="X-SSL-Client-Cert",
    encoding=TAB_FOLDED_PEM,
    claims=NGINX_CLAIMS,
    edge_validates=True,
)

INGRESS_NGINX = EncodedCertificate(
    name="ingress-nginx",
    cert_header="ssl-client-cert",
    encoding=URL_PEM,
    claims=ClaimHeaders(
        {
            "verify": ("ssl-client-verify", openssl_verify),
            "subject": ("ssl-client-subject-dn", c.rfc2253_dn),
            "issuer": ("ssl-client-issuer-dn", c.rfc2253_dn),
        }
    ),
    edge_validates=True,
)


def nginx(**renames: str) -> EncodedCertificate:
    """nginx with ``$ssl_client_escaped_cert``; rename with ``cert=``, ``verify=``,
    ``subject=``, ``issuer=``, ``serial=``, ``not_before=``, ``not_after=``."""
    return NGINX.renamed(**renames)


def nginx_legacy(**renames: str) -> EncodedCertificate:
    """nginx with the deprecated tab-folded ``$ssl_client_cert``; same keys as ``nginx``."""
    return NGINX_LEGACY.renamed(**renames)


def ingress_nginx(**renames: str) -> EncodedCertificate:
    """ingress-nginx; the names are fixed by its template, renames are for whatever sits
    between it and the origin: ``cert=``, ``verify=``, ``subject=``, ``issuer=``."""
    return INGRESS_NGINX.renamed(**renames)
