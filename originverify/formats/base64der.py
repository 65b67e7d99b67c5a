"""Edges that send bare base64 DER: Traefik, HAProxy, Azure App Service, Cloudflare Access,
Caddy.

No markers, no colons, standard alphabet. Traefik joins the presented chain with ``,`` (leaf
first); HAProxy's ``ssl_c_chain_der`` is the intermediates' DER back to back, base64'd as one
blob. None of these edges says whether it validated the certificate, so only HAProxy and its
explicit ``ssl_c_verify`` header may be trusted as an edge verdict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_plus

from . import claims as c
from .claims import ClaimHeaders
from .encodings import (
    BASE64_CONCATENATED_DER,
    BASE64_DER,
    BASE64_DER_LIST,
    Base64Der,
    EncodedCertificate,
)

# -- Traefik ---------------------------------------------------------------------------------

_QUERY_ESCAPED = re.compile(r"[A-Za-z0-9%+._~-]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_INFO_PAIR = r'(?:Subject|Issuer|SerialNumber|NB|NA|SAN)="[^"]*"'
_INFO_ELEMENT = rf"(?:{_INFO_PAIR}(?:;{_INFO_PAIR})*)?"
_INFO = re.compile(rf"{_INFO_ELEMENT}(?:,{_INFO_ELEMENT})*")
_INFO_FIRST = re.compile(_INFO_ELEMENT)
_INFO_PAIRS = re.compile(r'(Subject|Issuer|SerialNumber|NB|NA|SAN)="([^"]*)"')


def traefik_info(value: str) -> Mapping[str, Any]:
    """``X-Forwarded-Tls-Client-Cert-Info``: the leaf's serial and validity.

    Traefik writes ``Subject="..";Issuer="..";SerialNumber="<decimal>";NB="<unix>";NA=".."``
    per presented certificate (``,`` between certificates), then ``url.QueryEscape``s the
    whole string, so this one header *is* form-decoded (``+`` is a space). Its DN strings use
    Traefik's own field order, not RFC 2253, so they stay in ``raw`` and are not claimed.
    """
    if not _QUERY_ESCAPED.fullmatch(value) or _BAD_ESCAPE.search(value):
        raise ValueError("expected a query-escaped value")
    text = unquote_plus(value, errors="strict")
    if not _INFO.fullmatch(text):
        raise ValueError('expected Key="value" pairs (Subject, Issuer, SerialNumber, NB, NA, SAN)')
    first = _INFO_FIRST.match(text)
    pairs = _INFO_PAIRS.findall(first.group(0) if first else "")
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("repeated field in the leaf's element")
    fields = dict(pairs)
    out: dict[str, Any] = {}
    if "SerialNumber" in fields:
        out["serial"] = c.serial_decimal(fields["SerialNumber"])
    if "NB" in fields:
        out["not_before"] = c.unix_seconds(fields["NB"])
    if "NA" in fields:
        out["not_after"] = c.unix_seconds(fields["NA"])
    return out


TRAEFIK = EncodedCertificate(
    name="traefik",
    cert_header="X-Forwarded-Tls-Client-Cert",
    encoding=BASE64_DER_LIST,
    claims=ClaimHeaders({"info": ("X-Forwarded-Tls-Client-Cert-Info", traefik_info)}),
)


def traefik(*, escaped: bool = False, **renames: str) -> EncodedCertificate:
    """Traefik ``passTLSClientCert`` (``pem: true``, optionally ``info``).

    ``escaped=True`` is for Traefik before 2.9.4, which query-escaped the certificates.
    Renames: ``cert=``, ``info=`` (for whatever renames them between Traefik and the origin).
    """
    fmt = TRAEFIK.renamed(**renames)
    if escaped:
        fmt = replace(
            fmt,
            encoding=Base64Der(",", percent_encoded=True, description="query-escaped base64 DER"),
        )
    return fmt


# -- HAProxy ---------------------------------------------------------------------------------


_VERIFY_CODE = re.compile(r"[0-9]{1,5}")


def haproxy_verify(value: str) -> Mapping[str, bool]:
    """``%[ssl_c_verify]``: OpenSSL's verify result, 0 is ``X509_V_OK``.

    0 is also what HAProxy reports when no certificate was presented, so this says nothing
    about presence: send it only ``if { ssl_c_used }``.
    """
    if not _VERIFY_CODE.fullmatch(value):
        raise ValueError("expected the integer %[ssl_c_verify]")
    return {"verified": int(value) == 0}


#: HAProxy's log-format writes ``-`` for a sample that does not exist (e.g.
#: ``ssl_c_chain_der`` when the client sent no intermediates).
HAPROXY_ABSENT = frozenset({"", "-"})

HAPROXY = EncodedCertificate(
    name="haproxy",
    cert_header="X-SSL-Client-Cert",
    encoding=BASE64_DER,
    chain_headers=("X-SSL-Client-Chain",),
    chain_encoding=BASE64_CONCATENATED_DER,
    claims=ClaimHeaders(
        {
            "verify": ("X-SSL-Client-Verify", haproxy_verify),
            "sha256": ("X-SSL-Client-SHA256", c.sha256_hex),
            "serial": ("X-SSL-Client-Serial", c.serial_hex),
        },
        absent=HAPROXY_ABSENT,
    ),
    absent_values=HAPROXY_ABSENT,
    edge_validates=True,
)


def haproxy(**renames: str) -> EncodedCertificate:
    """HAProxy with the ``http-request set-header`` lines from docs/edges.md; rename with
    ``cert=``, ``chain=``, ``verify=``, ``sha256=``, ``serial=``."""
    return HAPROXY.renamed(**renames)


# -- Azure App Service -----------------------------------------------------------------------

AZURE_APP_SERVICE = EncodedCertificate(
    name="azure-app-service",
    cert_header="X-ARR-ClientCert",
    encoding=BASE64_DER,
)


def azure_app_service(**renames: str) -> EncodedCertificate:
    """Azure App Service (``clientCertEnabled``); nothing to rename, ``cert=`` for relays."""
    return AZURE_APP_SERVICE.renamed(**renames)


# -- Cloudflare Access -----------------------------------------------------------------------

CLOUDFLARE_ACCESS = EncodedCertificate(
    name="cloudflare-access",
    cert_header="Cf-Client-Cert-Der-Base64",
    encoding=BASE64_DER,
    # The fingerprint's spelling is undocumented: hex and base64 are both accepted.
    claims=ClaimHeaders({"sha256": ("Cf-Client-Cert-Sha256", c.sha256_hex_or_base64)}),
)


def cloudflare_access(**renames: str) -> EncodedCertificate:
    """Cloudflare Access ``client_certificate_forwarding``; ``cert=``, ``sha256=``."""
    return CLOUDFLARE_ACCESS.renamed(**renames)


# -- Caddy -----------------------------------------------------------------------------------

CADDY_CERT_PLACEHOLDER = "{http.request.tls.client.certificate_der_base64}"
CADDY_FINGERPRINT_PLACEHOLDER = "{http.request.tls.client.fingerprint}"

CADDY = EncodedCertificate(
    name="caddy",
    cert_header="X-Client-Cert",
    encoding=BASE64_DER,
    claims=ClaimHeaders(
        {"sha256": ("X-Client-Cert-Sha256", c.sha256_hex)},
        absent=frozenset({"", CADDY_FINGERPRINT_PLACEHOLDER}),
    ),
    # Without a client certificate the placeholder is unknown: current Caddy leaves its text
    # in the header (``ReplaceKnown``), older releases wrote an empty value.
    absent_values=frozenset({"", CADDY_CERT_PLACEHOLDER}),
)


def caddy(**renames: str) -> EncodedCertificate:
    """Caddy ``reverse_proxy`` with ``header_up``; ``cert=``, ``sha256=``."""
    return CADDY.renamed(**renames)
