"""Three views: anyone (shows who you are), a certificate-only page, and a DRF endpoint."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django_originverify.decorators import client_cert_required
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def home(request: HttpRequest) -> JsonResponse:
    cert = request.client_identity  # type: ignore[attr-defined]
    return JsonResponse(
        {
            "client_cert": cert.common_name if cert else None,
            "user": request.user.get_username() if request.user.is_authenticated else None,
        }
    )


@client_cert_required(rules={"emails": ["*@example.com"]})
def staff(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"welcome": request.client_identity.emails[0]})  # type: ignore[attr-defined]


class Me(APIView):
    """DRF: ClientCertAuthentication (from REST_FRAMEWORK) maps the certificate to a user."""

    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response({"user": request.user.get_username(), "certificate": request.auth.subject})
