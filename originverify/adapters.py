"""The adapter kernel: what the WSGI, ASGI, Flask and Django adapters share.

An adapter does three things, all defined here so they are the same everywhere: build the
request facts from what its server hands over (``request_from_environ``,
``request_from_scope``), ask the core (``Verifier.check`` / ``acheck``), and, when the
``Outcome`` is a refusal, answer with ``refusal()``: the same status, body, content type
and headers for the same refused request whichever adapter answers. Logging, counting and
report-only are decided in the core; adapters only translate the ``Outcome``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import quote

from .errors import Reason, VerificationError
from .headers import HeaderList, from_environ, from_pairs
from .source import RequestContext
from .tokens import bearer_challenge

__all__ = [
    "CHALLENGE",
    "ENVIRON_KEY",
    "STATE_KEY",
    "Refusal",
    "RefusalBuilder",
    "peer_address",
    "reason_refusal",
    "refusal",
    "request_from_environ",
    "request_from_scope",
    "request_target",
    "wants_json",
]

#: The one name of the verified client in every adapter: ``environ[ENVIRON_KEY]`` (WSGI),
#: ``scope["state"][STATE_KEY]`` (ASGI: ``request.state.client_identity``),
#: ``g.client_identity`` (Flask), ``request.client_identity`` (Django).
STATE_KEY = "client_identity"
ENVIRON_KEY = "originverify.client_identity"

#: ``WWW-Authenticate`` of every 401 (RFC 9110 §15.5.2 requires a challenge). No registered
#: scheme exists for TLS client certificates; browsers and HTTP clients ignore an unknown
#: scheme, and a person reading the response learns what is missing.
CHALLENGE = 'ClientCert realm="originverify"'
#: RFC 8705 binding refusals answer with RFC 6750's ``Bearer error="invalid_token"``.
_TOKEN_REASONS = frozenset({Reason.TOKEN_NOT_BOUND, Reason.TOKEN_BINDING_MISMATCH})


class Refusal(NamedTuple):
    """``(status, headers, body)`` of a refused request; unpacks like the old tuples."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        try:
            return f"{self.status} {HTTPStatus(self.status).phrase}"
        except ValueError:
            return f"{self.status} Error"


#: What ``error_response=`` options take: ``(error, Accept header or None) -> Refusal``.
RefusalBuilder = Callable[[VerificationError, str | None], tuple[int, list[tuple[str, str]], bytes]]


def _quality(accept: str, wanted: tuple[str, ...]) -> float:
    """The q-value ``accept`` gives the best of ``wanted`` media types (0 when none)."""
    best = 0.0
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if any(_matches(media, w) for w in wanted):
            best = max(best, q)
    return best


def _matches(media: str, wanted: str) -> bool:
    if media == wanted or media == "*/*":
        return True
    kind, _, sub = media.partition("/")
    wanted_kind, _, wanted_sub = wanted.partition("/")
    if sub == "*":
        return kind == wanted_kind
    return wanted_sub == "json" and kind == wanted_kind and sub.endswith("+json")


def wants_json(accept: str | None) -> bool:
    """JSON when the client ranks it strictly above text (``*/*`` alone: text)."""
    if not accept:
        return False
    json_q = _quality(accept, ("application/json",))
    return json_q > 0 and json_q > _quality(accept, ("text/plain", "text/html"))


def refusal(
    error: VerificationError, accept: str | None = None, *, with_reason: bool = False
) -> Refusal:
    """The answer to a refused request: status, short public message (JSON if asked for),
    ``Cache-Control: no-store``, and a ``WWW-Authenticate`` challenge on 401. Never
    ``error.detail``."""
    as_json = with_reason or wants_json(accept)
    content_type, body = error.response_body(as_json=as_json, with_reason=with_reason)
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]
    if error.http_status == 401:
        challenge = bearer_challenge(error) if error.reason in _TOKEN_REASONS else CHALLENGE
        headers.append(("WWW-Authenticate", challenge))
    return Refusal(error.http_status, headers, body)


def reason_refusal(error: VerificationError, accept: str | None = None) -> Refusal:
    """JSON with the stable reason code as well, for APIs whose clients may see why."""
    return refusal(error, accept, with_reason=True)


# -- request facts -------------------------------------------------------------------------


def peer_address(environ: Mapping[str, Any]) -> str | None:
    """The TCP peer: the edge itself, which is what ``TrustedProxies`` must check.

    Werkzeug's ``ProxyFix`` replaces ``REMOTE_ADDR`` with a value from ``X-Forwarded-For``
    (the client as the edge saw it); it keeps the original, which is the one we want.
    """
    original = environ.get("werkzeug.proxy_fix.orig")
    if isinstance(original, Mapping) and original.get("REMOTE_ADDR"):
        return str(original["REMOTE_ADDR"])
    peer = environ.get("REMOTE_ADDR")
    return str(peer) if peer else None


def request_target(environ: Mapping[str, Any]) -> str:
    """Path and query as sent, for source proofs that sign the request line."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    target = quote(path.encode("latin-1"), safe="/;=,@:!$&'()*+~") or "/"
    query = environ.get("QUERY_STRING")
    return f"{target}?{query}" if query else target


def _environ_authority(environ: Mapping[str, Any]) -> str | None:
    host = environ.get("HTTP_HOST")
    if host:
        return str(host)
    name = environ.get("SERVER_NAME")
    if not name:
        return None
    port = environ.get("SERVER_PORT")
    return f"{name}:{port}" if port else str(name)


def request_from_environ(
    environ: Mapping[str, Any], headers: Mapping[str, Any] | None = None
) -> RequestContext:
    """The request facts of a WSGI request. ``headers`` replaces the environ as the source
    of ``HTTP_*`` fields (the Flask extension passes the fields it withheld from the app)."""
    return RequestContext(
        from_environ(environ if headers is None else headers),
        peer_address(environ),
        method=environ.get("REQUEST_METHOD"),
        target=request_target(environ),
        scheme=environ.get("wsgi.url_scheme"),
        authority=_environ_authority(environ),
    )


def _scope_target(scope: Mapping[str, Any]) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else str(scope.get("path", "/"))
    query = scope.get("query_string") or b""
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    return f"{path}?{query}" if query else path


def request_from_scope(
    scope: Mapping[str, Any], headers: HeaderList | None = None
) -> RequestContext:
    """The request facts of an ASGI ``http``/``websocket`` scope, from its raw header list."""
    if headers is None:
        headers = from_pairs(scope.get("headers") or ())
    client = scope.get("client")
    hosts = headers.get_all("host")
    authority = hosts[0] if len(hosts) == 1 else None
    server = scope.get("server")
    if authority is None and not hosts and server and server[1] is not None:
        authority = f"{server[0]}:{server[1]}"
    return RequestContext(
        headers,
        str(client[0]) if client else None,
        method=scope.get("method", "GET"),
        target=_scope_target(scope),
        scheme=scope.get("scheme"),
        authority=authority,
    )
