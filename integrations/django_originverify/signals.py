"""Audit signals, sent for every verification outcome.

``client_verified(sender, request, identity)``: sent by ``ClientCertMiddleware`` once
per request that carries a verified certificate.

``client_rejected(sender, request, error, enforced)``: a request was refused, or would
have been (``enforced=False`` in ``report_only`` mode), by the middleware or by a view gate
(``client_cert_required``, ``ClientCertRequiredMixin``, ``HasClientCert``: then ``sender`` is
the gate and ``error.reason`` is ``missing_certificate`` or ``rule_denied``). ``error`` is the
``originverify.VerificationError``; its ``detail`` is meant for logs, never for responses.

Receivers run in the request path (a slow receiver slows every request). Under ASGI on
Django >= 5.0 the middleware sends with ``asend``, so synchronous receivers may use the ORM.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

client_verified = Signal()
client_rejected = Signal()
#: The 0.1 names (deprecated): the same signals.
certificate_verified = client_verified
certificate_rejected = client_rejected


async def asend(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """``signal.asend`` where Django has it (>= 5.0: sync receivers run in a thread)."""
    send = getattr(signal, "asend", None)
    if send is not None:
        await send(sender, **kwargs)
    else:
        signal.send(sender, **kwargs)
