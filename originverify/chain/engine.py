"""What every engine shares: the protocols, reason mapping helpers, and path-level checks
that must hold whichever engine built the path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from cryptography import x509

from ..errors import Reason, VerificationError
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


_CONSTRAINED: dict[bytes, bool] = {}
_CONSTRAINED_SIZE = 4096


def _name_constrained(ca: x509.Certificate) -> bool:
    # Only called on a path an engine validated: a valid signature identifies its
    # to-be-signed part, so keying on it is sound (and costs ~0.1 µs, no hashing).
    key = ca.signature
    known = _CONSTRAINED.get(key)
    if known is not None:
        return known
    try:
        ca.extensions.get_extension_for_class(x509.NameConstraints)
        value = True
    except x509.ExtensionNotFound:
        value = False
    except Exception:
        value = True
    if len(_CONSTRAINED) >= _CONSTRAINED_SIZE:
        _CONSTRAINED.clear()
    _CONSTRAINED[key] = value
    return value


def check_unconstrained_leaf(path: Sequence[x509.Certificate]) -> None:
    """pyca applies name constraints to SANs only; the ``private`` profile admits leaves
    without SAN, which would slip past a constrained CA. Refuse that combination."""
    if len(path) < 2 or not any(_name_constrained(ca) for ca in path[1:]):
        return
    try:
        path[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except Exception:
        raise VerificationError(
            Reason.NAME_CONSTRAINTS,
            "leaf has no subjectAltName but a CA in its path is name-constrained",
        ) from None
