"""Which inbound headers survive the edge, and which the edge adds last.

Order matters (CVE-2024-45410): hop-by-hop removal happens on the client's headers *before* the
edge adds its own, and a ``Connection`` token that names a protected header is refused, so a
client can never make the edge drop what it is about to set. Names are compared after folding
case and ``_`` to ``-`` because many origin servers (WSGI, Django ASGI before CVE-2026-3902)
fold them the same way (CVE-2015-0219, CVE-2026-39858).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from originverify.edge.config import UnderscorePolicy
from originverify.edge.styles import OWNED_NAMES, OWNED_PREFIXES

RawHeaders = list[tuple[bytes, bytes]]

HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
    }
)
# The edge answers ``Expect: 100-continue`` itself once the upstream is reachable.
_EDGE_CONSUMED: frozenset[bytes] = frozenset({b"expect"})
_APPENDED: frozenset[bytes] = frozenset({b"x-forwarded-for", b"forwarded"})


class RejectedRequest(Exception):
    """The request is refused before anything reaches the upstream; ``reason`` is loggable."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class HeaderPolicy:
    """Protected names (lower case, ``-`` spelling) and what to do with underscore aliases."""

    owned: frozenset[bytes]
    owned_prefixes: tuple[bytes, ...]
    underscore: UnderscorePolicy = UnderscorePolicy.REJECT

    @classmethod
    def for_edge(cls, secret_header: str, underscore: UnderscorePolicy) -> HeaderPolicy:
        owned = {n.encode("ascii") for n in OWNED_NAMES}
        owned |= {secret_header.lower().encode("ascii"), b"x-forwarded-proto"}
        prefixes = tuple(p.encode("ascii") for p in OWNED_PREFIXES)
        return cls(frozenset(owned), prefixes, underscore)

    def owns(self, name: bytes) -> bool:
        return name in self.owned or name.startswith(self.owned_prefixes)

    def protects(self, name: bytes) -> bool:
        """Owned, appended-to, or any ``X-Forwarded-*`` name a backend may trust."""
        return self.owns(name) or name in _APPENDED or name.startswith(b"x-forwarded-")


@dataclass
class Sanitized:
    """The surviving headers, plus what the edge learnt from the removed ones."""

    headers: RawHeaders
    forwarded_for: list[bytes]
    forwarded: list[bytes]
    chunked: bool = False
    content_length: int | None = None
    has_host: bool = False


def _connection_tokens(headers: RawHeaders) -> set[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return tokens


def _dropped(name: bytes, tokens: set[bytes], policy: HeaderPolicy) -> bool:
    """Hop-by-hop (fixed or named in Connection), consumed by the edge, or the edge's own."""
    return (
        name in HOP_BY_HOP
        or name in tokens
        or name.startswith(b"proxy-")
        or name in _EDGE_CONSUMED
        or policy.owns(name)
    )


def sanitize_request(headers: RawHeaders, policy: HeaderPolicy) -> Sanitized:
    """Client headers minus hop-by-hop, forged and aliased names; raises ``RejectedRequest``.

    ``headers`` come from h11's parser, so names and values are already syntactically valid
    and Content-Length is a single decimal number.
    """
    tokens = _connection_tokens(headers)
    for token in tokens:
        if policy.protects(token.replace(b"_", b"-")):
            raise RejectedRequest(400, f"Connection names protected header {token.decode()!r}")
    out = Sanitized([], [], [])
    kept = out.headers
    for raw_name, value in headers:
        name = raw_name.lower()
        if b"_" in name and policy.protects(name.replace(b"_", b"-")):
            if policy.underscore is UnderscorePolicy.REJECT:
                raise RejectedRequest(400, f"underscore alias of a protected header: {name!r}")
            continue
        if name == b"transfer-encoding":
            out.chunked = True  # h11 accepts "chunked" only; the edge re-frames the body
        elif _dropped(name, tokens, policy):
            continue
        elif name == b"x-forwarded-for":
            out.forwarded_for.append(value)
        elif name == b"forwarded":
            out.forwarded.append(value)
        else:
            if name == b"content-length":
                out.content_length = int(value)
            elif name == b"host":
                out.has_host = True
            kept.append((raw_name, value))
    if out.chunked and out.content_length is not None:
        # Both framings at once is the classic smuggling set-up; refuse rather than pick.
        raise RejectedRequest(400, "both Transfer-Encoding and Content-Length")
    return out


def forwarded_node(peer_ip: str) -> bytes:
    """RFC 7239 node: IPv6 addresses are bracketed and quoted."""
    return f'"[{peer_ip}]"'.encode() if ":" in peer_ip else peer_ip.encode()


def edge_headers(
    sanitized: Sanitized,
    peer_ip: str,
    secret: tuple[bytes, bytes] | None,
    cert_headers: Iterable[tuple[bytes, bytes]],
) -> RawHeaders:
    """The forwarded header list: surviving client headers first, the edge's own last."""
    out = sanitized.headers
    out.append((b"X-Forwarded-For", b", ".join([*sanitized.forwarded_for, peer_ip.encode()])))
    out.append((b"X-Forwarded-Proto", b"https"))
    node = b"for=" + forwarded_node(peer_ip) + b";proto=https"
    out.append((b"Forwarded", b", ".join([*sanitized.forwarded, node])))
    if secret is not None:
        out.append(secret)
    out.extend(cert_headers)
    return out


def sanitize_response(headers: RawHeaders) -> RawHeaders:
    """Upstream response headers minus hop-by-hop ones; h11 re-frames the body itself."""
    tokens = _connection_tokens(headers)
    return [
        (raw, value)
        for raw, value in headers
        if (name := raw.lower()) not in HOP_BY_HOP
        and name not in tokens
        and not name.startswith(b"proxy-")
    ]
