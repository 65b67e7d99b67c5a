"""``ClientCertRequiredMixin``: the ``LoginRequiredMixin`` of client certificates.

Put it left of the view class; set ``client_cert_rules`` for an allow-list. Works for sync
and async class-based views. Override ``handle_no_client_cert`` to answer differently.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, ClassVar

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from originverify import Rules, VerificationError

from .access import RulesLike, arefusal, compile_rules, refusal
from .views import afailure_response, failure_response

if TYPE_CHECKING:
    from django.views import View

    _Base = View
else:
    _Base = object


class ClientCertRequiredMixin(_Base):
    """Refuse the view to requests without a verified certificate (matching the rules)."""

    #: A ``Rules`` or a mapping of allow-lists, compiled when the class is created.
    client_cert_rules: ClassVar[RulesLike] = None
    _client_cert_rules: ClassVar[Rules | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._client_cert_rules = compile_rules(cls.client_cert_rules)

    def handle_no_client_cert(
        self, request: HttpRequest, error: VerificationError
    ) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        """The answer to a refused request; the configured failure view by default."""
        if self.view_is_async:
            return afailure_response(request, error)
        return failure_response(request, error)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if self.view_is_async:
            return self._adispatch(request, *args, **kwargs)
        error, enforced = refusal(request, self._client_cert_rules, type(self))
        if error is not None and enforced:
            return self.handle_no_client_cert(request, error)
        return super().dispatch(request, *args, **kwargs)

    async def _adispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        error, enforced = await arefusal(request, self._client_cert_rules, type(self))
        if error is not None and enforced:
            response = self.handle_no_client_cert(request, error)
            return response if isinstance(response, HttpResponseBase) else await response
        handler: Any = super().dispatch(request, *args, **kwargs)  # a coroutine here
        return await handler
