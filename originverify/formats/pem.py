"""PEM text as edges put it in headers: URL-encoded, space-folded, or tab-folded."""

from __future__ import annotations

import re

from ..errors import Reason, VerificationError
from .base import strict_b64decode

BEGIN = "-----BEGIN CERTIFICATE-----"
END = "-----END CERTIFICATE-----"
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def percent_decode(text: str, what: str) -> str:
    """Path-style decoding: only ``%XX``; ``+`` stays ``+`` (a form decoder corrupts base64)."""
    if "%" not in text:
        return text
    if _BAD_ESCAPE.search(text):
        raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: invalid percent escape")
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def split_pem(
    text: str, what: str, *, whitespace: str = "\r\n", max_blocks: int = 0
) -> list[bytes]:
    """DER of each ``CERTIFICATE`` block; anything around or between blocks is refused.

    ``whitespace`` names the characters allowed inside a body and between blocks: real line
    breaks for plain PEM, a space for Apache's ``%{SSL_CLIENT_CERT}s``, tab for nginx's
    folded ``$ssl_client_cert``. ``max_blocks`` (0: no limit) is enforced before any block
    is decoded: one block too many is ``malformed_header`` when a single certificate is
    expected, ``chain_too_long`` otherwise.
    """
    rest = text.strip(whitespace + " ")
    if not rest:
        raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: empty PEM")
    if max_blocks and rest.count(BEGIN) > max_blocks:
        _too_many_blocks(what, rest.count(BEGIN), max_blocks)
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


def _too_many_blocks(what: str, found: int, limit: int) -> None:
    if limit == 1:
        raise VerificationError(
            Reason.MALFORMED_HEADER, f"{what}: {found} PEM blocks where one certificate is expected"
        )
    raise VerificationError(
        Reason.CHAIN_TOO_LONG, f"{what}: {found} PEM blocks, at most {limit} allowed"
    )


def encode_url_pem(der: bytes) -> str:
    """The nginx ``$ssl_client_escaped_cert`` form: every non-unreserved byte as ``%XX``."""
    import base64
    from urllib.parse import quote

    body = base64.b64encode(der).decode("ascii")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return quote(f"{BEGIN}\n{lines}\n{END}\n", safe="")
