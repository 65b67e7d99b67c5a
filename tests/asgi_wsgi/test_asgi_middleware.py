"""``originverify.asgi.ClientCertMiddleware`` driven directly with ASGI scopes: what it
passes on, what it refuses, and what the application finally sees."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from ovkit import SECRET, Headers, Pki, edge

from originverify import (
    ClientIdentity,
    ConfigurationError,
    Outcome,
    VerificationError,
    build_verifier,
)
from originverify.asgi import ClientCertMiddleware, Message, Scope, client_identity

PROTECTED = {b"x-origin-verify", b"client-cert", b"client-cert-chain"}


def verifier(pki: Pki, mode: str = "required") -> Any:
    return build_verifier({"anchors": pki.anchors, "edge_secrets": SECRET, "mode": mode})


class Recorder:
    """An ASGI app that records the scope it was called with and answers 200."""

    def __init__(self) -> None:
        self.scope: Scope | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.scope = scope
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"app"})


def http_scope(headers: Headers, **extra: Any) -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": "/x",
        "raw_path": b"/x",
        "query_string": b"a=1",
        "scheme": "https",
        "client": ("203.0.113.9", 5555),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        **extra,
    }


def run(app: Any, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def status_of(sent: list[Message]) -> int:
    return int(sent[0]["status"])


def test_valid_certificate_reaches_the_app_with_identity_and_without_edge_headers(
    pki: Pki,
) -> None:
    inner = Recorder()
    scope = http_scope([*edge(pki.alice), ("accept", "*/*")], state={"db": "pool"})
    sent = run(ClientCertMiddleware(inner, verifier(pki)), scope)
    assert status_of(sent) == 200
    assert inner.scope is not None
    identity = client_identity(inner.scope)
    assert isinstance(identity, ClientIdentity)
    assert identity.common_name == "alice"
    assert inner.scope["state"]["db"] == "pool"  # lifespan state kept
    assert not PROTECTED & {name for name, _ in inner.scope["headers"]}
    assert (b"accept", b"*/*") in inner.scope["headers"]
    # The server's own scope is left alone.
    assert "client_identity" not in scope["state"]
    assert len(scope["headers"]) == 4


@pytest.mark.parametrize(
    ("headers_of", "status"),
    [
        (lambda p: edge(), 401),
        (lambda p: edge(p.expired), 403),
        (lambda p: edge(p.stranger), 403),
        (lambda p: edge(p.forged), 403),
        (lambda p: edge(p.alice, secret="z" * 32), 403),
        (lambda p: [*edge(p.alice), ("Client-Cert", edge(p.bob)[1][1])], 400),
        (lambda p: [*edge(p.alice), ("X-Origin-Verify", SECRET)], 400),
        (lambda p: [*edge(p.bob), ("Client_Cert", edge(p.alice)[1][1])], 400),
        (lambda p: [*edge(), ("Client_Cert", edge(p.alice)[1][1])], 400),
        (lambda p: [*edge(p.alice)[1:], ("X_Origin_Verify", SECRET)], 400),  # ambiguous name
    ],
    ids=[
        "none",
        "expired",
        "wrong-ca",
        "forged",
        "wrong-secret",
        "duplicate-cert",
        "duplicate-secret",
        "underscore-next-to-cert",
        "underscore-alone",
        "underscore-secret",
    ],
)
def test_refusals(pki: Pki, headers_of: Any, status: int) -> None:
    inner = Recorder()
    sent = run(ClientCertMiddleware(inner, verifier(pki)), http_scope(headers_of(pki)))
    assert status_of(sent) == status
    assert inner.scope is None, "a refused request must not reach the app"
    assert b"detail" not in sent[1]["body"]


def test_optional_mode_anonymous_and_report_only_never_blocks(pki: Pki) -> None:
    inner = Recorder()
    assert (
        status_of(run(ClientCertMiddleware(inner, verifier(pki, "optional")), http_scope(edge())))
        == 200
    )
    assert inner.scope is not None
    assert client_identity(inner.scope) is None
    assert (
        status_of(
            run(
                ClientCertMiddleware(inner, verifier(pki, "optional")),
                http_scope(edge(pki.expired)),
            )
        )
        == 403
    )

    report = ClientCertMiddleware(inner, verifier(pki, "report_only"))
    smuggled = [*edge(), ("Client_Cert", edge(pki.alice)[1][1])]
    assert status_of(run(report, http_scope(smuggled))) == 200
    assert client_identity(inner.scope) is None
    # Underscore spellings of protected headers are stripped too.
    assert all(b"client" not in name for name, _ in inner.scope["headers"])


def test_error_body_is_json_when_asked(pki: Pki) -> None:
    sent = run(
        ClientCertMiddleware(Recorder(), verifier(pki)),
        http_scope([*edge(pki.expired), ("Accept", "application/json")]),
    )
    assert json.loads(sent[1]["body"]) == {"error": "client certificate rejected", "status": 403}
    assert (b"content-type", b"application/json") in sent[0]["headers"]


def test_hooks_and_custom_error_response(pki: Pki) -> None:
    events: list[tuple[str, str]] = []
    middleware = ClientCertMiddleware(
        Recorder(),
        verifier(pki),
        on_success=lambda identity, scope: events.append(("ok", identity.common_name or "")),
        on_failure=lambda error, scope: events.append(("refused", error.reason.value)),
        error_response=lambda error, json_: (418, [("x-why", error.reason.value)], b"teapot"),
    )
    run(middleware, http_scope(edge(pki.alice)))
    sent = run(middleware, http_scope(edge(pki.expired)))
    assert events == [("ok", "alice"), ("refused", "expired")]
    assert status_of(sent) == 418
    assert sent[1]["body"] == b"teapot"


def test_strip_headers_off_and_custom_state_key(pki: Pki) -> None:
    inner = Recorder()
    middleware = ClientCertMiddleware(inner, verifier(pki), strip_headers=False, state_key="peer")
    run(middleware, http_scope(edge(pki.alice)))
    assert inner.scope is not None
    assert PROTECTED <= {name for name, _ in inner.scope["headers"]}
    identity = client_identity(inner.scope, key="peer")
    assert identity is not None
    assert identity.common_name == "alice"


def test_lifespan_passes_through(pki: Pki) -> None:
    inner = Recorder()
    run(ClientCertMiddleware(inner, verifier(pki)), {"type": "lifespan"})
    assert inner.scope == {"type": "lifespan"}


def test_websocket_refused_with_http_response_extension(pki: Pki) -> None:
    scope = http_scope(edge(), extensions={"websocket.http.response": {}})
    scope.update(type="websocket", scheme="wss")
    sent = run(ClientCertMiddleware(Recorder(), verifier(pki)), scope)
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 401
    assert sent[1]["body"] == b"client certificate required\n"


def test_websocket_refused_by_closing_before_accept(pki: Pki) -> None:
    scope = http_scope(edge(pki.stranger))
    scope.update(type="websocket", scheme="wss")
    sent = run(ClientCertMiddleware(Recorder(), verifier(pki)), scope)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]


def test_websocket_accepted_with_identity(pki: Pki) -> None:
    inner = Recorder()
    scope = http_scope(edge(pki.alice))
    scope.update(type="websocket", scheme="wss")
    del scope["method"]
    run(ClientCertMiddleware(inner, verifier(pki)), scope)
    assert inner.scope is not None
    identity = client_identity(inner.scope)
    assert identity is not None
    assert identity.common_name == "alice"


def test_request_facts_reach_the_source_proof(pki: Pki) -> None:
    seen: dict[str, Any] = {}

    class Spy:
        async def acheck(self, request: Any, **options: Any) -> Outcome:
            seen.update(
                peer=request.peer,
                method=request.method,
                target=request.target,
                scheme=request.scheme,
                authority=request.authority,
            )
            return Outcome(None)

    middleware = ClientCertMiddleware(Recorder(), verifier(pki))
    middleware.verifier = Spy()  # type: ignore[assignment]
    run(middleware, http_scope([("Host", "api.example.org")]))
    assert seen == {
        "peer": "203.0.113.9",
        "method": "GET",
        "target": "/x?a=1",
        "scheme": "https",
        "authority": "api.example.org",
    }


def test_client_identity_without_middleware_is_an_error() -> None:
    with pytest.raises(LookupError, match="ClientCertMiddleware"):
        client_identity({"type": "http", "state": {}})


def test_middleware_needs_a_verifier() -> None:
    with pytest.raises(ConfigurationError, match="Verifier"):
        ClientCertMiddleware(Recorder(), object())  # type: ignore[arg-type]


def test_verification_error_is_not_swallowed_by_the_core_api(pki: Pki) -> None:
    # The middleware's contract rests on this: required mode raises, never returns None.
    with pytest.raises(VerificationError):
        verifier(pki).verify_request(edge(), "127.0.0.1")
