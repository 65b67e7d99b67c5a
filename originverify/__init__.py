"""Verify TLS client certificates that an edge forwarded to the origin in HTTP headers.

The public API lives here; submodules are implementation detail unless documented.
"""

from __future__ import annotations

from . import formats
from .cache import ResultCache
from .chain import ValidationPolicy
from .errors import ConfigurationError, OriginVerifyError, Reason, VerificationError
from .formats import CertificateFormat, EdgeClaims, ForwardedCertificate, Limits
from .headers import HeaderList, Headers, MappingHeaders, WSGIHeaders, as_headers
from .identity import ANONYMOUS, AnonymousClient, ClientIdentity
from .rules import Rules
from .settings import build_verifier
from .source import (
    AllOf,
    AnyOf,
    EdgeSecret,
    InsecureNoSourceProof,
    RequestContext,
    SourceProof,
    TrustedProxies,
)
from .trust import TrustStore, load_certificates
from .verifier import Mode, Report, Step, Verifier

__version__ = "0.1.0"

__all__ = [
    "ANONYMOUS",
    "AllOf",
    "AnonymousClient",
    "AnyOf",
    "CertificateFormat",
    "ClientIdentity",
    "ConfigurationError",
    "EdgeClaims",
    "EdgeSecret",
    "ForwardedCertificate",
    "HeaderList",
    "Headers",
    "InsecureNoSourceProof",
    "Limits",
    "MappingHeaders",
    "Mode",
    "OriginVerifyError",
    "Reason",
    "Report",
    "RequestContext",
    "ResultCache",
    "Rules",
    "SourceProof",
    "Step",
    "TrustStore",
    "TrustedProxies",
    "ValidationPolicy",
    "VerificationError",
    "Verifier",
    "WSGIHeaders",
    "__version__",
    "as_headers",
    "build_verifier",
    "formats",
    "load_certificates",
]
