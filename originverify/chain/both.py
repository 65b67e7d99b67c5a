"""``engine="both"``: a chain passes only when both engines accept it.

A bug in one path builder is rarely repeated in an independent one: a disagreement is
logged with both verdicts and refused (``engine_disagreement``), so an engine bug fails
closed and leaves a trace instead of silently letting a client in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509

from .. import describe
from ..errors import Reason, VerificationError
from ..trust import TrustSnapshot
from .engine import Engine

log = logging.getLogger("originverify")


def _verdict(result: list[x509.Certificate] | VerificationError) -> str:
    if isinstance(result, VerificationError):
        return f"reject ({result.reason.value}: {result.detail})"
    return f"accept ({len(result)} certificates, anchor {describe.subject(result[-1])!r})"


class BothEngines:
    """Runs both engines; only a chain both accept passes.

    Both accept: the first (cryptography) engine's path. Both reject: the first engine's
    error (its reason codes are the reference). They disagree: both verdicts are logged on
    ``originverify`` and the request is refused with ``engine_disagreement``.
    """

    name = "both"

    def __init__(self, first: Engine, second: Engine) -> None:
        self.first = first
        self.second = second

    def validate(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        """The first engine's path when both accept; raises ``VerificationError``."""
        results: list[list[x509.Certificate] | VerificationError] = []
        for engine in (self.first, self.second):
            try:
                results.append(engine.validate(leaf, presented, at, snapshot))
            except VerificationError as exc:
                results.append(exc)
        first, second = results
        if isinstance(first, VerificationError) and isinstance(second, VerificationError):
            raise first
        if not isinstance(first, VerificationError) and not isinstance(second, VerificationError):
            return first
        log.warning(
            "originverify: engines disagree on %r: %s says %s; %s says %s",
            describe.subject(leaf),
            self.first.name,
            _verdict(first),
            self.second.name,
            _verdict(second),
        )
        raise VerificationError(
            Reason.ENGINE_DISAGREEMENT,
            f"{self.first.name}: {_verdict(first)}; {self.second.name}: {_verdict(second)}",
        )

    def close(self) -> None:
        for engine in (self.first, self.second):
            closer = getattr(engine, "close", None)
            if callable(closer):
                closer()
