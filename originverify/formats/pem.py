"""PEM text as edges put it in headers: URL-encoded, space-folded, or tab-folded."""

from __future__ import annotations

from ..errors import Reason, VerificationError
from .base import strict_b64decode

BEGIN = "-----BEGIN CERTIFICATE-----"
END = "-----END CERTIFICATE-----"
# Every spelling of a two-digit hex escape (``0a``, ``0A``, ``aB``, ...) → its character.
_UNESCAPE: dict[str, str] = {
    hi + lo: chr(int(hi + lo, 16))
    for hi in "0123456789abcdefABCDEF"
    for lo in "0123456789abcdefABCDEF"
}


_COMMON_ESCAPES = tuple(
    (escape, chr(int(escape[1:], 16)))
    for code in ("0A", "20", "2B", "2F", "3D", "0D")
    for escape in (f"%{code}", f"%{code.lower()}")
)


def percent_decode(text: str, what: str) -> str:
    """Path-style decoding: only ``%XX``; ``+`` stays ``+`` (a form decoder corrupts base64).

    A URL-encoded PEM holds a handful of distinct escapes (line feeds, space, ``+ / =``):
    replacing those with ``str.replace`` runs in C. Anything else left falls back to the
    strict decoder on the original text, which splits on ``%`` and looks each escape up,
    so a bad escape is simply a missing key.
    """
    if "%" not in text:
        return text
    fast = text
    for escape, char in _COMMON_ESCAPES:
        fast = fast.replace(escape, char)
    if "%" not in fast:
        return fast
    first, *rest = text.split("%")
    table = _UNESCAPE
    try:
        return first + "".join([table[part[:2]] + part[2:] for part in rest])
    except KeyError:
        raise VerificationError(
            Reason.MALFORMED_HEADER, f"{what}: invalid percent escape"
        ) from None


def split_pem(
    text: str, what: str, *, whitespace: str = "\r\n", max_blocks: int = 0
) -> list[bytes]:
    """DER of each ``CERTIFICATE`` block; anything around or between blocks is refused.

    ``whitespace`` names the characters allowed inside a body and between blocks: real line
    breaks for plain PEM, a space for Apache's ``%{SSL_CLIENT_CERT}s``, tab for nginx's
    folded ``$ssl_client_cert``. ``max_blocks`` (0: no limit) is enforced before any block
    is decoded (``chain_too_long``).
    """
    rest = text.strip(whitespace + " ")
    if not rest:
        raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: empty PEM")
    if max_blocks and (count := rest.count(BEGIN)) > max_blocks:
        raise VerificationError(
            Reason.CHAIN_TOO_LONG, f"{what}: {count} PEM blocks, at most {max_blocks} allowed"
        )
    blocks: list[bytes] = []
    while rest:
        if not rest.startswith(BEGIN):
            found = "trailing data after the last PEM block" if blocks else "missing BEGIN line"
            raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: {found}")
        end = rest.find(END, len(BEGIN))
        if end == -1:
            raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: missing END line")
        body = rest[len(BEGIN) : end]
        if "-----" in body:
            raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: unexpected PEM marker")
        for char in whitespace:
            body = body.replace(char, "")
        blocks.append(strict_b64decode(body, what))
        rest = rest[end + len(END) :].lstrip(whitespace)
    return blocks


def encode_url_pem(der: bytes) -> str:
    """The nginx ``$ssl_client_escaped_cert`` form: every non-unreserved byte as ``%XX``."""
    import base64
    from urllib.parse import quote

    body = base64.b64encode(der).decode("ascii")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return quote(f"{BEGIN}\n{lines}\n{END}\n", safe="")
