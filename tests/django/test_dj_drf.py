"""Django REST framework: ClientCertAuthentication and HasClientCert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dj_helpers import DjPKI, cert_headers, cert_pairs
from django.contrib.auth.models import User
from django.test import Client
from django_originverify import conf
from django_originverify.drf import ClientCertAuthentication, HasClientCert
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

pytestmark = pytest.mark.usefixtures("user_db")

Configure = Callable[..., Any]


def api(client: Client, path: str, leaf: Any) -> Any:
    return client.get(path, headers=cert_headers(leaf))


def test_mapped_certificate_authenticates_the_user(client: Client, djpki: DjPKI) -> None:
    User.objects.create_user("alice")
    response = api(client, "/api/whoami", djpki.alice)
    assert response.status_code == 200
    assert response.json() == {"user": "alice", "auth_cn": "alice"}
    assert api(client, "/api/users", djpki.alice).status_code == 200


def test_certificate_without_user_passes_has_client_cert_only(client: Client, djpki: DjPKI) -> None:
    response = api(client, "/api/whoami", djpki.carol)
    assert response.status_code == 200
    assert response.json() == {"user": None, "auth_cn": None}
    refused = api(client, "/api/users", djpki.carol)
    assert refused.status_code == 403  # DRF: no WWW-Authenticate challenge → 403
    assert refused.json() == {"detail": "Authentication credentials were not provided."}


def test_permission_rules(client: Client, djpki: DjPKI) -> None:
    assert api(client, "/api/services", djpki.service).json() == {"user": None, "auth_cn": None}
    User.objects.create_user("alice")  # authenticated, so DRF shows the permission's message
    refused = api(client, "/api/services", djpki.alice)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "client certificate rejected"}


def test_optional_mode_without_certificate_is_refused(
    client: Client, ov_settings: Configure
) -> None:
    ov_settings(MODE="optional")
    response = api(client, "/api/whoami", None)
    assert response.status_code == 403


def test_report_only_permission_lets_through(
    client: Client, djpki: DjPKI, ov_settings: Configure
) -> None:
    ov_settings(MODE="report_only")
    assert api(client, "/api/services", djpki.alice).status_code == 200
    assert api(client, "/api/whoami", None).status_code == 200


def test_middleware_errors_come_before_drf(client: Client, djpki: DjPKI) -> None:
    response = api(client, "/api/whoami", djpki.expired)
    assert response.status_code == 403
    assert response.content == b"client certificate rejected\n"


def test_with_rules_builds_a_named_subclass() -> None:
    cls = HasClientCert.with_rules({"emails": ["*@example.com"]})
    assert issubclass(cls, HasClientCert)
    assert cls.__name__ == "HasClientCertWithRules"
    assert cls.rules is not None
    assert HasClientCert.rules is None


class CsrfClientCertAuthentication(ClientCertAuthentication):
    enforce_csrf = True


class Echo(APIView):
    authentication_classes = (CsrfClientCertAuthentication,)
    permission_classes = (HasClientCert,)

    def post(self, request: Request) -> Response:
        return Response({"user": request.user.get_username()})


def test_enforce_csrf_option(djpki: DjPKI) -> None:
    User.objects.create_user("alice")
    request = APIRequestFactory(enforce_csrf_checks=True).post("/echo", {})
    request.client_identity = conf.get_verifier().verify_request(cert_pairs(djpki.alice))  # type: ignore[attr-defined]
    response = Echo.as_view()(request)
    assert response.status_code == 403
    assert "CSRF Failed" in response.data["detail"]

    class NoCsrf(Echo):
        authentication_classes = (ClientCertAuthentication,)

    request = APIRequestFactory(enforce_csrf_checks=True).post("/echo", {})
    request.client_identity = conf.get_verifier().verify_request(cert_pairs(djpki.alice))  # type: ignore[attr-defined]
    assert NoCsrf.as_view()(request).data == {"user": "alice"}
