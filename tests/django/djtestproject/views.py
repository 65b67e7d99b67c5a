"""Views that report what the application sees, so tests can assert on it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views import View
from django_originverify.decorators import client_cert_required
from django_originverify.drf import HasClientCert
from django_originverify.mixins import ClientCertRequiredMixin
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

PROTECTED_META = {"HTTP_CLIENT_CERT", "HTTP_CLIENT_CERT_CHAIN", "HTTP_X_ORIGIN_VERIFY"}
EXAMPLE_ONLY = {"emails": ["*@example.com"]}


def _describe(request: HttpRequest, user: Any) -> dict[str, Any]:
    cert = request.client_cert  # type: ignore[attr-defined]
    return {
        "client_cert": cert.as_dict() if cert else None,
        "is_authenticated": cert.is_authenticated,
        "user": user.get_username() if user is not None and user.is_authenticated else None,
        "meta_leaked": sorted(PROTECTED_META & set(request.META)),
        "headers_leaked": sorted(
            name
            for name in request.headers
            if name.lower() in {"client-cert", "client-cert-chain", "x-origin-verify"}
        ),
    }


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_describe(request, getattr(request, "user", None)))


async def awhoami(request: HttpRequest) -> JsonResponse:
    user = await request.auser() if hasattr(request, "auser") else None
    return JsonResponse(_describe(request, user))


@client_cert_required
def protected(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"cn": request.client_cert.common_name})  # type: ignore[attr-defined]


@client_cert_required(rules=EXAMPLE_ONLY)
def protected_rules(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"cn": request.client_cert.common_name})  # type: ignore[attr-defined]


@client_cert_required(rules=EXAMPLE_ONLY)
async def aprotected_rules(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"cn": request.client_cert.common_name})  # type: ignore[attr-defined]


class MixinView(ClientCertRequiredMixin, View):
    client_cert_rules = EXAMPLE_ONLY

    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"cn": request.client_cert.common_name})  # type: ignore[attr-defined]


class AsyncMixinView(ClientCertRequiredMixin, View):
    client_cert_rules = EXAMPLE_ONLY

    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"cn": request.client_cert.common_name})  # type: ignore[attr-defined]


class BareMixinView(ClientCertRequiredMixin, View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"cn": request.client_cert.common_name})  # type: ignore[attr-defined]


class ApiWhoami(APIView):
    """Defaults from REST_FRAMEWORK: ClientCertAuthentication + HasClientCert."""

    def get(self, request: Request) -> Response:
        return Response(
            {
                "user": request.user.get_username() if request.user.is_authenticated else None,
                "auth_cn": request.auth.common_name if request.auth is not None else None,
            }
        )


class ApiUsersOnly(ApiWhoami):
    permission_classes = (IsAuthenticated,)


class ApiServicesOnly(ApiWhoami):
    permission_classes = (HasClientCert.with_rules({"common_names": ["svc-*"]}),)
