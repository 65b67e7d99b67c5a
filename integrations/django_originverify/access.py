"""The per-view gate shared by the decorator, the mixin and the DRF permission.

The middleware already verified the certificate; a view gate only asks the core "is there a
verified client, and do its rules allow it?" (``Verifier.require``), which logs, counts and
decides enforcement like any refusal. In ``report_only`` mode a gate never refuses either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from originverify import ClientIdentity, Outcome, Rules, VerificationError

from . import conf
from .middleware import client_identity, reported_refusal, request_facts
from .signals import asend, client_rejected

RulesLike = Rules | Mapping[str, Any] | None


def compile_rules(rules: RulesLike) -> Rules | None:
    """Rules from a ``Rules`` or a mapping of allow-lists; built once, at declaration."""
    if rules is None or isinstance(rules, Rules):
        return rules
    return Rules.from_mapping(rules)


def view_access(
    request: HttpRequest, rules: Rules | None
) -> tuple[ClientIdentity | None, VerificationError | None]:
    """``(identity, None)`` if the view may run, ``(identity, error)`` if not (the
    refusal is logged and counted by the core, enforced or not)."""
    outcome = _decide(request, rules)
    return client_identity(request), outcome.error if outcome is not None else None


def _decide(request: HttpRequest, rules: Rules | None) -> Outcome | None:
    """The core's verdict on the view's requirement; ``None`` when nothing can fail."""
    identity = client_identity(request)
    if (identity is not None and rules is None) or reported_refusal(request):
        return None
    return conf.get_verifier().require(identity, request_facts(request), rules=rules)


def refusal(
    request: HttpRequest, rules: Rules | None, sender: Any
) -> tuple[VerificationError | None, bool]:
    """The error to answer with, if any, and whether it is enforced (not report-only).

    Sends ``client_rejected`` for every refusal, enforced or not.
    """
    outcome = _decide(request, rules)
    if outcome is None or outcome.error is None:
        return None, False
    client_rejected.send(sender, request=request, error=outcome.error, enforced=outcome.enforced)
    return outcome.error, outcome.enforced


async def arefusal(
    request: HttpRequest, rules: Rules | None, sender: Any
) -> tuple[VerificationError | None, bool]:
    """``refusal`` for async views: receivers run as under ``Signal.asend``."""
    outcome = _decide(request, rules)
    if outcome is None or outcome.error is None:
        return None, False
    await asend(
        client_rejected, sender, request=request, error=outcome.error, enforced=outcome.enforced
    )
    return outcome.error, outcome.enforced
