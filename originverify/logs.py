"""The log lines of the request path, decided once in the core (adapters log nothing).

Logger ``originverify``. One WARNING per enforced refusal ("rejected") and one per report-only
"would reject", so the reason is visible under any server's stock logging (Python's
last-resort handler prints WARNING and above to stderr when nothing is configured);
accepted requests at DEBUG. Fields: ``reason``, ``status``, ``peer``, ``leaf_sha256``
(of the forwarded leaf, when one was decoded), ``request`` (method and path, no query),
``detail``. Never secrets, never whole certificates; every attacker-supplied text is
escaped (no control characters, so no forged log lines) and capped.
"""

from __future__ import annotations

import logging

from .outcome import Outcome
from .source import RequestContext

log = logging.getLogger("originverify")

__all__ = ["clean", "log", "log_outcome"]

#: C0 and C1 controls, DEL, Unicode line and paragraph separators, and the bidirectional
#: and zero-width format characters: anything that could start a forged log line or make
#: one read differently from what it holds. Backslash too, so escapes stay unambiguous.
_UNSAFE = (
    *range(0x20),
    *range(0x7F, 0xA0),
    0x200B,
    0x200C,
    0x200D,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0xFEFF,
)
_ESCAPES = {i: (f"\\x{i:02x}" if i < 0x100 else f"\\u{i:04x}") for i in _UNSAFE} | {0x5C: "\\\\"}


def clean(text: object, limit: int = 300) -> str:
    """Printable, single-line, bounded text for a log field; never raises."""
    try:
        value = str(text)
    except Exception:  # a hostile object's __str__ must not break logging
        return "<unprintable>"
    if len(value) > limit:
        value = value[:limit] + "…"
    return value.translate(_ESCAPES)


def _request_line(request: RequestContext) -> str:
    if request.method is None and request.target is None:
        return "-"
    target = (request.target or "").split("?", 1)[0]
    return clean(f"{request.method or '-'} {target or '-'}", 200)


def log_outcome(outcome: Outcome, request: RequestContext) -> None:
    """The one log line of a verification."""
    error = outcome.error
    if error is None:
        if log.isEnabledFor(logging.DEBUG):
            identity = outcome.identity
            log.debug(
                "originverify: accepted via=%s peer=%s leaf_sha256=%s request=%s subject=%s",
                outcome.via,
                clean(request.peer or "-", 64),
                outcome.leaf_sha256 or "-",
                _request_line(request),
                clean(_subject(identity)),
            )
        return
    log.warning(
        "originverify: %s reason=%s status=%d peer=%s leaf_sha256=%s request=%s detail=%s",
        "rejected" if outcome.enforced else "would reject (report-only)",
        error.reason.value,
        error.http_status,
        clean(request.peer or "-", 64),
        outcome.leaf_sha256 or "-",
        _request_line(request),
        clean(error.detail),
    )


def _subject(identity: object) -> str:
    if identity is None:
        return "anonymous"
    try:
        return str(identity.subject)  # type: ignore[attr-defined]
    except Exception:  # a name that cannot be rendered must not break the log line
        return "<unreadable subject>"
