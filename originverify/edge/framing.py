"""The heads the edge writes: requests to the origin, relayed responses and its own errors.

A request leaves with the client's surviving headers, then the edge's (``EdgeHeaders``), then
the signature when signing. The edge re-frames every response body: it keeps a
``Content-Length``, re-chunks everything else for HTTP/1.1 clients (a body delimited by the
origin closing included), and ends the connection where neither is possible (HTTP/1.0
without a length).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from originverify.edge import styles
from originverify.edge.http1 import Message, ProtocolError, header_block, status_line
from originverify.edge.hygiene import (
    EdgeHeaders,
    RejectedRequest,
    Sanitized,
    sanitize_response_head,
)

if TYPE_CHECKING:  # pragma: no cover
    from originverify.signatures import EnvelopeSigner

# How the response body is framed toward the client.
NO_BODY, LENGTH, CHUNKED, UNTIL_CLOSE = range(4)

_REASONS = {
    400: b"Bad Request",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
}


def request_head(
    request: Message,
    sanitized: Sanitized,
    edge: EdgeHeaders,
    default_host: bytes,
    signer: EnvelopeSigner | None,
    style: styles.Style,
) -> bytes:
    """The request head as it leaves for the origin: the edge's headers last."""
    host = sanitized.host
    parts = [
        request.method,
        b" ",
        request.target,
        b" HTTP/1.1\r\n",
        header_block(sanitized.headers),
    ]
    if host is None:  # HTTP/1.0 without Host
        host = default_host
        parts.append(b"Host: %s\r\n" % host)
    if sanitized.chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    parts.append(edge.block(sanitized))
    if signer is not None:
        parts.append(_signature(signer, request, host, styles.signed_headers(style, edge.signed)))
    parts.append(b"\r\n")
    return b"".join(parts)


def _signature(
    signer: EnvelopeSigner, request: Message, host: bytes, covered: list[tuple[bytes, bytes]]
) -> bytes:
    """``Signature-Input`` and ``Signature`` over the request line and the headers the style
    covers (``styles.signed_headers``)."""
    from originverify.signatures import SigningError

    try:
        pairs = signer.sign(request.method, host, request.target, covered)
    except SigningError as exc:
        raise RejectedRequest(400, str(exc)) from None
    return b"".join([b"%s: %s\r\n" % (n.encode("ascii"), v.encode("ascii")) for n, v in pairs])


@dataclass(slots=True)
class Framed:
    """The response head for the client and how its body follows."""

    head: bytes
    framing: int
    keep_alive: bool
    until_eof: bool  # the origin's body ends when it closes (no length, not chunked)


def frame_response(request: Message, response: Message, keep_alive: bool) -> Framed:
    """The head to relay for ``response`` (hop-by-hop headers removed, framing the edge's)."""
    head = sanitize_response_head(response.headers)
    coding = head.transfer_encoding
    if coding is not None and coding != b"chunked":
        raise ProtocolError(502, f"unsupported upstream Transfer-Encoding {coding[:40]!r}")
    status = response.status
    http11 = request.version == "1.1"
    keep_alive = keep_alive and http11
    if request.method == b"HEAD" or status == 204 or status == 304:
        framing = NO_BODY
    elif head.content_length:
        framing = LENGTH
    elif http11:
        framing = CHUNKED
    else:
        framing = UNTIL_CLOSE
        keep_alive = False
    parts = [status_line(status, response.reason), header_block(head.headers)]
    if framing == CHUNKED:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    until_eof = coding is None and not head.content_length
    return Framed(b"".join(parts), framing, keep_alive, until_eof)


def error_response(status: int, method: bytes) -> bytes:
    """A short plain-text answer with ``Connection: close``; no details (they go to the log)."""
    phrase = _REASONS.get(status, b"Error")
    body = b"%d %s\n" % (status, phrase)
    data = (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % (status, phrase, len(body))
    )
    return data if method == b"HEAD" else data + body
