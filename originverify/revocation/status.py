"""What ``Revocation.check`` returns for a path it lets through."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    """The outcome of a revocation check that did not refuse the path.

    ``detail`` describes it without secrets (it ends up in ``explain()`` reports).
    ``cache_for`` bounds how long a verdict that relied on it may be cached, in seconds:
    ``None`` sets no bound (the ``generation`` tells when the data changes); ``0`` means do
    not cache (soft mode let a certificate through without revocation data); a positive
    value is a retry backoff after which the status must be asked again.
    """

    detail: str
    cache_for: float | None = None

    def __str__(self) -> str:
        return self.detail
