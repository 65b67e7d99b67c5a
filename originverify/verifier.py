"""The one call adapters make: ``Verifier.verify_request``. The request path reads top to
bottom in ``Verifier._run``:

    source proof → header-name guard → cache → decode → edge claims → parse DER → key caps
    → validity → chain validation (or the edge's verdict) → identity → rules → cache

Everything configurable is resolved in ``__init__`` (trust store parsed, extension policies
built, secrets digested, rules compiled); per request there is no file I/O and no parsing of
anchors. Edge claims are cross-checked right after decoding, before the costly signature
work, because a mismatch means tampering whatever the chain says.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography import x509

from .cache import ResultCache
from .errors import ConfigurationError, Reason, VerificationError
from .formats import CLOUDFRONT_PASSTHROUGH, CertificateFormat, ForwardedCertificate, Limits
from .formats import get as get_format
from .formats.claims import cross_check
from .headers import HeaderInput, as_headers, values_of
from .identity import ClientIdentity
from .names import require_decodable
from .rules import NO_RULES, Rules
from .source import RequestContext, SourceProof
from .trust import CertSource, TrustStore
from .verify import (
    Engine,
    Profile,
    RevocationChecker,
    ValidationPolicy,
    build_engine,
    check_key,
    check_validity,
)

log = logging.getLogger("originverify")


class Mode(StrEnum):
    """``required``: no verified identity → refused. ``optional``: no certificate →
    anonymous, an invalid one → refused. ``report_only``: never refuse; log and count."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    REPORT_ONLY = "report_only"


@dataclass(frozen=True, slots=True)
class Step:
    """One line of ``explain``'s account of a request."""

    name: str
    ok: bool
    detail: str


@dataclass(slots=True)
class Report:
    """What ``explain`` found: every step, and the verdict."""

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


class Verifier:
    """Built once at start-up; ``verify_request`` is safe to call from many threads."""

    def __init__(
        self,
        *,
        trust: TrustStore | CertSource | None,
        source: SourceProof | None,
        format: CertificateFormat | str = CLOUDFRONT_PASSTHROUGH,
        mode: Mode | str = Mode.REQUIRED,
        profile: Profile = "private",
        require_eku: bool = False,
        clock_skew: timedelta | float = 0,
        max_chain_depth: int = 5,
        validation_time: datetime | None = None,
        max_rsa_bits: int = 4096,
        rules: Rules | Mapping[str, Any] | None = None,
        cache: ResultCache | int | None = 1024,
        limits: Limits | None = None,
        trust_edge_verdict: bool = False,
        extra_intermediates: CertSource = (),
        engine: str | Engine = "cryptography",
        revocation: RevocationChecker | None = None,
        policy: ValidationPolicy | None = None,
    ) -> None:
        if source is None:
            raise ConfigurationError(
                "no source proof configured: anyone who can reach the origin could paste a "
                "certificate into a header. Pass source=EdgeSecret(...) or "
                "TrustedProxies(...), or explicitly source=InsecureNoSourceProof()"
            )
        if not isinstance(source, SourceProof):
            raise ConfigurationError(f"source must be a SourceProof, not {type(source).__name__}")
        self.source = source
        try:
            self.format = get_format(format) if isinstance(format, str) else format
            self.mode = Mode(mode)
        except (KeyError, ValueError) as exc:
            raise ConfigurationError(str(exc).strip("'\"")) from None
        skew = clock_skew if isinstance(clock_skew, timedelta) else timedelta(seconds=clock_skew)
        # ``policy`` (a whole ValidationPolicy) wins over the individual keyword arguments.
        self.policy = policy or ValidationPolicy(
            profile=profile,
            require_eku=require_eku,
            clock_skew=skew,
            max_chain_depth=max_chain_depth,
            validation_time=validation_time,
            max_rsa_bits=max_rsa_bits,
        )
        self.trust_edge_verdict = trust_edge_verdict
        if not self.format.forwards_certificate:
            log.warning(
                "originverify: format %s forwards no certificate (metadata only): every "
                "request is anonymous; required mode refuses all of them",
                self.format.name,
            )
        if trust_edge_verdict and not self.format.edge_validates:
            log.warning(
                "originverify: trust_edge_verdict with format %s, which does not validate at "
                "the edge by itself; only requests whose edge claims verified=true pass",
                self.format.name,
            )
        if trust is None:
            if not trust_edge_verdict:
                raise ConfigurationError(
                    "no trust anchors: pass trust=TrustStore(...) or a PEM path (only "
                    "trust_edge_verdict=True may run without anchors)"
                )
            self.trust: TrustStore | None = None
            self.engine: Engine | None = None
        else:
            if not isinstance(trust, TrustStore):
                trust = TrustStore(trust, extra_intermediates)
            self.trust = trust
            self.engine = build_engine(engine, trust, self.policy)
        self.revocation = revocation
        if rules is None:
            rules = NO_RULES
        elif not isinstance(rules, Rules):
            rules = Rules.from_mapping(rules)
        self.rules = rules
        if isinstance(cache, int):
            cache = ResultCache(cache) if cache > 0 else None
        self.cache = cache
        self.limits = limits or Limits()
        self._cert_headers = tuple(h.lower() for h in self.format.header_names)
        source.bind(self._cert_headers)
        self._guarded = frozenset(self._cert_headers)
        self.protected_headers = tuple(
            dict.fromkeys(h.lower() for h in (*self._cert_headers, *source.header_names))
        )
        self._checks = self._describe_checks()
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    def _describe_checks(self) -> tuple[str, ...]:
        checks = [f"source:{self.source.label}", f"format:{self.format.name}"]
        if self.trust_edge_verdict:
            checks.append("edge_verdict")
        else:
            assert self.engine is not None
            checks.append(f"chain:{self.policy.profile}:{self.engine.name}")
            checks.append("eku:clientAuth" + (" required" if self.policy.require_eku else ""))
        if self.revocation is not None:
            mode = getattr(self.revocation, "mode", None)
            scope = getattr(self.revocation, "scope", None)
            checks.append(":".join(str(p) for p in ("revocation", mode, scope) if p))
        if not self.rules.empty:
            checks.append("rules")
        return tuple(checks)

    # -- public API ------------------------------------------------------------------------

    def verify_request(
        self,
        headers: HeaderInput,
        peer: str | None = None,
        *,
        method: str | None = None,
        target: str | None = None,
        scheme: str | None = None,
        authority: str | None = None,
    ) -> ClientIdentity | None:
        """The verified client, or ``None`` (anonymous) where the mode allows it.

        Raises ``VerificationError`` with a stable ``reason`` otherwise.
        """
        request = RequestContext(as_headers(headers), peer, method, target, scheme, authority)
        try:
            identity = self._run(request, None)
            if identity is None and self.mode is Mode.REQUIRED:
                raise VerificationError(Reason.MISSING_CERTIFICATE, "no client certificate")
        except VerificationError as exc:
            self._refuse(exc, peer)
            return None
        self._count("verified" if identity is not None else "anonymous")
        return identity

    def explain(
        self,
        headers: HeaderInput,
        peer: str | None = None,
        **request: str | None,
    ) -> Report:
        """Run the same path as ``verify_request`` and keep an account of every step."""
        report = Report()
        context = RequestContext(as_headers(headers), peer, **request)
        try:
            report.identity = self._run(context, report)
            if report.identity is None:
                if self.mode is Mode.REQUIRED:
                    raise VerificationError(Reason.MISSING_CERTIFICATE, "no client certificate")
                report.add("verdict", True, f"anonymous request ({self.mode.value} mode)")
        except VerificationError as exc:
            report.error = exc
            report.add("verdict", False, f"{exc.reason.value}: {exc.detail}")
        return report

    def reload_trust(self) -> None:
        """Re-read the anchors; the cache keys on the new generation from now on."""
        if self.trust is not None:
            self.trust.reload()
            if self.cache is not None:
                self.cache.clear()

    # -- the request path ------------------------------------------------------------------

    def _run(self, request: RequestContext, report: Report | None) -> ClientIdentity | None:
        headers = request.headers
        proof = self.source.check(request)
        if report is not None:
            report.add("source proof", True, proof)

        aliased = headers.underscored_names() & self._guarded
        if aliased:
            raise VerificationError(
                Reason.AMBIGUOUS_HEADER_NAME,
                f"underscore spelling of {', '.join(sorted(aliased))} sent; refusing to guess",
            )

        snapshot = self.trust.snapshot if self.trust is not None else None
        now_ts = self._now()
        key: tuple[int, tuple[tuple[str, ...], ...]] | None = None
        if self.cache is not None:
            key = (snapshot.generation if snapshot else -1, values_of(headers, self._cert_headers))
            hit = self.cache.get(key, now_ts)
            if hit is not None:
                revocation = self.revocation
                if revocation is not None and hit[1] != revocation.generation:
                    # Validated under older revocation data: re-check the cached path.
                    self.cache.discard(key)
                    revocation.check(
                        (hit[0].certificate, *hit[0].chain), self._validation_time(now_ts)
                    )
                    self.cache.put(key, hit[0], hit[2], now_ts, revocation.generation)
                if report is not None:
                    report.add("cache", True, "hit: identical headers verified before")
                return hit[0]

        forwarded = self.format.decode(headers, self.limits)
        if report is not None:
            report.add("decode", True, _describe_forwarded(self.format, forwarded))
        if forwarded.leaf is None:
            # A metadata-only format (the edge never sends the certificate) cannot prove an
            # identity: with or without a presented certificate, the request is anonymous.
            if forwarded.claims.present and self.format.forwards_certificate:
                raise VerificationError(
                    Reason.EDGE_MISMATCH, "edge says a certificate was presented, none forwarded"
                )
            return None

        leaf, chain = _parse(forwarded)
        require_decodable(leaf)
        if report is not None:
            report.presented = [leaf, *chain]
        self._cross_check(forwarded, leaf, report)

        check_key(leaf, self.policy, "leaf", forwarded.leaf)
        for index, cert in enumerate(chain):
            check_key(cert, self.policy, f"chain[{index}]", forwarded.chain[index])
        now = self._validation_time(now_ts)
        at = check_validity(leaf, now, self.policy.clock_skew)
        if report is not None:
            report.add(
                "key and validity",
                True,
                f"presented certificates valid at {now:%Y-%m-%dT%H:%M:%SZ}",
            )

        if self.engine is None or snapshot is None:
            verified = forwarded.claims.verified
            if verified is False:
                raise VerificationError(Reason.UNTRUSTED_CHAIN, "edge reports verification failed")
            if verified is not True and (
                self.format.reports_verdict or not self.format.edge_validates
            ):
                raise VerificationError(
                    Reason.UNTRUSTED_CHAIN, "edge verdict trusted but the edge did not say verified"
                )
            path = [leaf]
            if report is not None:
                report.add("chain", True, "not re-validated: edge's verdict trusted (opt-in)")
        else:
            path = self.engine.validate(leaf, chain, at, snapshot)
            if report is not None:
                report.path = path
                report.add(
                    "chain",
                    True,
                    f"{self.engine.name}: {len(path)} certificates up to a configured anchor",
                )
        revocation_generation = 0
        if self.revocation is not None:
            revocation_generation = self.revocation.generation
            status = self.revocation.check(path, at)
            if report is not None:
                report.add("revocation", True, status)

        identity = ClientIdentity(
            leaf,
            tuple(path[1:]),
            self._checks,
            leaf_der=forwarded.leaf,
            edge_verified=self.engine is None,
            claims=forwarded.claims,
        )
        self.rules.check(identity)
        if report is not None and not self.rules.empty:
            report.add("rules", True, "allowed")
        if self.cache is not None and key is not None:
            not_after = min(c.not_valid_after_utc for c in path).timestamp()
            self.cache.put(key, identity, not_after, now_ts, revocation_generation)
        return identity

    def _cross_check(
        self, forwarded: ForwardedCertificate, leaf: x509.Certificate, report: Report | None
    ) -> None:
        cross_check(forwarded, leaf)
        if report is not None and forwarded.claims:
            names = ", ".join(name for name, _ in forwarded.claims.raw)
            report.add("edge claims", True, f"consistent with the certificate ({names})")

    # -- helpers ---------------------------------------------------------------------------

    def _now(self) -> float:
        fixed = self.policy.validation_time
        return fixed.timestamp() if fixed is not None else time.time()

    def _validation_time(self, now_ts: float) -> datetime:
        # Whole seconds, as X.509 times and pyca's verifier have them.
        fixed = self.policy.validation_time
        if fixed is not None:
            return fixed.replace(microsecond=0)
        return datetime.fromtimestamp(int(now_ts), UTC)

    def _refuse(self, exc: VerificationError, peer: str | None) -> None:
        """Log and count; re-raise unless the mode is report-only."""
        if self.mode is Mode.REPORT_ONLY:
            self._count(f"would_reject:{exc.reason.value}")
            log.warning(
                "originverify: would reject (report-only) reason=%s peer=%s detail=%s",
                exc.reason.value,
                peer,
                exc.detail,
            )
            return None
        self._count(f"rejected:{exc.reason.value}")
        log.info(
            "originverify: rejected reason=%s status=%d peer=%s detail=%s",
            exc.reason.value,
            exc.http_status,
            peer,
            exc.detail,
        )
        raise exc

    def _count(self, outcome: str) -> None:
        with self._stats_lock:
            self.stats[outcome] += 1


def _parse(forwarded: ForwardedCertificate) -> tuple[x509.Certificate, list[x509.Certificate]]:
    assert forwarded.leaf is not None
    try:
        leaf = x509.load_der_x509_certificate(forwarded.leaf)
    except ValueError as exc:
        raise VerificationError(Reason.MALFORMED_CERTIFICATE, f"leaf: {exc}") from None
    chain = []
    for index, der in enumerate(forwarded.chain):
        try:
            chain.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise VerificationError(
                Reason.MALFORMED_CERTIFICATE, f"chain[{index}]: {exc}"
            ) from None
    return leaf, chain


def _describe_forwarded(fmt: CertificateFormat, forwarded: ForwardedCertificate) -> str:
    if forwarded.leaf is None:
        return f"{fmt.name}: no client certificate in the request"
    return (
        f"{fmt.name}: leaf ({len(forwarded.leaf)} bytes DER) + "
        f"{len(forwarded.chain)} chain certificate(s)"
        + (f", {len(forwarded.claims.raw)} edge claim header(s)" if forwarded.claims else "")
    )
