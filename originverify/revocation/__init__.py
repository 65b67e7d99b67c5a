"""Revocation checking (RFC 5280 §6.3.3 CRLs, RFC 6960 OCSP) for validated paths.

``Revocation`` is the entry point; the modules hold its parts: ``crl`` (parsing), ``scope``
(does a CRL cover a certificate), ``issuers`` (who may sign a CRL), ``evaluate`` (the §6.3.3
loop, delta and indirect CRLs), ``ocsp``/``ocsp_response`` (OCSP), ``refresher`` (sources and
their threads), ``fetch`` (HTTP with a total deadline), ``status`` (``RevocationStatus``).
"""

from .checker import CRLInput, Mode, Revocation, Scope, load_certificates
from .crl import CRLError, LoadedCRL, load_crls, parse_crl
from .fetch import Fetcher, http_fetch, urllib_fetch
from .ocsp_response import OCSPError, check_ocsp_response
from .status import RevocationStatus

__all__ = [
    "CRLError",
    "CRLInput",
    "Fetcher",
    "LoadedCRL",
    "Mode",
    "OCSPError",
    "Revocation",
    "RevocationStatus",
    "Scope",
    "check_ocsp_response",
    "http_fetch",
    "load_certificates",
    "load_crls",
    "parse_crl",
    "urllib_fetch",
]
