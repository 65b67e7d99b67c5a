"""One exception family with stable reason codes.

Reason codes are part of the public API: logs, metrics and adapters key on them, so a value
never changes meaning once released. ``detail`` is for logs only and never sent to clients.
"""

from __future__ import annotations

import json
from enum import StrEnum


class Reason(StrEnum):
    """Why a request was not given a verified identity."""

    # -- request did not provably come through the edge ------------------------------------
    EDGE_SECRET_MISSING = "edge_secret_missing"  # noqa: S105 - a reason code
    EDGE_SECRET_MISMATCH = "edge_secret_mismatch"  # noqa: S105 - a reason code
    PROXY_NOT_TRUSTED = "proxy_not_trusted"
    SIGNATURE_MISSING = "signature_missing"
    SIGNATURE_INVALID = "signature_invalid"
    SIGNATURE_EXPIRED = "signature_expired"
    SIGNATURE_REPLAYED = "signature_replayed"
    SIGNATURE_UNKNOWN_KEY = "signature_unknown_key"
    SIGNATURE_ALGORITHM = "signature_algorithm"
    SIGNATURE_COVERAGE = "signature_coverage"
    # -- header hygiene and decoding -------------------------------------------------------
    DUPLICATE_HEADER = "duplicate_header"
    AMBIGUOUS_HEADER_NAME = "ambiguous_header_name"
    HEADER_TOO_LARGE = "header_too_large"
    MALFORMED_HEADER = "malformed_header"
    MALFORMED_CERTIFICATE = "malformed_certificate"
    CHAIN_WITHOUT_LEAF = "chain_without_leaf"
    CHAIN_TOO_LONG = "chain_too_long"
    MISSING_CERTIFICATE = "missing_certificate"
    # -- chain validation ------------------------------------------------------------------
    UNSUPPORTED_KEY = "unsupported_key"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    UNTRUSTED_CHAIN = "untrusted_chain"
    CHAIN_TOO_DEEP = "chain_too_deep"
    BAD_USAGE = "bad_usage"
    NAME_CONSTRAINTS = "name_constraints"
    INVALID_CERTIFICATE = "invalid_certificate"
    ENGINE_DISAGREEMENT = "engine_disagreement"
    # -- revocation ------------------------------------------------------------------------
    REVOKED = "revoked"
    REVOCATION_UNKNOWN = "revocation_unknown"
    # -- after validation ------------------------------------------------------------------
    EDGE_MISMATCH = "edge_mismatch"
    RULE_DENIED = "rule_denied"
    # -- certificate-bound access tokens (RFC 8705, originverify.tokens) -------------------
    TOKEN_NOT_BOUND = "token_not_bound"  # noqa: S105 - a reason code
    TOKEN_BINDING_MISMATCH = "token_binding_mismatch"  # noqa: S105 - a reason code

    @property
    def http_status(self) -> int:
        """The status an adapter should answer with."""
        return _STATUS.get(self, 403)


_BAD_REQUEST = {
    Reason.DUPLICATE_HEADER,
    Reason.AMBIGUOUS_HEADER_NAME,
    Reason.HEADER_TOO_LARGE,
    Reason.MALFORMED_HEADER,
    Reason.MALFORMED_CERTIFICATE,
    Reason.CHAIN_WITHOUT_LEAF,
    Reason.CHAIN_TOO_LONG,
}
# RFC 8705 §3: a token/certificate mismatch is RFC 6750's invalid_token, answered with 401.
_STATUS: dict[Reason, int] = {r: 400 for r in _BAD_REQUEST} | {
    Reason.MISSING_CERTIFICATE: 401,
    Reason.TOKEN_NOT_BOUND: 401,
    Reason.TOKEN_BINDING_MISMATCH: 401,
}


class OriginVerifyError(Exception):
    """Base class of every exception this library raises on purpose."""


class ConfigurationError(OriginVerifyError):
    """The verifier cannot be built as configured; raised at start-up, never per request."""


class VerificationError(OriginVerifyError):
    """A request was refused; ``reason`` is stable, ``detail`` is for logs only."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail

    @property
    def http_status(self) -> int:
        return self.reason.http_status

    @property
    def public_message(self) -> str:
        """Short text safe to send to the client: the reason code and nothing else."""
        return _PUBLIC.get(self.reason, "client certificate rejected")

    def response_body(self, *, as_json: bool, with_reason: bool = False) -> tuple[str, bytes]:
        """``(content type, body)`` of a refusal: the public message, optionally the reason
        code (for APIs whose clients may see why), never ``detail``. Every adapter's default
        refusal is built here."""
        if not as_json:
            return "text/plain; charset=utf-8", (self.public_message + "\n").encode()
        payload: dict[str, object] = {"error": self.public_message, "status": self.http_status}
        if with_reason:
            payload["reason"] = self.reason.value
        return "application/json", json.dumps(payload).encode()


_PUBLIC: dict[Reason, str] = {
    Reason.MISSING_CERTIFICATE: "client certificate required",
    Reason.EDGE_SECRET_MISSING: "request did not come through the trusted edge",
    Reason.EDGE_SECRET_MISMATCH: "request did not come through the trusted edge",
    Reason.PROXY_NOT_TRUSTED: "request did not come through the trusted edge",
    Reason.TOKEN_NOT_BOUND: "access token is not bound to a client certificate",
    Reason.TOKEN_BINDING_MISMATCH: "access token is bound to another client certificate",
}
for _r in Reason:
    if _r.value.startswith("signature_"):
        _PUBLIC[_r] = "request did not come through the trusted edge"
for _r in _BAD_REQUEST:
    _PUBLIC[_r] = "malformed client certificate headers"
