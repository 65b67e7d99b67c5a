"""Pure ASGI middleware (no Starlette in the core): Starlette, FastAPI, Quart, Django ASGI...

Unlike WSGI, an ASGI server hands over the raw list of header field lines, so the core sees
duplicates (``duplicate_header``) and underscore spellings (``ambiguous_header_name``)
itself, whatever the server does with them. ``http`` and ``websocket`` scopes are verified;
``lifespan`` passes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .errors import ConfigurationError, VerificationError
from .headers import HeaderList
from .identity import ClientIdentity
from .verifier import Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Key in ``scope["state"]`` holding the ``ClientIdentity`` (``None``: anonymous). Starlette
#: and FastAPI expose it as ``request.state.client_identity``.
STATE_KEY = "client_identity"

#: ``(status, headers, body)`` of a refusal; what ``error_response`` callables return.
ErrorResponse = tuple[int, list[tuple[str, str]], bytes]

__all__ = [
    "STATE_KEY",
    "ClientCertMiddleware",
    "ErrorResponse",
    "client_identity",
    "default_error_response",
    "verify_scope",
]


def _target(scope: Scope) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else str(scope.get("path", "/"))
    query = scope.get("query_string") or b""
    return f"{path}?{query.decode('latin-1')}" if query else path


def verify_scope(
    verifier: Verifier, scope: Scope, headers: HeaderList | None = None
) -> ClientIdentity | None:
    """The one core call for an ASGI connection, from the raw header list and the scope."""
    if headers is None:
        headers = HeaderList(scope.get("headers") or ())
    client = scope.get("client")
    hosts = headers.get_all("host")
    return verifier.verify_request(
        headers,
        str(client[0]) if client else None,
        method=scope.get("method", "GET"),
        target=_target(scope),
        scheme=scope.get("scheme"),
        authority=hosts[0] if len(hosts) == 1 else None,
    )


def client_identity(connection: Any, key: str = STATE_KEY) -> ClientIdentity | None:
    """The identity ``ClientCertMiddleware`` stored, from a scope or anything with ``.scope``
    (Starlette ``Request``/``WebSocket``). ``None``: anonymous request.

    Raises ``LookupError`` when the middleware did not run: a missing middleware must not
    look like an anonymous client.
    """
    scope = getattr(connection, "scope", connection)
    state = scope.get("state") or {}
    if key not in state:
        raise LookupError(
            f"no {key!r} in scope['state']: is originverify's ClientCertMiddleware installed?"
        )
    identity = state[key]
    if identity is not None and not isinstance(identity, ClientIdentity):
        raise TypeError(f"scope['state'][{key!r}] holds {type(identity).__name__}")
    return identity


def _wants_json(headers: HeaderList) -> bool:
    accept = ",".join(headers.get_all("accept")).lower()
    return ("application/json" in accept or "+json" in accept) and "text/html" not in accept


def default_error_response(error: VerificationError, accept_json: bool) -> ErrorResponse:
    """Status and short public message (never ``detail``); JSON if the client asks for it."""
    content_type, body = error.response_body(as_json=accept_json)
    headers = [
        ("content-type", content_type),
        ("content-length", str(len(body))),
        ("cache-control", "no-store"),
    ]
    return error.http_status, headers, body


def _header_key(name: bytes | str) -> str:
    text = name.decode("latin-1") if isinstance(name, bytes) else name
    return text.lower().replace("_", "-")


class ClientCertMiddleware:
    """Verify every ``http``/``websocket`` connection before the application runs.

    The identity (``None`` when anonymous in ``optional``/``report_only`` mode) goes into a
    copy of ``scope["state"]`` under ``state_key``, i.e. ``request.state.client_identity``
    in Starlette/FastAPI; read it with ``client_identity(request)``. Refused HTTP requests
    get ``error.http_status`` and a short public message; refused WebSockets get the same
    HTTP response where the server supports the ``websocket.http.response`` extension, a
    close before accept (HTTP 403) otherwise.

    ``strip_headers`` (default on) removes ``Verifier.protected_headers`` and their
    underscore spellings from ``scope["headers"]`` before the application runs.
    ``on_success(identity, scope)`` / ``on_failure(error, scope)`` are audit hooks, called
    synchronously; ``error_response(error, accept_json)`` replaces the refusal body.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        *,
        strip_headers: bool = True,
        state_key: str = STATE_KEY,
        on_success: Callable[[ClientIdentity, Scope], None] | None = None,
        on_failure: Callable[[VerificationError, Scope], None] | None = None,
        error_response: Callable[[VerificationError, bool], ErrorResponse] | None = None,
    ) -> None:
        if not isinstance(verifier, Verifier):
            raise ConfigurationError(
                "ClientCertMiddleware needs a Verifier (see originverify.build_verifier)"
            )
        self.app = app
        self.verifier = verifier
        self.state_key = state_key
        self.strip = (
            frozenset(_header_key(h) for h in verifier.protected_headers)
            if strip_headers
            else frozenset()
        )
        self.on_success = on_success
        self.on_failure = on_failure
        self.error_response = error_response or default_error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw: Iterable[tuple[bytes, bytes]] = scope.get("headers") or ()
        headers = HeaderList(raw)
        try:
            identity = verify_scope(self.verifier, scope, headers)
        except VerificationError as error:
            if self.on_failure is not None:
                self.on_failure(error, scope)
            await self._refuse(scope, send, error, _wants_json(headers))
            return
        # A copy: the server's scope (and a lifespan state it may share) stays untouched.
        inner = dict(scope)
        inner["state"] = {**(scope.get("state") or {}), self.state_key: identity}
        if self.strip:
            inner["headers"] = [(n, v) for n, v in raw if _header_key(n) not in self.strip]
        if identity is not None and self.on_success is not None:
            self.on_success(identity, inner)
        await self.app(inner, receive, send)

    async def _refuse(
        self, scope: Scope, send: Send, error: VerificationError, accept_json: bool
    ) -> None:
        status, headers, body = self.error_response(error, accept_json)
        encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": status, "headers": encoded})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in (scope.get("extensions") or {}):
            await send(
                {"type": "websocket.http.response.start", "status": status, "headers": encoded}
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            # Closing before accept makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008, "reason": ""})
