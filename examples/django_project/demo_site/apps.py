from __future__ import annotations

from django.apps import AppConfig


class DemoSiteConfig(AppConfig):
    name = "demo_site"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (connects the signal receivers)
