"""``client_cert_required``: the ``login_required`` of client certificates.

Usable bare or with rules, on sync and async function views::

    @client_cert_required
    def report(request): ...

    @client_cert_required(rules={"spiffe_ids": ["spiffe://example.org/ns/prod/*"]})
    async def deploy(request): ...

Rules are compiled when the module is imported, so a typo fails at start-up. A refused request
gets the configured failure view (401 without a certificate, 403 when a rule says no).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from .access import RulesLike, arefusal, compile_rules, refusal
from .views import afailure_response, failure_response

_View = TypeVar("_View", bound=Callable[..., Any])


@overload
def client_cert_required(view: _View, /) -> _View: ...


@overload
def client_cert_required(*, rules: RulesLike = None) -> Callable[[_View], _View]: ...


def client_cert_required(
    view: _View | None = None, /, *, rules: RulesLike = None
) -> _View | Callable[[_View], _View]:
    """Refuse the view to requests without a verified certificate matching ``rules``."""
    compiled = compile_rules(rules)

    def decorator(view_func: _View) -> _View:
        if iscoroutinefunction(view_func):

            @wraps(view_func)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                error, enforced = await arefusal(request, compiled, client_cert_required)
                if error is not None and enforced:
                    return await afailure_response(request, error)
                return await view_func(request, *args, **kwargs)

            return cast(_View, async_view)

        @wraps(view_func)
        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            error, enforced = refusal(request, compiled, client_cert_required)
            if error is not None and enforced:
                return failure_response(request, error)
            return cast(HttpResponseBase, view_func(request, *args, **kwargs))

        return cast(_View, sync_view)

    if view is not None:
        return decorator(view)
    return decorator
