"""client_cert_required and ClientCertRequiredMixin, on sync and async views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from asgiref.sync import async_to_sync
from dj_helpers import DjPKI, cert_headers, cert_pairs
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django.views import View
from django_originverify import conf
from django_originverify.anonymous import ANONYMOUS_CLIENT_CERT
from django_originverify.decorators import client_cert_required
from django_originverify.mixins import ClientCertRequiredMixin
from django_originverify.signals import certificate_rejected

from originverify import ConfigurationError, Reason, Rules, VerificationError

Configure = Callable[..., Any]


@pytest.fixture(params=["wsgi", "asgi"])
def get(
    request: pytest.FixtureRequest, client: Client, async_client: AsyncClient
) -> Callable[..., Any]:
    def do(path: str, leaf: Any) -> Any:
        headers = cert_headers(leaf)
        if request.param == "wsgi":
            return client.get(path, headers=headers)
        return async_to_sync(async_client.get)(path, headers=headers)

    return do


@pytest.fixture
def optional(ov_settings: Configure) -> None:
    """Middleware lets anonymous requests through; the views decide."""
    ov_settings(MODE="optional")


@pytest.mark.usefixtures("optional")
@pytest.mark.parametrize("path", ["/protected", "/cbv/bare"])
def test_no_certificate_is_401(get: Callable[..., Any], path: str, djpki: DjPKI) -> None:
    response = get(path, None)
    assert response.status_code == 401
    assert response.content == b"client certificate required\n"
    assert get(path, djpki.bob).status_code == 200


@pytest.mark.usefixtures("optional")
@pytest.mark.parametrize(
    "path", ["/protected/rules", "/async/protected/rules", "/cbv", "/async/cbv"]
)
def test_rules_allow_and_deny(get: Callable[..., Any], path: str, djpki: DjPKI) -> None:
    allowed = get(path, djpki.alice)
    assert allowed.status_code == 200
    assert allowed.json() == {"cn": "alice"}
    denied = get(path, djpki.bob)
    assert denied.status_code == 403
    assert denied.content == b"client certificate rejected\n"
    assert get(path, None).status_code == 401


def test_report_only_gates_log_and_signal_but_let_through(
    get: Callable[..., Any], djpki: DjPKI, ov_settings: Configure
) -> None:
    ov_settings(MODE="report_only")
    seen: list[tuple[Any, Reason, bool]] = []

    def receiver(sender: Any, error: VerificationError, enforced: bool, **kw: Any) -> None:
        seen.append((sender, error.reason, enforced))

    certificate_rejected.connect(receiver)
    try:
        assert get("/protected/rules", djpki.bob).status_code == 200
        assert get("/cbv", djpki.bob).status_code == 200
    finally:
        certificate_rejected.disconnect(receiver)
    assert [(reason, enforced) for _, reason, enforced in seen] == [
        (Reason.RULE_DENIED, False),
        (Reason.RULE_DENIED, False),
    ]
    assert seen[0][0] is client_cert_required
    assert seen[1][0].__name__ == "MixinView"


def test_enforced_gate_refusal_is_signalled(client: Client, djpki: DjPKI) -> None:
    seen: list[tuple[Reason, bool]] = []

    def receiver(sender: Any, error: VerificationError, enforced: bool, **kw: Any) -> None:
        seen.append((error.reason, enforced))

    certificate_rejected.connect(receiver)
    try:
        client.get("/protected/rules", headers=cert_headers(djpki.bob))
    finally:
        certificate_rejected.disconnect(receiver)
    assert seen == [(Reason.RULE_DENIED, True)]


def test_gates_use_the_configured_failure_view(
    client: Client, djpki: DjPKI, ov_settings: Configure
) -> None:
    ov_settings(FAILURE_VIEW=lambda request, error: HttpResponse(error.reason.value, status=451))
    response = client.get("/cbv", headers=cert_headers(djpki.bob))
    assert (response.status_code, response.content) == (451, b"rule_denied")


def test_decorator_without_middleware_is_a_configuration_error(
    client: Client, djpki: DjPKI, settings: Any
) -> None:
    settings.MIDDLEWARE = []
    with pytest.raises(ImproperlyConfigured, match="ClientCertMiddleware"):
        client.get("/protected", headers=cert_headers(djpki.alice))


def test_rules_are_checked_when_the_view_is_declared() -> None:
    with pytest.raises(ConfigurationError, match="unknown rule"):

        @client_cert_required(rules={"email": ["*@example.com"]})  # typo: "emails"
        def view(request: HttpRequest) -> HttpResponse:
            return HttpResponse()

    with pytest.raises(ConfigurationError, match="unknown rule"):

        class Mistyped(ClientCertRequiredMixin, View):
            client_cert_rules: ClassVar[dict[str, list[str]]] = {"common_name": ["x"]}


def test_decorator_accepts_rules_objects_and_keeps_metadata(djpki: DjPKI) -> None:
    @client_cert_required(rules=Rules(common_names=("alice",)))
    def named_view(request: HttpRequest) -> HttpResponse:
        """Docstring kept."""
        return HttpResponse("ok")

    assert named_view.__name__ == "named_view"
    assert named_view.__doc__ == "Docstring kept."
    request = RequestFactory().get("/")
    request.client_identity = conf.get_verifier().verify_request(cert_pairs(djpki.alice))  # type: ignore[attr-defined]
    assert named_view(request).status_code == 200
    request.client_identity = conf.get_verifier().verify_request(cert_pairs(djpki.bob))  # type: ignore[attr-defined]
    assert named_view(request).status_code == 403


def test_mixin_refusal_can_be_overridden() -> None:
    class Friendly(ClientCertRequiredMixin, View):
        def handle_no_client_cert(self, request: HttpRequest, error: VerificationError) -> Any:
            return HttpResponse("please present a certificate", status=401)

        def get(self, request: HttpRequest) -> HttpResponse:
            return HttpResponse("inside")

    request = RequestFactory().get("/")
    request.client_identity = ANONYMOUS_CLIENT_CERT  # type: ignore[attr-defined]
    response = Friendly.as_view()(request)
    assert response.content == b"please present a certificate"
