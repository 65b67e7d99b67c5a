"""The default failure view, and how any failure view is called.

Override with ``ORIGINVERIFY["FAILURE_VIEW"]`` (a callable or dotted path), called as
``view(request, error)`` like ``CSRF_FAILURE_VIEW``; it may be ``async def``. Use
``error.http_status`` and ``error.public_message``; never put ``error.detail`` in a
response (it describes the certificate and the check that failed, for logs).
"""

from __future__ import annotations

from typing import cast

from asgiref.sync import async_to_sync, iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from originverify import VerificationError
from originverify.adapters import refusal

from . import conf


def verification_failed(request: HttpRequest, error: VerificationError) -> HttpResponse:
    """The adapter kernel's refusal, the same every originverify adapter sends."""
    answer = refusal(error, request.META.get("HTTP_ACCEPT"))
    response = HttpResponse(answer.body, status=answer.status)
    for name, value in answer.headers:
        response[name] = value
    return response


def failure_response(request: HttpRequest, error: VerificationError) -> HttpResponseBase:
    """Call the configured failure view from synchronous code."""
    view = conf.get_options().failure_view
    if iscoroutinefunction(view):
        return cast(HttpResponseBase, async_to_sync(view)(request, error))
    return cast(HttpResponseBase, view(request, error))


async def afailure_response(request: HttpRequest, error: VerificationError) -> HttpResponseBase:
    """Call the configured failure view from asynchronous code."""
    view = conf.get_options().failure_view
    response = view(request, error)
    if isinstance(response, HttpResponseBase):
        return response
    return await response
