"""Authorization rules: which verified clients may in.

Each configured category must match (AND); within a category any pattern may match (OR).
Patterns are shell-style globs (``*`` matches any run of characters, dots and slashes
included), compared case-sensitively except DNS names and e-mail domains; fingerprint pins
are exact SHA-256 values (hex, colons and case ignored).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Any

from .errors import ConfigurationError, Reason, VerificationError
from .identity import ClientIdentity


def _compile(patterns: Iterable[str], *, ignore_case: bool = False) -> re.Pattern[str] | None:
    items = list(patterns)
    if not items:
        return None
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile("|".join(f"(?:{translate(p)})" for p in items), flags)


def _pin(value: str) -> str:
    pin = value.replace(":", "").strip().lower()
    if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
        raise ConfigurationError(f"fingerprint pin {value!r} is not a SHA-256 hex digest")
    return pin


@dataclass(frozen=True)
class Rules:
    subjects: tuple[str, ...] = ()
    common_names: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    spiffe_ids: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()
    fingerprints: tuple[str, ...] = ()
    predicate: Callable[[ClientIdentity], bool] | None = None
    _compiled: tuple[tuple[str, Any, Callable[[ClientIdentity], Iterable[str]]], ...] = field(
        init=False, repr=False, compare=False
    )
    _pins: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in (
            "subjects",
            "common_names",
            "dns_names",
            "uris",
            "emails",
            "spiffe_ids",
            "issuers",
        ):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            else:
                object.__setattr__(self, name, tuple(value))
        table: list[tuple[str, Any, Callable[[ClientIdentity], Iterable[str]]]] = []
        for label, patterns, ignore_case, values in (
            ("subject", self.subjects, False, lambda i: (i.subject,)),
            ("common name", self.common_names, False, lambda i: (i.common_name or "",)),
            ("DNS SAN", self.dns_names, True, lambda i: i.dns_names),
            ("URI SAN", self.uris, False, lambda i: i.uris),
            ("email SAN", self.emails, True, lambda i: i.emails),
            ("SPIFFE ID", self.spiffe_ids, False, lambda i: (i.spiffe_id or "",)),
            ("issuer", self.issuers, False, lambda i: (i.issuer,)),
        ):
            compiled = _compile(patterns, ignore_case=ignore_case)
            if compiled is not None:
                table.append((label, compiled, values))
        object.__setattr__(self, "_compiled", tuple(table))
        fps = (self.fingerprints,) if isinstance(self.fingerprints, str) else self.fingerprints
        object.__setattr__(self, "_pins", frozenset(_pin(f) for f in fps))

    @property
    def empty(self) -> bool:
        return not self._compiled and not self._pins and self.predicate is None

    def check(self, identity: ClientIdentity) -> None:
        for label, pattern, values in self._compiled:
            if not any(pattern.fullmatch(v) for v in values(identity)):
                raise VerificationError(
                    Reason.RULE_DENIED,
                    f"{label} of {identity.subject!r} matches no allowed pattern",
                )
        if self._pins and identity.fingerprint_sha256 not in self._pins:
            raise VerificationError(
                Reason.RULE_DENIED, f"fingerprint {identity.fingerprint_sha256} is not pinned"
            )
        if self.predicate is not None and not self.predicate(identity):
            raise VerificationError(Reason.RULE_DENIED, "custom rule refused the client")

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> Rules:
        known = {f for f in cls.__dataclass_fields__ if not f.startswith("_")}
        unknown = set(settings) - known
        if unknown:
            raise ConfigurationError(f"unknown rule(s): {', '.join(sorted(unknown))}")
        return cls(**settings)


NO_RULES = Rules()
