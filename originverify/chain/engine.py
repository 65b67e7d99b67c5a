"""What every engine shares: the protocols and the reason-mapping helpers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from cryptography import x509

from ..errors import Reason
from ..trust import TrustSnapshot


class Engine(Protocol):
    """A chain validation engine: same inputs, same path, same reason codes.

    ``at`` is the exact instant the path is judged at (``now``, with its microseconds); the
    built-in engines apply ``ValidationPolicy.clock_skew`` around it (``chain.clock``).
    """

    name: str

    def validate(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        """The validated path, leaf first, anchor last; raises ``VerificationError``."""
        ...


if TYPE_CHECKING:
    from ..revocation.status import RevocationStatus


class RevocationChecker(Protocol):
    """Revocation status of a validated path, answered without network I/O where possible.

    ``generation`` changes whenever the checker's data changes (a CRL refresh): a cached
    identity validated under an older generation is re-checked before it is served.
    """

    @property
    def generation(self) -> int: ...

    def check(self, path: Sequence[x509.Certificate], at: datetime) -> RevocationStatus | str:
        """Raise ``VerificationError`` (``revoked``/``revocation_unknown``), or return the
        status: a ``RevocationStatus`` (its ``cache_for`` caps how long the verdict may be
        cached; 0: not at all) or a plain description."""
        ...


def reason_from(table: Sequence[tuple[str, Reason]], message: str) -> Reason:
    """The reason of the first needle found in an engine's message (default: invalid)."""
    lowered = message.lower()
    for needle, reason in table:
        if needle in lowered:
            return reason
    return Reason.INVALID_CERTIFICATE


def short(message: str, limit: int = 400) -> str:
    """Engine messages embed whole subjects (thousands of characters for hostile certs)."""
    return message if len(message) <= limit else message[:limit] + "…"
