"""The per-view gate shared by the decorator, the mixin and the DRF permission.

The middleware already verified the certificate; a view gate only asks "is there a verified
client, and do its rules allow it?". In ``report_only`` mode a gate never refuses either: it
logs and signals what it would have refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from originverify import ClientIdentity, Mode, Reason, Rules, VerificationError

from . import conf
from .middleware import get_client_cert
from .signals import asend, certificate_rejected

log = logging.getLogger("originverify.django")

RulesLike = Rules | Mapping[str, Any] | None


def compile_rules(rules: RulesLike) -> Rules | None:
    """Rules from a ``Rules`` or a mapping of allow-lists; built once, at declaration."""
    if rules is None or isinstance(rules, Rules):
        return rules
    return Rules.from_mapping(rules)


def view_access(
    request: HttpRequest, rules: Rules | None
) -> tuple[ClientIdentity | None, VerificationError | None]:
    """``(identity, None)`` if the view may run, ``(identity, error)`` if not."""
    identity = get_client_cert(request)
    if identity is None:
        return None, VerificationError(
            Reason.MISSING_CERTIFICATE, f"{request.path} requires a client certificate"
        )
    if rules is not None:
        try:
            rules.check(identity)
        except VerificationError as exc:
            return identity, exc
    return identity, None


def refusal(
    request: HttpRequest, rules: Rules | None, sender: Any
) -> tuple[VerificationError | None, bool]:
    """The error to answer with, if any, and whether it is enforced (not report-only).

    Sends ``certificate_rejected`` for every refusal, enforced or not.
    """
    error, enforced = _decide(request, rules)
    if error is not None:
        certificate_rejected.send(sender, request=request, error=error, enforced=enforced)
    return error, enforced


async def arefusal(
    request: HttpRequest, rules: Rules | None, sender: Any
) -> tuple[VerificationError | None, bool]:
    """``refusal`` for async views: receivers run as under ``Signal.asend``."""
    error, enforced = _decide(request, rules)
    if error is not None:
        await asend(certificate_rejected, sender, request=request, error=error, enforced=enforced)
    return error, enforced


def _decide(request: HttpRequest, rules: Rules | None) -> tuple[VerificationError | None, bool]:
    _, error = view_access(request, rules)
    if error is None:
        return None, False
    enforced = conf.get_verifier().mode is not Mode.REPORT_ONLY
    if enforced:
        log.info(
            "originverify: view refused reason=%s path=%s detail=%s",
            error.reason.value,
            request.path,
            error.detail,
        )
    else:
        log.warning(
            "originverify: view would refuse (report-only) reason=%s path=%s detail=%s",
            error.reason.value,
            request.path,
            error.detail,
        )
    return error, enforced
