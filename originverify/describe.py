"""Rendering attacker-supplied names for messages and logs, without ever raising.

``x509.Name.rfc4514_string()`` raises ``ValueError`` on an attribute whose bytes are not
valid for its string type (invalid UTF-8 in a UTF8String CN, for example), and a hostile
subject can be kilobytes long. Every message that shows a certificate's name goes through
``name`` (or ``subject``), which falls back to a per-attribute rendering and then to a
fixed text, and caps the length.
"""

from __future__ import annotations

from cryptography import x509

LIMIT = 200
UNREADABLE = "<unreadable name>"


def cap(text: str, limit: int = LIMIT) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= limit else text[:limit] + "…"


def name(value: x509.Name, limit: int = LIMIT) -> str:
    """An RFC 4514 rendering of ``value`` capped at ``limit`` characters; never raises."""
    try:
        return cap(value.rfc4514_string(), limit)
    except Exception:  # any parse failure of hostile bytes: render attribute by attribute
        return _by_attribute(value, limit)


def _by_attribute(value: x509.Name, limit: int) -> str:
    parts = []
    try:
        for attribute in value:
            try:
                parts.append(attribute.rfc4514_string())
            except Exception:
                parts.append(f"{attribute.oid.dotted_string}=<unreadable>")
    except Exception:
        return UNREADABLE
    return cap(",".join(reversed(parts)), limit) if parts else UNREADABLE


def subject(cert: x509.Certificate, limit: int = LIMIT) -> str:
    """The certificate's subject, as ``name`` renders it; never raises."""
    try:
        value = cert.subject
    except Exception:
        return UNREADABLE
    return name(value, limit)


def issuer(cert: x509.Certificate, limit: int = LIMIT) -> str:
    """The certificate's issuer, as ``name`` renders it; never raises."""
    try:
        value = cert.issuer
    except Exception:
        return UNREADABLE
    return name(value, limit)
