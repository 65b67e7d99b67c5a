"""A certificate-to-user binding, as a project would store pinned fingerprints."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CertificateBinding(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="certificates"
    )
    fingerprint = models.CharField(max_length=64, unique=True)

    class Meta:
        app_label = "djtestproject"
