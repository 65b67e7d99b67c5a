"""RFC 5280 §6.3.3 for one certificate against the loaded CRLs: the reasons-mask loop.

For each of the certificate's distribution points (or the implicit one), every CRL of the
issuer it names is taken through: scope (``scope.covers``), signer (``issuers.py``), the
newest delta CRL that applies to it (same scope and signer, base number <= its number <
the delta's number), the entries for *this certificate's issuer* (indirect CRLs), freshness
(the complete CRL or the delta it is combined with current; ``thisUpdate`` not in the future
beyond the skew). A listed serial is revoked even on a stale CRL. "good" needs the reasons
covered by fresh, in-scope, verified CRLs to be all reasons; anything else is "unknown".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509

from .certinfo import ALL_REASONS, DistributionPoint, facts
from .crl import LoadedCRL
from .issuers import SignerStore
from .scope import covers, interim_reasons

Status = Literal["good", "revoked", "unknown"]


@dataclass(frozen=True)
class CRLIndex:
    """Complete and delta CRLs by issuer name (DER); per scope only the newest complete."""

    complete: dict[bytes, tuple[LoadedCRL, ...]] = field(default_factory=dict)
    deltas: dict[bytes, tuple[LoadedCRL, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, crls: Iterable[LoadedCRL]) -> CRLIndex:
        complete: dict[bytes, list[LoadedCRL]] = {}
        deltas: dict[bytes, list[LoadedCRL]] = {}
        for crl in crls:
            group = (deltas if crl.is_delta else complete).setdefault(crl.issuer_der, [])
            same = [c for c in group if c.same_scope(crl) and c.key_id == crl.key_id]
            if not crl.is_delta and same:
                if not crl.newer_than(same[0]):
                    continue  # an older (or identical) CRL of the same scope: ignore
                group.remove(same[0])
            group.append(crl)
        return cls(
            {k: tuple(v) for k, v in complete.items()},
            {k: tuple(sorted(v, key=lambda c: -c.number)) for k, v in deltas.items()},
        )

    def all(self) -> list[LoadedCRL]:
        return [c for group in (*self.complete.values(), *self.deltas.values()) for c in group]


@dataclass
class _Pass:
    """What one evaluation learned: reasons covered, by which CRLs, and what failed."""

    mask: set[x509.ReasonFlags] = field(default_factory=set)
    used: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _delta_for(index: CRLIndex, crl: LoadedCRL, signer: x509.Certificate) -> LoadedCRL | None:
    for delta in index.deltas.get(crl.issuer_der, ()):
        if (
            delta.same_scope(crl)
            and delta.delta_base is not None
            and delta.delta_base <= crl.number < delta.number
            and delta.signed_by(signer)
        ):
            return delta  # newest first
    return None


def _fresh(crl: LoadedCRL, delta: LoadedCRL | None, at: datetime, skew: timedelta) -> str | None:
    for c in (crl, delta):
        if c is not None and c.this_update > at + skew:
            return f"{c.source}: not valid before {c.this_update:%Y-%m-%dT%H:%M:%SZ}"
    if crl.next_update > at or (delta is not None and delta.next_update > at):
        return None
    last = delta if delta is not None else crl
    return f"{last.source}: expired at {last.next_update:%Y-%m-%dT%H:%M:%SZ}"


class Evaluator:
    """Answers §6.3.3 for a certificate at ``path[i]`` from one ``CRLIndex``."""

    def __init__(self, index: CRLIndex, signers: SignerStore, skew: timedelta, chain: bool):
        self.index = index
        self.signers = signers
        self.skew = skew
        self.chain = chain  # scope "chain": a delegated CRL signer must be proven unrevoked

    def status(
        self, path: Sequence[x509.Certificate], i: int, at: datetime, delegated: bool = True
    ) -> tuple[Status, str]:
        cert = path[i]
        info = facts(cert)
        seen = _Pass()
        any_crl = False
        for point in info.points:
            for name in point.crl_issuers_der or (info.issuer_der,):
                for crl in self.index.complete.get(name, ()):
                    any_crl = True
                    why = covers(crl, point, info.issuer_der, info.ca)
                    if why is not None:
                        seen.problems.append(f"{crl.source}: {why}")
                        continue
                    revoked = self._one(crl, path, i, at, delegated, point, seen)
                    if revoked is not None:
                        return "revoked", revoked
        if seen.mask >= ALL_REASONS:
            return "good", "; ".join(dict.fromkeys(seen.used))
        if not any_crl:
            return "unknown", f"no CRL for issuer {cert.issuer.rfc4514_string()!r}"
        if seen.mask:
            missing = ", ".join(sorted(r.value for r in ALL_REASONS - seen.mask))
            seen.problems.append(
                f"the CRLs found cover only some revocation reasons ({missing} not)"
            )
        if not seen.problems:
            seen.problems.append(f"no applicable CRL for issuer {cert.issuer.rfc4514_string()!r}")
        return "unknown", "; ".join(dict.fromkeys(seen.problems))

    def _one(
        self,
        crl: LoadedCRL,
        path: Sequence[x509.Certificate],
        i: int,
        at: datetime,
        delegated: bool,
        point: DistributionPoint,
        seen: _Pass,
    ) -> str | None:
        """Process one in-scope CRL; returns the description proving a revocation."""
        signer, chain, problem = self.signers.signer(crl, path, i + 1, at, self.skew, delegated)
        if signer is None:
            seen.problems.append(f"{crl.source}: {problem}")
            return None
        if chain:
            void = self._signer_unrevoked(chain, path, at)
            if void is not None:
                seen.problems.append(f"{crl.source}: {void}")
                return None
        serial, issuer_der = path[i].serial_number, facts(path[i]).issuer_der
        delta = _delta_for(self.index, crl, signer)
        if delta is not None and delta.lists(issuer_der, serial):
            return delta.description
        if crl.lists(issuer_der, serial) and not (
            delta is not None and delta.removes(issuer_der, serial)
        ):
            return crl.description
        stale = _fresh(crl, delta, at, self.skew)
        if stale is not None:
            seen.problems.append(stale)
            return None
        interim = interim_reasons(crl, point)
        if interim - seen.mask:
            seen.mask |= interim
            seen.used.append(
                f"{crl.description} + {delta.description}" if delta else crl.description
            )
        return None

    def _signer_unrevoked(
        self, chain: list[x509.Certificate], path: Sequence[x509.Certificate], at: datetime
    ) -> str | None:
        """A delegated CRL signer: revoked → the CRL is void; unknown → void in chain scope."""
        top = chain[-1]
        rest = [c for c in path if c.signature == top.signature]
        start = (
            next(k for k, c in enumerate(path) if c.signature == top.signature)
            if rest
            else len(path) - 1
        )
        signer_path = [*chain[:-1], *path[start:]]
        status, detail = self.status(signer_path, 0, at, delegated=False)
        if status == "revoked":
            return f"CRL signer certificate revoked ({detail})"
        if status == "unknown" and self.chain:
            return f"CRL signer certificate's revocation status unknown ({detail})"
        return None
