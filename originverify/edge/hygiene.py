"""Which inbound headers survive the edge, and which the edge adds last.

Order matters (CVE-2024-45410): hop-by-hop removal happens on the client's headers *before* the
edge adds its own, and a ``Connection`` token that names a protected header is refused, so a
client can never make the edge drop what it is about to set. Names are compared after folding
case and ``_`` to ``-`` because many origin servers (WSGI, Django ASGI before CVE-2026-3902)
fold them the same way (CVE-2015-0219, CVE-2026-39858).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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
_APPENDED: frozenset[bytes] = frozenset({b"x-forwarded-for", b"forwarded"})
# The signed envelope (RFC 9421) the edge writes when it signs; never the client's.
SIGNATURE_NAMES: frozenset[bytes] = frozenset({b"signature", b"signature-input"})

# What a header name means to the edge, decided once per distinct spelling (see ``_Kinds``).
KEEP, DROP, ALIAS, CONNECTION, HOST, TRANSFER_ENCODING, EXPECT, XFF, FORWARDED, LENGTH = range(10)
# Distinct spellings remembered per worker; names beyond that are classified every time.
_MAX_REMEMBERED = 4096


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
    # Raw spelling -> kind, filled as names are seen (clients repeat the same few names).
    _kinds: dict[bytes, int] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def for_edge(cls, secret_header: str, underscore: UnderscorePolicy) -> HeaderPolicy:
        owned = {n.encode("ascii") for n in OWNED_NAMES} | SIGNATURE_NAMES
        owned |= {secret_header.lower().encode("ascii"), b"x-forwarded-proto"}
        prefixes = tuple(p.encode("ascii") for p in OWNED_PREFIXES)
        return cls(frozenset(owned), prefixes, underscore)

    def owns(self, name: bytes) -> bool:
        return name in self.owned or name.startswith(self.owned_prefixes)

    def protects(self, name: bytes) -> bool:
        """Owned, appended-to, or any ``X-Forwarded-*`` name a backend may trust."""
        return self.owns(name) or name in _APPENDED or name.startswith(b"x-forwarded-")

    def kind(self, raw_name: bytes) -> int:
        """What a request header of this spelling is to the edge (memoised)."""
        kind = self._kinds.get(raw_name)
        if kind is None:
            kind = self._classify(raw_name.lower())
            if len(self._kinds) < _MAX_REMEMBERED:
                self._kinds[raw_name] = kind
        return kind

    def _classify(self, name: bytes) -> int:
        if b"_" in name and self.protects(name.replace(b"_", b"-")):
            return ALIAS
        special = _REQUEST_KINDS.get(name)
        if special is not None:
            return special
        if name in HOP_BY_HOP or name.startswith(b"proxy-") or self.owns(name):
            return DROP
        return KEEP


_REQUEST_KINDS: dict[bytes, int] = {
    b"connection": CONNECTION,
    b"host": HOST,
    b"transfer-encoding": TRANSFER_ENCODING,
    b"expect": EXPECT,
    b"x-forwarded-for": XFF,
    b"forwarded": FORWARDED,
    b"content-length": LENGTH,
}


@dataclass(slots=True)
class Sanitized:
    """The surviving headers, plus what the edge learnt from the removed ones."""

    headers: RawHeaders = field(default_factory=list)
    forwarded_for: list[bytes] = field(default_factory=list)
    forwarded: list[bytes] = field(default_factory=list)
    chunked: bool = False
    content_length: int | None = None
    host: bytes | None = None
    expect_continue: bool = False

    @property
    def has_host(self) -> bool:
        return self.host is not None


def _connection_tokens(values: list[bytes]) -> set[bytes]:
    tokens: set[bytes] = set()
    for value in values:
        tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return tokens


def sanitize_request(headers: RawHeaders, policy: HeaderPolicy) -> Sanitized:
    """Client headers minus hop-by-hop, forged and aliased names; raises ``RejectedRequest``.

    ``headers`` come from llhttp, so names are tokens, values hold no control characters, and
    Content-Length is a single decimal number (llhttp also refuses it next to
    Transfer-Encoding); this function adds the rules llhttp leaves to the caller.
    """
    out = Sanitized()
    kept = out.headers
    connection: list[bytes] | None = None
    for raw_name, value in headers:
        kind = policy.kind(raw_name)
        if kind == KEEP:
            kept.append((raw_name, value))
        elif kind == DROP:
            continue
        elif kind == HOST:
            if out.host is not None:
                raise RejectedRequest(400, "more than one Host header")
            out.host = value
            kept.append((raw_name, value))
        elif kind == ALIAS:
            if policy.underscore is UnderscorePolicy.REJECT:
                name = raw_name.lower()
                raise RejectedRequest(400, f"underscore alias of a protected header: {name!r}")
        elif kind == CONNECTION:
            connection = [value] if connection is None else [*connection, value]
        elif kind == LENGTH:
            out.content_length = int(value)
            kept.append((raw_name, value))
        elif kind == XFF:
            out.forwarded_for.append(value)
        elif kind == FORWARDED:
            out.forwarded.append(value)
        elif kind == TRANSFER_ENCODING:
            # The edge re-frames the body: only a plain "chunked" can be re-framed faithfully.
            if value.lower() != b"chunked":
                raise RejectedRequest(501, f"unsupported Transfer-Encoding {value[:40]!r}")
            out.chunked = True
        elif kind == EXPECT:
            out.expect_continue = value.lower() == b"100-continue"
    if out.chunked and out.content_length is not None:
        # Both framings at once is the classic smuggling set-up; refuse rather than pick.
        raise RejectedRequest(400, "both Transfer-Encoding and Content-Length")
    if connection is not None:
        # Checked after the loop (Connection may come after the headers it names); Host and
        # the framing headers are never dropped by name.
        tokens = _connection_tokens(connection)
        for token in tokens:
            if policy.protects(token.replace(b"_", b"-")):
                raise RejectedRequest(400, f"Connection names protected header {token.decode()!r}")
        out.headers = [
            (name, value)
            for name, value in kept
            if name.lower() not in tokens or policy.kind(name) != KEEP
        ]
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


@dataclass(slots=True)
class ResponseHead:
    """Upstream response headers minus hop-by-hop ones, and how the upstream framed the body."""

    headers: RawHeaders
    content_length: bool = False
    transfer_encoding: bytes | None = None


def sanitize_response_head(headers: RawHeaders) -> ResponseHead:
    """Upstream response headers minus hop-by-hop ones; the edge re-frames the body itself."""
    out = ResponseHead([])
    kept = out.headers
    connection: list[bytes] | None = None
    for raw, value in headers:
        kind = _response_kind(raw)
        if kind == KEEP:
            kept.append((raw, value))
        elif kind == LENGTH:
            out.content_length = True
            kept.append((raw, value))
        elif kind == TRANSFER_ENCODING:
            out.transfer_encoding = value.lower()
        elif kind == CONNECTION:
            connection = [value] if connection is None else [*connection, value]
    if connection is not None:
        tokens = _connection_tokens(connection)
        out.headers = [(n, v) for n, v in kept if n.lower() not in tokens]
    return out


_RESPONSE_KINDS: dict[bytes, int] = {}


def _response_kind(raw_name: bytes) -> int:
    kind = _RESPONSE_KINDS.get(raw_name)
    if kind is None:
        name = raw_name.lower()
        if name == b"content-length":
            kind = LENGTH
        elif name == b"transfer-encoding":
            kind = TRANSFER_ENCODING
        elif name == b"connection":
            kind = CONNECTION
        elif name in HOP_BY_HOP or name.startswith(b"proxy-"):
            kind = DROP
        else:
            kind = KEEP
        if len(_RESPONSE_KINDS) < _MAX_REMEMBERED:
            _RESPONSE_KINDS[raw_name] = kind
    return kind


def sanitize_response(headers: RawHeaders) -> RawHeaders:
    """Upstream response headers minus hop-by-hop ones."""
    return sanitize_response_head(headers).headers


class EdgeHeaders:
    """What the edge adds to every request of one TLS connection, serialised once.

    ``signed`` is what a signing edge covers (its secret and the certificate headers, never
    the X-Forwarded-* family); ``block`` the header lines that go last on the wire.
    """

    __slots__ = ("_default", "_tail", "node", "peer", "signed")

    def __init__(
        self,
        peer_ip: str,
        secret: tuple[bytes, bytes] | None,
        cert_headers: Iterable[tuple[bytes, bytes]],
    ) -> None:
        self.peer = peer_ip.encode()
        self.node = b"for=" + forwarded_node(peer_ip) + b";proto=https"
        self.signed: RawHeaders = ([secret] if secret is not None else []) + list(cert_headers)
        self._tail = b"".join([b"%s: %s\r\n" % pair for pair in self.signed])
        self._default = (
            b"X-Forwarded-For: %s\r\nX-Forwarded-Proto: https\r\nForwarded: %s\r\n%s"
            % (self.peer, self.node, self._tail)
        )

    def block(self, sanitized: Sanitized) -> bytes:
        """X-Forwarded-For, X-Forwarded-Proto, Forwarded, the secret, the certificate headers."""
        if not sanitized.forwarded_for and not sanitized.forwarded:
            return self._default
        xff = b", ".join([*sanitized.forwarded_for, self.peer])
        fwd = b", ".join([*sanitized.forwarded, self.node])
        return b"X-Forwarded-For: %s\r\nX-Forwarded-Proto: https\r\nForwarded: %s\r\n%s" % (
            xff,
            fwd,
            self._tail,
        )
