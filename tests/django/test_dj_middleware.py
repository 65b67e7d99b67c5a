"""ClientCertMiddleware in-process: Django's test client (WSGI) and async client (ASGI)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from dj_helpers import EDGE_SECRET, DjPKI, cert_headers, cert_pairs
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient, Client, RequestFactory
from django_originverify import conf
from django_originverify.anonymous import ANONYMOUS_CLIENT_CERT, AnonymousClientCert
from django_originverify.middleware import ClientCertMiddleware, strip_headers
from django_originverify.signals import certificate_rejected, certificate_verified

from originverify import ANONYMOUS, Reason, RequestContext, SourceProof, VerificationError

Call = Callable[..., Any]


@pytest.fixture(params=["wsgi", "asgi"])
def call(request: pytest.FixtureRequest, client: Client, async_client: AsyncClient) -> Call:
    """GET through the sync handler or the async one; same assertions for both."""

    def get(path: str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
        if request.param == "wsgi":
            return client.get(path, headers=headers or {}, **extra)
        return async_to_sync(async_client.get)(path, headers=headers or {}, **extra)

    get.kind = request.param  # type: ignore[attr-defined]
    return get


# -- the matrix, required mode ---------------------------------------------------------------


def test_valid_certificate_sets_client_cert(call: Call, djpki: DjPKI) -> None:
    response = call("/whoami", cert_headers(djpki.alice))
    assert response.status_code == 200
    body = response.json()
    assert body["client_cert"]["common_name"] == "alice"
    assert body["client_cert"]["emails"] == ["alice@example.com"]
    assert body["client_cert"]["spiffe_id"] == "spiffe://example.org/ns/prod/sa/alice"
    assert body["is_authenticated"] is True


def test_async_view_sees_the_identity(call: Call, djpki: DjPKI) -> None:
    response = call("/async/whoami", cert_headers(djpki.alice))
    assert response.status_code == 200
    assert response.json()["client_cert"]["common_name"] == "alice"


def test_no_certificate_is_401(call: Call) -> None:
    response = call("/whoami", cert_headers(None))
    assert response.status_code == 401
    assert response.content == b"client certificate required\n"


@pytest.mark.parametrize("value", [":bm90IGEgY2VydGlmaWNhdGU=:", "not-sf-binary", "::"])
def test_malformed_certificate_is_400(call: Call, value: str) -> None:
    response = call("/whoami", {"X-Origin-Verify": EDGE_SECRET, "Client-Cert": value})
    assert response.status_code == 400
    assert response.content == b"malformed client certificate headers\n"


def test_expired_certificate_is_403_without_details(call: Call, djpki: DjPKI) -> None:
    response = call("/whoami", cert_headers(djpki.expired))
    assert response.status_code == 403
    assert response.content == b"client certificate rejected\n"


def test_wrong_ca_is_403(call: Call, djpki: DjPKI) -> None:
    response = call("/whoami", cert_headers(djpki.stranger))
    assert response.status_code == 403
    assert response.content == b"client certificate rejected\n"


@pytest.mark.parametrize("secret", ["wrong-secret-0123456789abcdef", None])
def test_wrong_or_missing_edge_secret_is_403(call: Call, djpki: DjPKI, secret: str | None) -> None:
    response = call("/whoami", cert_headers(djpki.alice, secret=secret))
    assert response.status_code == 403
    assert response.content == b"request did not come through the trusted edge\n"


def test_comma_joined_duplicate_is_400(call: Call, djpki: DjPKI) -> None:
    """What a server makes of two Client-Cert lines: one value joined with ','."""
    headers = cert_headers(djpki.alice)
    headers["Client-Cert"] = headers["Client-Cert"] + "," + cert_headers(djpki.bob)["Client-Cert"]
    response = call("/whoami", headers)
    assert response.status_code == 400


def test_core_rules_deny_with_403(
    call: Call, djpki: DjPKI, ov_settings: Callable[..., Any]
) -> None:
    ov_settings(RULES={"emails": ["*@example.com"]})
    assert call("/whoami", cert_headers(djpki.bob)).status_code == 403
    assert call("/whoami", cert_headers(djpki.alice)).status_code == 200


def test_trusted_proxies_use_remote_addr(
    client: Client, djpki: DjPKI, ov_settings: Callable[..., Any]
) -> None:
    ov_settings(EDGE_SECRETS=None, TRUSTED_PROXIES=["10.0.0.0/8"])
    headers = cert_headers(djpki.alice, secret=None)
    assert client.get("/whoami", headers=headers).status_code == 403  # 127.0.0.1
    assert client.get("/whoami", headers=headers, REMOTE_ADDR="10.1.2.3").status_code == 200


# -- optional and report-only ----------------------------------------------------------------


def test_optional_mode(call: Call, djpki: DjPKI, ov_settings: Callable[..., Any]) -> None:
    ov_settings(MODE="optional")
    anonymous = call("/whoami", cert_headers(None))
    assert anonymous.status_code == 200
    assert anonymous.json()["client_cert"] is None
    assert anonymous.json()["is_authenticated"] is False
    assert (
        call("/whoami", cert_headers(djpki.alice)).json()["client_cert"]["common_name"] == "alice"
    )
    # a presented but invalid certificate is still refused, as CloudFront's optional mode does
    assert call("/whoami", cert_headers(djpki.expired)).status_code == 403
    assert call("/whoami", cert_headers(djpki.alice, secret="x" * 20)).status_code == 403


def test_report_only_never_blocks_but_signals(
    call: Call, djpki: DjPKI, ov_settings: Callable[..., Any]
) -> None:
    ov_settings(MODE="report_only")
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    certificate_rejected.connect(receiver)
    try:
        expired = call("/whoami", cert_headers(djpki.expired))
        forged = call("/whoami", cert_headers(djpki.alice, secret="y" * 20))
        valid = call("/whoami", cert_headers(djpki.alice))
    finally:
        certificate_rejected.disconnect(receiver)
    assert expired.status_code == 200
    assert expired.json()["client_cert"] is None
    assert forged.status_code == 200
    assert forged.json()["client_cert"] is None
    assert valid.json()["client_cert"]["common_name"] == "alice"
    assert [(s["error"].reason, s["enforced"]) for s in seen] == [
        (Reason.EXPIRED, False),
        (Reason.EDGE_SECRET_MISMATCH, False),
    ]


# -- header hygiene --------------------------------------------------------------------------


def test_protected_headers_are_stripped(call: Call, djpki: DjPKI) -> None:
    body = call("/whoami", cert_headers(djpki.alice)).json()
    assert body["meta_leaked"] == []
    assert body["headers_leaked"] == []


def test_keep_headers_keeps_certificates_but_never_the_secret(
    call: Call, djpki: DjPKI, ov_settings: Callable[..., Any]
) -> None:
    ov_settings(KEEP_HEADERS=True)
    body = call("/whoami", cert_headers(djpki.alice)).json()
    assert body["meta_leaked"] == ["HTTP_CLIENT_CERT", "HTTP_CLIENT_CERT_CHAIN"]
    assert "X-Origin-Verify" not in body["headers_leaked"]


def _asgi_request(pairs: list[tuple[str, str]]) -> ASGIRequest:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/whoami",
        "query_string": b"",
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "headers": [(n.lower().encode(), v.encode()) for n, v in [("Host", "testserver"), *pairs]],
    }
    return ASGIRequest(scope, io.BytesIO())


def _run_middleware(request: HttpRequest) -> HttpResponse:
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("app reached")

    return ClientCertMiddleware(view)(request)  # type: ignore[return-value]


def test_asgi_duplicate_field_lines_are_400(djpki: DjPKI) -> None:
    """Raw ASGI headers keep both lines, so the core sees the duplicate itself."""
    extra = [("Client-Cert", cert_headers(djpki.bob)["Client-Cert"])]
    response = _run_middleware(_asgi_request(cert_pairs(djpki.alice, extra=extra)))
    assert response.status_code == 400


@pytest.mark.parametrize("name", ["Client_Cert", "X_Origin_Verify", "client-cert_chain"])
def test_asgi_underscore_spelling_is_400(djpki: DjPKI, name: str) -> None:
    """Django's ASGIRequest drops these from META (CVE-2026-3902), the middleware refuses."""
    pairs = cert_pairs(djpki.alice)
    value = dict(pairs).get(name.replace("_", "-").title(), EDGE_SECRET)
    request = _asgi_request([*pairs, (name, value)])
    response = _run_middleware(request)
    assert response.status_code == 400
    assert response.content == b"malformed client certificate headers\n"


def test_asgi_underscore_only_in_optional_mode_is_not_anonymous(
    djpki: DjPKI, ov_settings: Callable[..., Any]
) -> None:
    """The attack: edge sends no cert, attacker adds Client_Cert with a victim's cert."""
    ov_settings(MODE="optional")
    forged = [
        ("X-Origin-Verify", EDGE_SECRET),
        ("Client_Cert", cert_headers(djpki.alice)["Client-Cert"]),
    ]
    response = _run_middleware(_asgi_request(forged))
    assert response.status_code == 400


def test_asgi_scope_headers_are_stripped(djpki: DjPKI) -> None:
    request = _asgi_request(cert_pairs(djpki.alice))
    response = _run_middleware(request)
    assert response.status_code == 200
    names = {name for name, _ in request.scope["headers"]}
    assert names == {b"host"}
    assert request.client_cert.common_name == "alice"  # type: ignore[attr-defined]


def test_strip_headers_invalidates_cached_request_headers(djpki: DjPKI) -> None:
    request = _asgi_request(cert_pairs(djpki.alice))
    assert "Client-Cert" in request.headers  # cached_property filled
    strip_headers(request, ["client-cert", "x-origin-verify"])
    assert "Client-Cert" not in request.headers
    assert "X-Origin-Verify" not in request.headers
    assert "HTTP_CLIENT_CERT" not in request.META


# -- failure views, signals, start-up --------------------------------------------------------


def custom_failure(request: HttpRequest, error: VerificationError) -> HttpResponse:
    return HttpResponse(f"custom {error.reason.value}", status=418)


async def async_custom_failure(request: HttpRequest, error: VerificationError) -> HttpResponse:
    return HttpResponse(f"async custom {error.http_status}", status=499)


def test_failure_view_setting(call: Call, ov_settings: Callable[..., Any]) -> None:
    ov_settings(FAILURE_VIEW=f"{__name__}.custom_failure")
    response = call("/whoami", cert_headers(None))
    assert (response.status_code, response.content) == (418, b"custom missing_certificate")


def test_async_failure_view(call: Call, ov_settings: Callable[..., Any]) -> None:
    ov_settings(FAILURE_VIEW=async_custom_failure)
    response = call("/whoami", cert_headers(None))
    assert (response.status_code, response.content) == (499, b"async custom 401")


def test_json_failure_for_api_clients(call: Call) -> None:
    response = call("/whoami", {**cert_headers(None), "Accept": "application/json"})
    assert response.status_code == 401
    assert response.json() == {"error": "client certificate required", "status": 401}
    assert response["WWW-Authenticate"] == 'ClientCert realm="originverify"'
    assert response["Cache-Control"] == "no-store"


def test_signals_report_success_and_enforced_failure(call: Call, djpki: DjPKI) -> None:
    events: list[tuple[str, Any]] = []

    def verified(sender: Any, request: HttpRequest, identity: Any, **kw: Any) -> None:
        events.append(("verified", identity.common_name))

    def rejected(sender: Any, request: HttpRequest, error: Any, enforced: bool, **kw: Any) -> None:
        events.append(("rejected", (error.reason, enforced, sender)))

    certificate_verified.connect(verified)
    certificate_rejected.connect(rejected)
    try:
        call("/whoami", cert_headers(djpki.alice))
        call("/whoami", cert_headers(djpki.stranger))
    finally:
        certificate_verified.disconnect(verified)
        certificate_rejected.disconnect(rejected)
    assert events == [
        ("verified", "alice"),
        ("rejected", (Reason.UNTRUSTED_CHAIN, True, ClientCertMiddleware)),
    ]


def test_bad_configuration_stops_middleware_creation(ov_settings: Callable[..., Any]) -> None:
    ov_settings(ANCHORS="/nonexistent/client-ca.pem")
    with pytest.raises(ImproperlyConfigured, match=r"ORIGINVERIFY: .*cannot read"):
        ClientCertMiddleware(lambda request: HttpResponse())


def test_missing_setting_stops_middleware_creation(settings: Any) -> None:
    del settings.ORIGINVERIFY
    with pytest.raises(ImproperlyConfigured, match=r"settings\.ORIGINVERIFY is missing"):
        ClientCertMiddleware(lambda request: HttpResponse())


def test_verifier_is_built_once_and_rebuilt_on_setting_change(
    ov_settings: Callable[..., Any],
) -> None:
    first = conf.get_verifier()
    assert conf.get_verifier() is first
    ov_settings(MODE="optional")
    assert conf.get_verifier() is not first
    assert conf.get_verifier().mode == "optional"


def test_anonymous_client_cert_behaves_like_anonymous_user() -> None:
    anonymous = ANONYMOUS_CLIENT_CERT
    assert not anonymous
    assert anonymous.is_authenticated is False
    assert anonymous.common_name is None
    assert anonymous.emails == ()
    assert anonymous == AnonymousClientCert()
    assert anonymous is ANONYMOUS  # one anonymous client in every adapter


def test_middleware_is_sync_and_async_capable() -> None:
    assert ClientCertMiddleware.sync_capable is True  # type: ignore[attr-defined]
    assert ClientCertMiddleware.async_capable is True  # type: ignore[attr-defined]

    async def aview(request: HttpRequest) -> HttpResponse:
        return JsonResponse({})

    from asgiref.sync import iscoroutinefunction

    assert iscoroutinefunction(ClientCertMiddleware(aview))
    assert not iscoroutinefunction(ClientCertMiddleware(lambda r: HttpResponse()))


class _RecordingRevocation:
    """Stands in for a revocation checker; records whether it ran on an event loop."""

    generation = 0

    def __init__(self) -> None:
        self.on_event_loop: list[bool] = []

    def check(self, path: Any, at: Any) -> str:
        import asyncio

        try:
            asyncio.get_running_loop()
            self.on_event_loop.append(True)
        except RuntimeError:
            self.on_event_loop.append(False)
        return "good"


def test_asgi_verification_with_revocation_runs_off_the_event_loop(
    async_client: AsyncClient, djpki: DjPKI
) -> None:
    """OCSP may wait on a responder: that must not block the event loop."""
    checker = _RecordingRevocation()
    conf.get_verifier().revocation = checker
    response = async_to_sync(async_client.get)("/async/whoami", headers=cert_headers(djpki.alice))
    assert response.json()["client_cert"]["common_name"] == "alice"
    assert checker.on_event_loop == [False]


class _RecordingProof(SourceProof):
    """A source proof that accepts everything and keeps what the middleware passed it."""

    def __init__(self) -> None:
        self.seen: list[RequestContext] = []

    @property
    def label(self) -> str:
        return "recording"

    def check(self, request: RequestContext) -> str:
        self.seen.append(request)
        return "recorded"


def test_request_facts_reach_the_source_proof(
    call: Call, djpki: DjPKI, ov_settings: Callable[..., Any]
) -> None:
    """Signature proofs sign method, target, scheme and authority: they must be the raw ones."""
    proof = _RecordingProof()
    ov_settings(EDGE_SECRETS=None, SOURCE=proof)
    response = call("/whoami?next=%2Fa%20b", cert_headers(djpki.alice, secret=None), secure=True)
    assert response.status_code == 200
    (seen,) = proof.seen
    assert (seen.method, seen.target, seen.scheme, seen.authority, seen.peer) == (
        "GET",
        "/whoami?next=%2Fa%20b",
        "https",
        # The Host header as received (Django's ASGI test client sends one); without it
        # (the WSGI test client), the server name with its port.
        "testserver" if seen.headers.get_all("host") else "testserver:443",
        "127.0.0.1",
    )


def test_raw_target_wins_over_the_decoded_path(djpki: DjPKI) -> None:
    from django_originverify.middleware import request_facts

    request = _asgi_request([])
    request.scope["raw_path"] = b"/caf%C3%A9/%2F"
    assert request_facts(request).target == "/caf%C3%A9/%2F"
    wsgi = RequestFactory().get("/x", RAW_URI="/x%2Fy?z=1")
    assert request_facts(wsgi).target == "/x%2Fy?z=1"
