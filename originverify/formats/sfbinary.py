"""RFC 8941 byte sequences (``:base64:``) and Lists of them, strictly.

A hand-written parser for this one production of RFC 8941 instead of a general
structured-fields library: ``http-sf`` is correct but costs ~60 µs per certificate header
(measured), a third of a whole ECDSA chain verification, and this path runs on every request.
The test suite checks this parser against ``http-sf`` as an oracle: everything we accept,
http-sf accepts with the same bytes. We are stricter in one place: parameters on a member
(``:...:;x=1``) are refused, since RFC 9440 defines none and no edge sends them.
"""

from __future__ import annotations

import base64

from ..errors import Reason, VerificationError
from .base import strict_b64decode

_OWS = " \t"


def parse_item(value: str, what: str) -> bytes:
    """One sf-binary Item; the value has been OWS-trimmed already."""
    if len(value) < 3 or value[0] != ":" or value[-1] != ":" or ":" in value[1:-1]:
        if value == "::":
            raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: empty byte sequence")
        raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: {_describe(value)}")
    try:
        return strict_b64decode(value[1:-1], what)
    except VerificationError:
        raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: {_describe(value)}") from None


def parse_list(value: str, what: str) -> list[bytes]:
    """A List whose members are all sf-binary; an empty field value is an empty list."""
    value = value.strip(_OWS)
    if not value:
        return []
    return [parse_item(member.strip(_OWS), what) for member in value.split(",")]


def serialize_item(der: bytes) -> str:
    return ":" + base64.b64encode(der).decode("ascii") + ":"


def serialize_list(ders: list[bytes] | tuple[bytes, ...]) -> str:
    return ", ".join(serialize_item(d) for d in ders)


def _describe(value: str) -> str:
    """Say what is wrong in a way that helps whoever configured the edge."""
    if not value:
        return "empty value"
    if not value.startswith(":"):
        if value.startswith("-----BEGIN") or value.startswith("-----BEGIN".replace(" ", "%20")):
            return "looks like PEM, expected an RFC 8941 byte sequence ':<base64 DER>:'"
        return "must start with ':' (RFC 8941 byte sequence ':<base64 DER>:')"
    end = value.find(":", 1)
    if end == -1:
        return "missing closing ':'"
    if end != len(value) - 1:
        rest = value[end + 1 :]
        if rest.lstrip(_OWS).startswith(","):
            return "a list where one certificate is allowed (duplicate header joined with ',')"
        if rest.startswith(";"):
            return "parameters are not allowed"
        return "trailing data after the closing ':'"
    for index, char in enumerate(value[1:end], start=1):
        if not (char.isascii() and (char.isalnum() or char in "+/=")):
            return f"character {char!r} at position {index} is not standard base64"
    body = value[1:end]
    if "=" in body.rstrip("="):
        return "'=' padding in the middle of the base64"
    return "truncated base64 (length is one more than a multiple of 4)"
