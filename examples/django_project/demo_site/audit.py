"""Audit log from the originverify signals: one line per refused request."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver
from django.http import HttpRequest
from django_originverify.signals import client_rejected

from originverify import VerificationError

log = logging.getLogger("demo_site.audit")


@receiver(client_rejected)
def log_rejection(
    sender: Any, request: HttpRequest, error: VerificationError, enforced: bool, **kwargs: Any
) -> None:
    # error.detail is for logs only; responses carry error.public_message
    log.info(
        "audit: %s %s refused (%s, enforced=%s): %s",
        request.method,
        request.path,
        error.reason.value,
        enforced,
        error.detail,
    )
