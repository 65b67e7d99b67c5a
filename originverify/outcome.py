"""What one verification decided: ``Outcome``, the ``Mode`` that decides enforcement, and the
``Report`` a traced check keeps.

Adapters decide from the ``Outcome`` alone: ``outcome.refused`` means answer with
``outcome.error``'s status; anything else means let the request in with
``outcome.identity`` (``None``: anonymous). Report-only is decided once, here: a refusal the
mode does not enforce still carries its ``error`` (``enforced`` is False), and the core has
already logged and counted it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography import x509

from .errors import VerificationError
from .identity import ClientIdentity

__all__ = ["NO_TRACE", "Mode", "Outcome", "Report", "Step", "Trace"]


class Mode(StrEnum):
    """``required``: no verified identity → refused. ``optional``: no certificate →
    anonymous, an invalid one → refused. ``report_only``: judged as ``required``, never
    enforced; every would-be refusal is logged and counted."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    REPORT_ONLY = "report_only"

    @property
    def requires_certificate(self) -> bool:
        """Whether a request without a certificate is a refusal (enforced or not)."""
        return self is not Mode.OPTIONAL

    @property
    def enforces(self) -> bool:
        return self is not Mode.REPORT_ONLY


@dataclass(frozen=True, slots=True)
class Step:
    """One line of a traced check's account of a request."""

    name: str
    ok: bool
    detail: str


class Trace:
    """Records nothing: the request path calls it unconditionally, at no cost."""

    __slots__ = ()

    def step(self, name: str, describe: Callable[..., str], *args: Any) -> None:
        """Record that ``name`` passed; ``describe(*args)`` runs only when recording."""

    def presented_certificates(self, certificates: list[x509.Certificate]) -> None:
        """The certificates the request carried, parsed."""

    def validated_path(self, path: list[x509.Certificate]) -> None:
        """The path the engine validated, leaf first."""


NO_TRACE = Trace()


@dataclass(slots=True)
class Report(Trace):
    """What ``explain`` (or ``check(..., trace=True)``) found: every step, and the verdict."""

    steps: list[Step] = field(default_factory=list)
    identity: ClientIdentity | None = None
    error: VerificationError | None = None
    presented: list[x509.Certificate] = field(default_factory=list)
    path: list[x509.Certificate] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.error is None

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.steps.append(Step(name, ok, detail))

    def step(self, name: str, describe: Callable[..., str], *args: Any) -> None:
        self.steps.append(Step(name, True, describe(*args)))

    def presented_certificates(self, certificates: list[x509.Certificate]) -> None:
        self.presented = certificates

    def validated_path(self, path: list[x509.Certificate]) -> None:
        self.path = path


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one request.

    ``identity``: the verified client, ``None`` when anonymous or refused. ``error``: why the
    request was (or, in report-only mode, would have been) refused. ``enforced``: whether
    the adapter must refuse it. ``via``: how it was decided (``cache``, ``chain``,
    ``edge_verdict``, ``anonymous``, ``refused``), for metrics. ``elapsed``: seconds spent.
    ``report``: the step-by-step account, only when asked for.
    """

    identity: ClientIdentity | None
    error: VerificationError | None = None
    enforced: bool = False
    via: str = "anonymous"
    elapsed: float = 0.0
    leaf_sha256: str | None = None
    report: Report | None = None

    @property
    def refused(self) -> bool:
        """The adapter must answer with ``error`` instead of running the application."""
        return self.enforced and self.error is not None

    @property
    def anonymous(self) -> bool:
        return self.identity is None and not self.refused

    def raise_for_refusal(self) -> ClientIdentity | None:
        """The identity (``None``: anonymous), or raise the enforced ``VerificationError``."""
        if self.enforced and self.error is not None:
            raise self.error
        return self.identity
