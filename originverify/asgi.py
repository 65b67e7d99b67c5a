"""Pure ASGI middleware (no Starlette in the core): Starlette, FastAPI, Quart, Django ASGI...

Unlike WSGI, an ASGI server hands over the raw list of header field lines, so the core sees
duplicates (``duplicate_header``) and underscore spellings (``ambiguous_header_name``)
itself, whatever the server does with them. ``http`` and ``websocket`` scopes are verified;
``lifespan`` passes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .adapters import STATE_KEY, Refusal, RefusalBuilder, refusal, request_from_scope
from .errors import ConfigurationError, VerificationError
from .headers import HeaderList
from .identity import ClientIdentity
from .outcome import Outcome
from .verifier import Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: ``(status, headers, body)`` of a refusal; what ``error_response`` callables return.
ErrorResponse = tuple[int, list[tuple[str, str]], bytes]

__all__ = [
    "OUTCOME_KEY",
    "STATE_KEY",
    "ClientCertMiddleware",
    "ErrorResponse",
    "acheck_scope",
    "client_identity",
    "default_error_response",
    "verify_scope",
]

#: Key in ``scope["state"]`` holding the core's ``Outcome`` for the connection.
OUTCOME_KEY = "originverify_outcome"

#: The kernel's refusal, under its 0.1 name (it now takes the ``Accept`` header's value).
default_error_response = refusal


async def acheck_scope(
    verifier: Verifier, scope: Scope, headers: HeaderList | None = None, **options: Any
) -> Outcome:
    """The one core call for an ASGI connection; a cache miss runs in a worker thread."""
    return await verifier.acheck(request_from_scope(scope, headers), **options)


def verify_scope(
    verifier: Verifier, scope: Scope, headers: HeaderList | None = None
) -> ClientIdentity | None:
    """Synchronous identity-or-raise form of ``acheck_scope`` (for tests and sync code)."""
    return verifier.check(request_from_scope(scope, headers)).raise_for_refusal()


def reported_refusal(connection: Any) -> bool:
    """Whether the middleware let this connection in with a refusal report-only mode did not
    enforce (already logged, counted and signalled: gates must not decide it again)."""
    scope = getattr(connection, "scope", connection)
    outcome = (scope.get("state") or {}).get(OUTCOME_KEY)
    return isinstance(outcome, Outcome) and outcome.error is not None and not outcome.enforced


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


def _header_key(name: bytes | str) -> str:
    text = name.decode("latin-1") if isinstance(name, bytes) else name
    return text.lower().replace("_", "-")


class ClientCertMiddleware:
    """Verify every ``http``/``websocket`` connection before the application runs.

    The identity (``None`` when anonymous) goes into a copy of ``scope["state"]`` under
    ``state_key``, i.e. ``request.state.client_identity`` in Starlette/FastAPI; read it with
    ``client_identity(request)``. Refused HTTP requests get the kernel's refusal (the same
    as every other adapter's); refused WebSockets get the same HTTP response where the
    server supports the ``websocket.http.response`` extension, a close before accept
    (HTTP 403) otherwise. Cache hits are decided on the event loop; misses in a thread.

    ``strip_headers`` (default on) removes ``Verifier.protected_headers`` and their
    underscore spellings from ``scope["headers"]`` before the application runs.
    ``on_success(identity, scope)`` / ``on_failure(error, scope)`` are audit hooks, called
    synchronously; ``error_response(error, accept_header)`` replaces the refusal.
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
        error_response: RefusalBuilder | None = None,
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
        self.error_response: RefusalBuilder = error_response or refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw: Iterable[tuple[bytes, bytes]] = scope.get("headers") or ()
        headers = HeaderList(raw)
        outcome = await acheck_scope(self.verifier, scope, headers)
        if outcome.refused:
            assert outcome.error is not None
            if self.on_failure is not None:
                self.on_failure(outcome.error, scope)
            accept = ",".join(headers.get_all("accept")) or None
            await self._refuse(scope, send, Refusal(*self.error_response(outcome.error, accept)))
            return
        identity = outcome.identity
        # A copy: the server's scope (and a lifespan state it may share) stays untouched.
        inner = dict(scope)
        inner["state"] = {
            **(scope.get("state") or {}),
            self.state_key: identity,
            OUTCOME_KEY: outcome,  # view gates must not decide a reported refusal again
        }
        if self.strip:
            inner["headers"] = [(n, v) for n, v in raw if _header_key(n) not in self.strip]
        if identity is not None and self.on_success is not None:
            self.on_success(identity, inner)
        await self.app(inner, receive, send)

    async def _refuse(self, scope: Scope, send: Send, answer: Refusal) -> None:
        encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": answer.status, "headers": encoded})
            await send({"type": "http.response.body", "body": answer.body})
        elif "websocket.http.response" in (scope.get("extensions") or {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": answer.status,
                    "headers": encoded,
                }
            )
            await send({"type": "websocket.http.response.body", "body": answer.body})
        else:
            # Closing before accept makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008, "reason": ""})
