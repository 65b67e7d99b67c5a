"""Authorization rules: which verified clients may in.

Each configured category must match (AND); within a category any pattern may match (OR).
Every pattern is compiled once, when ``Rules`` is built, and matched against parsed values,
never against a rendered string:

- ``subjects``/``issuers``: DN patterns over parsed RDNs (``names.DNPattern``).
- ``spiffe_ids``: SPIFFE ID patterns over parsed path segments (``spiffe.SpiffePattern``);
  only a certificate with exactly one valid SPIFFE ID can match.
- ``common_names``: the subject's one CN (a subject with two CNs has none: fail closed).
- ``dns_names``, ``uris``, ``emails``: globs in which ``*`` stays inside one DNS label, URI
  path segment or e-mail side of ``@`` and ``**`` crosses them; a URI with a ``.``/``..``
  segment (even percent-encoded) matches no pattern. DNS names and e-mail addresses compare
  case-insensitively, everything else exactly, with no Unicode normalisation.
- ``fingerprints``: exact SHA-256 pins (hex, colons and case ignored).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .errors import ConfigurationError, Reason, VerificationError
from .identity import ClientIdentity
from .names import DNPattern
from .spiffe import SpiffePattern

_LIST_RULES = ("subjects", "common_names", "dns_names", "uris", "emails", "spiffe_ids", "issuers")
_DOT_SEGMENTS = frozenset({".", ".."})


def _glob(pattern: str, separators: str) -> str:
    """``*`` → any run without ``separators``; ``**`` → any run. ``?`` and ``[`` are refused
    rather than silently changing meaning from the shell globs of earlier releases."""
    if "?" in pattern or "[" in pattern:
        raise ConfigurationError(f"pattern {pattern!r}: only '*' and '**' are wildcards")
    one = f"[^{re.escape(separators)}]*" if separators else ".*"
    out = []
    for i, part in enumerate(pattern.split("**")):
        if i:
            out.append(".*")
        out.append(one.join(re.escape(p) for p in part.split("*")))
    return "".join(out)


def _compile(
    patterns: tuple[str, ...], separators: str, *, ignore_case: bool = False
) -> re.Pattern[str] | None:
    if not patterns:
        return None
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("|".join(f"(?:{_glob(p, separators)})" for p in patterns), flags)


def _pin(value: str) -> str:
    pin = value.replace(":", "").strip().lower()
    if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
        raise ConfigurationError(f"fingerprint pin {value!r} is not a SHA-256 hex digest")
    return pin


def _matchable_uris(identity: ClientIdentity) -> Iterable[str]:
    """URI SANs without dot segments: ``.../a/../b`` could be read as ``.../b`` downstream.

    Checked after percent-decoding (repeatedly, so ``%252e`` counts too) with ``\\`` taken
    as ``/``: ``a%2F..%2Fb`` and ``..%5Cb`` are dot segments to some readers."""
    for uri in identity.uris:
        path = uri.split("?", 1)[0].split("#", 1)[0]
        for _ in range(3):
            decoded = unquote(path)
            if decoded == path:
                break
            path = decoded
        if not _DOT_SEGMENTS.intersection(path.replace("\\", "/").split("/")):
            yield uri


Check = Callable[[ClientIdentity], bool]


def _any_glob(pattern: re.Pattern[str], values: Callable[[ClientIdentity], Iterable[str]]) -> Check:
    return lambda identity: any(pattern.fullmatch(v) for v in values(identity))


def _common_name(identity: ClientIdentity) -> Iterable[str]:
    cn = identity.common_name  # None when absent or ambiguous: no value, no match
    return (cn,) if cn is not None else ()


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
    _compiled: tuple[tuple[str, Check], ...] = field(init=False, repr=False, compare=False)
    _pins: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in _LIST_RULES:
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        table: list[tuple[str, Check]] = []
        if self.subjects:
            subjects = tuple(DNPattern.parse(p) for p in self.subjects)
            table.append(("subject", lambda i: any(p.matches(i.subject_rdns) for p in subjects)))
        if self.issuers:
            issuers = tuple(DNPattern.parse(p) for p in self.issuers)
            table.append(("issuer", lambda i: any(p.matches(i.issuer_rdns) for p in issuers)))
        if self.spiffe_ids:
            ids = tuple(SpiffePattern.parse(p) for p in self.spiffe_ids)
            table.append(("SPIFFE ID", lambda i: any(p.matches(i.spiffe) for p in ids)))
        for label, patterns, separators, ignore_case, values in (
            ("common name", self.common_names, "", False, _common_name),
            ("DNS SAN", self.dns_names, ".", True, lambda i: i.dns_names),
            ("URI SAN", self.uris, "/", False, _matchable_uris),
            ("email SAN", self.emails, "@", True, lambda i: i.emails),
        ):
            compiled = _compile(patterns, separators, ignore_case=ignore_case)
            if compiled is not None:
                table.append((label, _any_glob(compiled, values)))
        object.__setattr__(self, "_compiled", tuple(table))
        fps = (self.fingerprints,) if isinstance(self.fingerprints, str) else self.fingerprints
        object.__setattr__(self, "_pins", frozenset(_pin(f) for f in fps))

    @property
    def empty(self) -> bool:
        return not self._compiled and not self._pins and self.predicate is None

    def check(self, identity: ClientIdentity) -> None:
        for label, matches in self._compiled:
            if not matches(identity):
                raise VerificationError(
                    Reason.RULE_DENIED,
                    f"{label} of {identity.subject!r} matches no allowed pattern",
                )
        if self._pins and identity.fingerprint_sha256 not in self._pins:
            raise VerificationError(
                Reason.RULE_DENIED, f"fingerprint {identity.fingerprint_sha256} is not pinned"
            )
        self.check_predicate(identity)

    def check_predicate(self, identity: ClientIdentity) -> None:
        """The ``predicate`` alone: the only rule whose answer may change for the same
        certificate (a deny-list), so it also runs on every cache hit."""
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
