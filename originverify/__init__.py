"""Verify TLS client certificates that an edge forwarded to the origin in HTTP headers.

The public API lives here; submodules are implementation detail unless documented.
"""

from __future__ import annotations

from . import formats
from .cache import ResultCache
from .chain import ValidationPolicy
from .config import Config, VerifierOptions
from .errors import ConfigurationError, OriginVerifyError, Reason, VerificationError
from .formats import CertificateFormat, EdgeClaims, ForwardedCertificate, Limits
from .headers import (
    HeaderList,
    Headers,
    WSGIHeaders,
    as_headers,
    from_environ,
    from_mapping,
    from_pairs,
)
from .identity import ANONYMOUS, AnonymousClient, ClientIdentity
from .outcome import Mode, Outcome, Report, Step
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
from .verifier import Verifier

__version__ = "0.1.0"

__all__ = [
    "ANONYMOUS",
    "AllOf",
    "AnonymousClient",
    "AnyOf",
    "CertificateFormat",
    "ClientIdentity",
    "Config",
    "ConfigurationError",
    "EdgeClaims",
    "EdgeSecret",
    "ForwardedCertificate",
    "HeaderList",
    "Headers",
    "InsecureNoSourceProof",
    "Limits",
    "Mode",
    "OriginVerifyError",
    "Outcome",
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
    "VerifierOptions",
    "WSGIHeaders",
    "__version__",
    "as_headers",
    "build_verifier",
    "formats",
    "from_environ",
    "from_mapping",
    "from_pairs",
    "load_certificates",
]
