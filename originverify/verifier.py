"""``Verifier``: built once at start-up, asked once per request, ``check(request) -> Outcome``.

The request path is the list ``STAGES``: each stage is a method named after it, reads the
per-request ``State`` and either fills in its part or raises ``VerificationError``.
``check`` runs them inside one exception boundary (any other exception from attacker
bytes becomes a stable reason, never a 500), then settles the verdict under the mode, logs
it, counts it and tells the observers, in one place. ``verify_request`` and ``explain`` are
thin wrappers. Everything configurable is resolved in ``__init__``; per request there is no
file I/O and no parsing of anchors.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .cache import CertificateInterner
from .chain import build_engine, check_presented
from .chain.subpath import subpath_cache
from .config import Config, VerifierOptions, checks_of, resolve, warn_about
from .errors import ConfigurationError, Reason, VerificationError
from .headers import HeaderInput, as_headers, values_of
from .identity import ClientIdentity
from .logs import clean, log_outcome
from .outcome import NO_TRACE, Mode, Outcome, Report
from .rules import Rules
from .source import RequestContext
from .stages import (
    Gate,
    State,
    cross_check,
    describe_forwarded,
    edge_verdict_path,
    gates_of,
    intern_validated,
    leaf_sha256,
    parse_forwarded,
)
from .tokens import check_token_binding
from .watch import watch_files

if TYPE_CHECKING:
    from typing import Unpack

log = logging.getLogger("originverify")

__all__ = ["STAGES", "Mode", "Report", "Verifier"]

#: The request path, in order. The first three run inline in async adapters (a cache hit
#: costs microseconds); from ``decode`` on, async adapters run the rest in a worker thread.
STAGES = (
    "admit",  # source proof: the request came through the edge
    "guard_names",  # no underscore spelling of a protected header
    "cached",  # identical headers verified before by this verifier
    "decode",  # the configured edge format, strictly
    "parse",  # DER → certificates
    "cross_check",  # the edge's claims agree with the DER
    "key_and_validity",  # key caps and validity, before any signature work
    "chain",  # path to our own anchors (or the edge's verdict, if opted in)
    "revocation",  # CRL / OCSP, when configured
    "identity",  # the ClientIdentity, from the DER only
    "rules",  # the configured allow-lists
    "remember",  # cache the success
)
_INLINE = STAGES.index("decode")
_VALID_AT = "presented certificates valid at {:%Y-%m-%dT%H:%M:%SZ}"
_PATH_FOUND = "{}: {} certificates up to a configured anchor"
_FAST = "fast path: leaf signed by a validated sub-path, {} certificates up to an anchor"

#: What an unexpected exception in a stage becomes (default: malformed_certificate).
_UNEXPECTED = {"revocation": Reason.REVOCATION_UNKNOWN, "rules": Reason.RULE_DENIED}


class Verifier:
    """Built once at start-up from keyword options (see ``VerifierOptions``) or a ``Config``;
    ``check`` is safe to call from many threads."""

    def __init__(self, config: Config | None = None, /, **options: Unpack[VerifierOptions]):
        if config is not None and options:
            raise ConfigurationError("pass a Config or keyword options, not both")
        self.config = config if config is not None else resolve(options)
        c = self.config
        self.source, self.format, self.mode, self.policy = c.source, c.format, c.mode, c.policy
        self.trust, self.rules, self.limits, self.cache = c.trust, c.rules, c.limits, c.cache
        self.revocation, self.trust_edge_verdict = c.revocation, c.trust_edge_verdict
        self.engine = build_engine(c.engine, c.trust, c.policy) if c.trust is not None else None
        if self.cache is not None:
            self.cache.bind(self)
        self._cache_salt = os.urandom(16)  # keys of this verifier only, whatever the cache
        self.interned = CertificateInterner()
        self.subpaths = subpath_cache(self.engine, c.policy)  # None: fast path off
        self._cert_headers = tuple(h.lower() for h in self.format.header_names)
        self.source.bind(self._cert_headers)
        self._guarded = frozenset(self._cert_headers)
        self.protected_headers = tuple(
            dict.fromkeys(h.lower() for h in (*self._cert_headers, *self.source.header_names))
        )
        self._checks = checks_of(c, self.engine)
        self._stages = tuple((name, getattr(self, f"_{name}")) for name in STAGES)
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        warn_about(c)
        self.watcher = watch_files(self, self._trust_reloaded, c.watch_interval)

    @property
    def may_block(self) -> bool:
        """Whether a check may wait on the network even before the cache (a shared replay
        store): async adapters then run the whole check in a worker thread."""
        return bool(getattr(self.source, "may_block", False))

    # -- public API ------------------------------------------------------------------------

    def check(
        self,
        request: RequestContext | HeaderInput,
        *,
        required: bool | None = None,
        rules: Rules | None = None,
        trace: bool = False,
    ) -> Outcome:
        """Decide one request. Never raises for a refusal: see ``Outcome``.

        ``required`` overrides the mode's answer to "is a missing certificate a refusal?"
        (a view that requires a client in an optional-mode app); ``rules`` are checked on
        top of the configured ones (a view's own rules). ``request``: a ``RequestContext``,
        or headers alone (anything ``verify_request`` takes).
        """
        state = State(_context(request), Report() if trace else NO_TRACE, self._now())
        if not self._run(state, 0, _INLINE):
            self._run(state, _INLINE, len(self._stages))
        return self._settle(state, required, gates_of(rules))

    async def acheck(
        self,
        request: RequestContext | HeaderInput,
        *,
        required: bool | None = None,
        rules: Rules | None = None,
        trace: bool = False,
    ) -> Outcome:
        """``check`` for async adapters: a cache hit stays on the event loop, a miss (and
        anything that may block, such as OCSP or a shared replay store) runs in a thread."""
        request = _context(request)
        if self.may_block:
            return await asyncio.to_thread(
                self.check, request, required=required, rules=rules, trace=trace
            )
        state = State(request, Report() if trace else NO_TRACE, self._now())
        if not self._run(state, 0, _INLINE):
            await asyncio.to_thread(self._run, state, _INLINE, len(self._stages))
        return self._settle(state, required, gates_of(rules))

    def require(
        self,
        identity: ClientIdentity | None,
        request: RequestContext,
        *,
        rules: Rules | None = None,
        token_claims: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """A view's own requirement on an already verified request (a decorator, a mixin, a
        DRF permission): anonymous → ``missing_certificate``, a rule miss → ``rule_denied``,
        and with ``token_claims`` (a validated access token's claims) an RFC 8705 binding to
        this certificate (``token_not_bound``, ``token_binding_mismatch``); enforced under
        the mode, logged and counted here like any refusal."""
        state = State(request, NO_TRACE, self._now())
        state.identity = identity
        state.via = "anonymous" if identity is None else "gate"
        gates = gates_of(rules)
        if token_claims is not None:
            claims = token_claims
            gates.append(lambda client: check_token_binding(claims, client))
        return self._settle(state, True, gates)

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
        """The verified client, or ``None`` (anonymous, or refused but not enforced in
        report-only mode). Raises ``VerificationError`` for an enforced refusal.

        ``headers``: a ``Headers`` view (``from_pairs``/``from_mapping``/``from_environ``),
        a header mapping, or raw field lines — never a WSGI environ (use ``from_environ``).
        """
        request = RequestContext(as_headers(headers), peer, method, target, scheme, authority)
        return self.check(request).raise_for_refusal()

    def explain(
        self, headers: HeaderInput, peer: str | None = None, **request: str | None
    ) -> Report:
        """Run the same path as ``check`` and return its step-by-step account."""
        context = RequestContext(as_headers(headers), peer, **request)
        report = self.check(context, trace=True).report
        assert report is not None
        return report

    def reload_trust(self) -> None:
        """Re-read the anchors now (the watcher does it when the files change); raises
        ``ConfigurationError`` and keeps the old anchors when the new files are broken."""
        if self.trust is not None:
            self.trust.reload()
            self._trust_reloaded()

    def _trust_reloaded(self) -> None:
        assert self.trust is not None
        snapshot = self.trust.snapshot
        log.warning(
            "originverify: trust anchors reloaded: %d anchor(s), %d extra intermediate(s), "
            "digest %s",
            len(snapshot.anchors),
            len(snapshot.extra_intermediates),
            snapshot.digest.hex()[:16],
        )
        if self.cache is not None:
            self.cache.clear()  # keys bind the old digest: no entry can be found anyway
        if self.subpaths is not None:
            self.subpaths.clear()

    # -- running and settling --------------------------------------------------------------

    def _run(self, state: State, start: int, stop: int) -> bool:
        """Stages ``start:stop`` inside the exception boundary; True once decided."""
        try:
            for name, stage in self._stages[start:stop]:
                state.stage = name
                stage(state)
                if state.done:
                    return True
            return False
        except VerificationError as exc:
            state.error = exc
        except Exception as exc:  # the exception boundary: hostile bytes never cause a 500
            state.error = self._unexpected(state.stage, exc)
        state.done = True
        return True

    def _unexpected(self, stage: str, exc: Exception) -> VerificationError:
        log.warning(
            "originverify: unexpected %s in stage %s; refusing the request",
            type(exc).__name__,
            stage,
            exc_info=True,
        )
        reason = _UNEXPECTED.get(stage, Reason.MALFORMED_CERTIFICATE)
        return VerificationError(reason, f"{stage}: {type(exc).__name__}: {clean(exc, 200)}")

    def _settle(self, state: State, required: bool | None, gates: list[Gate]) -> Outcome:
        """Apply the requirement and a view's gates, decide enforcement, log and count."""
        if state.error is None:
            if state.identity is None:
                if self.mode.requires_certificate if required is None else required:
                    state.error = VerificationError(
                        Reason.MISSING_CERTIFICATE, "no client certificate"
                    )
            elif gates:
                state.stage = "rules"
                self._run_gates(state, gates)
        outcome = Outcome(
            identity=state.identity if state.error is None else None,
            error=state.error,
            enforced=state.error is not None and self.mode.enforces,
            via="refused" if state.error is not None else state.via,
            elapsed=time.perf_counter() - state.started,
            leaf_sha256=leaf_sha256(state) if state.error is not None else None,
            report=state.trace if isinstance(state.trace, Report) else None,
        )
        self._record(outcome, state)
        return outcome

    def _run_gates(self, state: State, gates: list[Gate]) -> None:
        assert state.identity is not None
        try:
            for gate in gates:
                gate(state.identity)
        except VerificationError as exc:
            state.error = exc
        except Exception as exc:
            state.error = self._unexpected("rules", exc)

    def _record(self, outcome: Outcome, state: State) -> None:
        report = outcome.report
        if report is not None:
            report.identity, report.error = outcome.identity, outcome.error
            if outcome.error is not None:
                report.add(
                    "verdict", False, f"{outcome.error.reason.value}: {outcome.error.detail}"
                )
            elif outcome.identity is None:
                report.add("verdict", True, f"anonymous request ({self.mode.value} mode)")
        error = outcome.error
        if error is None:
            self._count("verified" if outcome.identity is not None else "anonymous")
        else:
            self._count(("rejected:" if outcome.enforced else "would_reject:") + error.reason)
        log_outcome(outcome, state.request)
        for observer in self.config.observers:
            try:
                observer(outcome)
            except Exception:
                log.exception("originverify: observer %r failed", observer)

    def _count(self, outcome: str) -> None:
        with self._stats_lock:
            self.stats[outcome] += 1

    # -- the stages, in STAGES order -------------------------------------------------------

    def _admit(self, state: State) -> None:
        proof = self.source.check(state.request)
        state.trace.step("source proof", str, proof)

    def _guard_names(self, state: State) -> None:
        aliased = state.request.headers.underscored_names() & self._guarded
        if aliased:
            raise VerificationError(
                Reason.AMBIGUOUS_HEADER_NAME,
                f"underscore spelling of {', '.join(sorted(aliased))} sent; refusing to guess",
            )

    def _cached(self, state: State) -> None:
        if self.cache is None:
            return
        state.key = self._cache_key(state.request)
        hit = self.cache.get(state.key, state.now)
        if hit is None:
            return
        identity, generation, _ = hit
        revocation = self.revocation
        if revocation is not None and generation != revocation.generation:
            # Validated under older revocation data: verify again, in full (and, in async
            # adapters, off the event loop: a revocation check may wait on the network).
            self.cache.discard(state.key)
            return
        state.stage = "rules"
        self.rules.check_predicate(identity)  # patterns are fixed; a predicate may change
        state.identity, state.via, state.done = identity, "cache", True
        state.trace.step("cache", str, "hit: identical headers verified before")

    def _cache_key(self, request: RequestContext) -> bytes:
        """SHA-256 of every value of every certificate header (length-prefixed, so no two
        header sets encode alike) and of the exact anchor set in force."""
        parts: list[str] = []
        for values in values_of(request.headers, self._cert_headers):
            parts.append(str(len(values)))
            for value in values:
                parts.append(str(len(value)))
                parts.append(value)
        digest = hashlib.sha256(self._cache_salt)
        digest.update("\x00".join(parts).encode("utf-8", "surrogatepass"))
        if self.trust is not None:
            digest.update(self.trust.snapshot.digest)
        return digest.digest()

    def _decode(self, state: State) -> None:
        forwarded = self.format.decode(state.request.headers, self.limits)
        state.forwarded = forwarded
        state.trace.step("decode", describe_forwarded, self.format, forwarded)
        if forwarded.leaf is None:
            # A metadata-only format (the edge never sends the certificate) cannot prove an
            # identity: with or without a presented certificate, the request is anonymous.
            if forwarded.claims.present and self.format.forwards_certificate:
                raise VerificationError(
                    Reason.EDGE_MISMATCH, "edge says a certificate was presented, none forwarded"
                )
            state.done = True

    def _parse(self, state: State) -> None:
        assert state.forwarded is not None
        state.leaf, state.chain = parse_forwarded(state.forwarded, self.interned)
        state.trace.presented_certificates([state.leaf, *state.chain])

    def _cross_check(self, state: State) -> None:
        assert state.forwarded is not None and state.leaf is not None
        described = cross_check(state.forwarded, state.leaf)
        if described:
            state.trace.step("edge claims", str, described)

    def _key_and_validity(self, state: State) -> None:
        """The leaf profile every engine shares (chain/leaf.py): key caps before any
        signature work, no CA or signing usage on the leaf, validity to the microsecond."""
        forwarded, leaf = state.forwarded, state.leaf
        assert forwarded is not None and forwarded.leaf is not None and leaf is not None
        now = self._validation_time(state.now)
        state.at = check_presented(
            leaf, state.chain, forwarded.leaf, forwarded.chain, self.policy, now
        )
        state.trace.step("key and validity", _VALID_AT.format, now)

    def _chain(self, state: State) -> None:
        forwarded, leaf = state.forwarded, state.leaf
        assert forwarded is not None and forwarded.leaf is not None and leaf is not None
        if self.engine is None or self.trust is None:
            state.path = edge_verdict_path(self.format, forwarded, leaf)
            state.via = "edge_verdict"
            state.trace.step("chain", str, "not re-validated: edge's verdict trusted (opt-in)")
            return
        snapshot, subpaths, probe = self.trust.snapshot, self.subpaths, None
        if subpaths is not None:
            probe = subpaths.probe(forwarded.leaf, forwarded.chain, snapshot.digest)
            path = subpaths.check(probe, leaf, forwarded.leaf, snapshot, state.at)
            if path is not None:
                state.path, state.via = path, "fast"
                state.trace.validated_path(path)
                state.trace.step("chain", _FAST.format, len(path))
                return
        state.path = self.engine.validate(leaf, state.chain, state.at, snapshot)
        intern_validated(self.interned, forwarded, state.chain, state.path)
        if subpaths is not None and probe is not None:
            subpaths.learn(probe, forwarded.chain, state.path, snapshot)
        state.via = "chain"
        state.trace.validated_path(state.path)
        state.trace.step("chain", _PATH_FOUND.format, self.engine.name, len(state.path))

    def _revocation(self, state: State) -> None:
        if self.revocation is None:
            return
        if len(state.path) == 1 and self.trust and state.path[0] in self.trust.snapshot.anchors:
            # The leaf is itself a configured anchor (compared as DER, never by name).
            state.trace.step("revocation", str, "leaf is a configured anchor: nothing to check")
            return
        state.revocation_generation = self.revocation.generation
        status = self.revocation.check(state.path, state.at)
        state.cache_for = getattr(status, "cache_for", None)
        state.trace.step("revocation", str, status)

    def _identity(self, state: State) -> None:
        forwarded, leaf = state.forwarded, state.leaf
        assert forwarded is not None and leaf is not None
        state.identity = ClientIdentity(
            leaf,
            tuple(state.path[1:]),
            self._checks,
            leaf_der=forwarded.leaf,
            edge_verified=self.engine is None,
            claims=forwarded.claims,
        )

    def _rules(self, state: State) -> None:
        assert state.identity is not None
        self.rules.check(state.identity)
        if not self.rules.empty:
            state.trace.step("rules", str, "allowed")

    def _remember(self, state: State) -> None:
        if self.cache is None or state.key is None or state.identity is None:
            return
        not_after = min(c.not_valid_after_utc for c in state.path).timestamp()
        self.cache.put(
            state.key,
            state.identity,
            not_after,
            state.now,
            state.revocation_generation,
            state.cache_for,
            len(state.forwarded.leaf or b"") if state.forwarded is not None else 0,
        )

    # -- helpers ---------------------------------------------------------------------------

    def _now(self) -> float:
        fixed = self.policy.validation_time
        return fixed.timestamp() if fixed is not None else time.time()

    def _validation_time(self, now_ts: float) -> datetime:
        # Exact (microseconds kept): chain.clock hands engines whole seconds and judges
        # the path's validity against this instant.
        fixed = self.policy.validation_time
        if fixed is not None:
            return fixed
        return datetime.fromtimestamp(now_ts, UTC)


def _context(request: RequestContext | HeaderInput) -> RequestContext:
    """A ``RequestContext`` as is; headers alone become one (no peer, no request line)."""
    if isinstance(request, RequestContext):
        return request
    return RequestContext(as_headers(request))
