"""The app config: registers the system checks.

The verifier itself is built by ``ClientCertMiddleware.__init__`` (Django creates middleware
at start-up), not here: an exception in ``ready()`` would stop ``manage.py check`` from
showing the checks that explain it.
"""

from __future__ import annotations

from django.apps import AppConfig


class OriginVerifyConfig(AppConfig):
    name = "django_originverify"
    label = "django_originverify"
    verbose_name = "originverify (client certificates)"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
