"""``Revocation``: the entry point the ``Verifier`` calls after chain validation.

CRLs are loaded at start-up and refreshed by one daemon thread per source
(``refresher.py``); a request evaluates RFC 5280 §6.3.3 against the current index
(``evaluate.py``: dictionary and set lookups, signatures checked once per CRL and signer).
OCSP (opt-in) is asked only when no CRL answers (``ocsp.py``). ``mode="hard"`` refuses any
certificate whose status is not established (``revocation_unknown``); ``mode="soft"`` lets it
through with ``cache_for=0`` so that the verdict is never cached. ``revoked`` is refused in
both modes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

from ..config import parse_flag
from ..errors import ConfigurationError, Reason, VerificationError
from .certinfo import fetchable_uris
from .crl import CRLError, load_crls, parse_crl
from .evaluate import CRLIndex, Evaluator
from .fetch import Fetcher, http_fetch
from .issuers import SignerStore
from .ocsp import OCSPClient
from .refresher import Refresher, Source, Timing, utc
from .status import RevocationStatus

log = logging.getLogger("originverify")

Mode = Literal["soft", "hard"]
Scope = Literal["leaf", "chain"]
MODES: tuple[Mode, ...] = ("soft", "hard")
SCOPES: tuple[Scope, ...] = ("leaf", "chain")
CRLInput = str | Path | bytes | x509.CertificateRevocationList
CertInput = str | Path | bytes | x509.Certificate
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def load_certificates(items: CertInput | Iterable[CertInput]) -> list[x509.Certificate]:
    """Certificates from objects, PEM/DER bytes or files; raises ``ConfigurationError``."""
    if isinstance(items, str | Path | bytes | x509.Certificate):
        items = [items]
    out: list[x509.Certificate] = []
    for item in items:
        if isinstance(item, x509.Certificate):
            out.append(item)
            continue
        label = "<bytes>" if isinstance(item, bytes) else str(item)
        try:
            data = item if isinstance(item, bytes) else Path(item).read_bytes()
            if b"-----BEGIN" in data:
                found = [x509.load_pem_x509_certificate(b) for b in _PEM_CERT.findall(data)]
            else:
                found = [x509.load_der_x509_certificate(data)]
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"CRL signer certificate {label}: {exc}") from None
        if not found:
            raise ConfigurationError(f"CRL signer certificate {label}: no certificate in it")
        out += found
    return out


class Revocation:
    """Implements ``RevocationChecker``: pass it as ``Verifier(revocation=...)``.

    * ``crls``: CRL files, directories (``.crl``/``.pem``/``.der``), bytes or objects,
      complete and delta CRLs; ``crl_urls``: http(s) URLs; ``distribution_points``: also
      fetch (in the background) the CRL and freshest-CRL distribution points of validated
      certificates. ``crl_signers``: certificates that may sign CRLs besides the issuer in
      the path (a CA's new certificate after a key rollover, a dedicated CRL signer), each
      validated up to the same anchor.
    * ``mode``: ``hard`` refuses an unknown status (``revocation_unknown``), ``soft`` lets it
      through (never cached); ``scope``: ``leaf`` or ``chain`` (all but the anchor).
    * ``ocsp``: ask the AIA responder when no CRL answers; a request waits at most
      ``ocsp_timeout`` seconds in total; a failed responder is skipped for ``ocsp_backoff``.
    * ``fetch_timeout``: the total deadline of any one background fetch.
    """

    def __init__(
        self,
        *,
        crls: CRLInput | Iterable[CRLInput] = (),
        crl_urls: Iterable[str] = (),
        crl_signers: CertInput | Iterable[CertInput] = (),
        distribution_points: bool = False,
        ocsp: bool = False,
        mode: Mode = "hard",
        scope: Scope = "leaf",
        ocsp_timeout: float = 2.0,
        ocsp_backoff: float = 30.0,
        fetch_timeout: float = 15.0,
        refresh_interval: float = 3600.0,
        min_refresh_interval: float = 30.0,
        max_retries: int = 5,
        retry_delay: float = 5.0,
        retry_max_delay: float = 300.0,
        max_crl_bytes: int = 64 << 20,
        max_distribution_points: int = 64,
        clock_skew: timedelta | float = 300.0,
        fetcher: Fetcher = http_fetch,
    ) -> None:
        self.timing = Timing(
            fetch_timeout,
            refresh_interval,
            min_refresh_interval,
            max_retries,
            retry_delay,
            retry_max_delay,
            max_crl_bytes,
        )
        _check_options(mode, scope, ocsp_timeout, self.timing)
        self.mode: Mode = mode
        self.scope: Scope = scope
        self.ocsp, self.distribution_points = ocsp, distribution_points
        self.max_distribution_points = max_distribution_points
        self.clock_skew = (
            clock_skew if isinstance(clock_skew, timedelta) else timedelta(seconds=clock_skew)
        )
        self.signers = SignerStore(load_certificates(crl_signers))
        self._lock = threading.RLock()
        self._generation = 0
        self._deadline = float("inf")  # when the next CRL / OCSP answer expires
        self._evaluator = Evaluator(CRLIndex(), self.signers, self.clock_skew, scope == "chain")
        self._refresher = Refresher(fetcher, self.timing, _weak_call(self._install))
        self._ocsp = OCSPClient(
            fetcher,
            fetch_timeout=fetch_timeout,
            wait=ocsp_timeout,
            backoff=ocsp_backoff,
            skew=self.clock_skew,
        )
        self._ocsp.on_answer = _weak_call(self._answered)
        # Dropped without close(): the refresher threads stop with their owner (they hold
        # it only weakly), instead of polling CRLs for the life of the process.
        weakref.finalize(self, _shut_down, self._refresher, self._ocsp)
        self._add_sources(crls, crl_urls)
        self._refresher.refresh_all(initial=True)
        self._install()

    # -- configuration --------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Revocation | None:
        """A started ``Revocation`` from plain settings, or ``None`` when ``revocation`` is
        ``off`` (the default). Keys: ``revocation`` (off|soft|hard), ``revocation_scope``,
        ``crl_files``, ``crl_urls``, ``crl_signers``, ``crl_distribution_points``, ``ocsp``,
        ``ocsp_timeout``, ``crl_refresh_interval``."""
        mode = str(settings.get("revocation", "off") or "off").lower()
        if mode == "off":
            return None
        if mode not in MODES:
            raise ConfigurationError(f"revocation must be 'off', 'soft' or 'hard', not {mode!r}")
        files = settings.get("crl_files") or ()
        urls = settings.get("crl_urls") or ()
        checker = cls(
            crls=[files] if isinstance(files, str | Path) else files,
            crl_urls=[urls] if isinstance(urls, str) else urls,
            crl_signers=settings.get("crl_signers") or (),
            distribution_points=parse_flag(
                settings.get("crl_distribution_points", False), "crl_distribution_points"
            ),
            ocsp=parse_flag(settings.get("ocsp", False), "ocsp"),
            mode=mode,
            scope=settings.get("revocation_scope", "leaf"),
            ocsp_timeout=float(settings.get("ocsp_timeout", 2.0)),
            refresh_interval=float(settings.get("crl_refresh_interval", 3600.0)),
        )
        if not (checker._refresher.sources or checker.ocsp or checker.distribution_points):
            raise ConfigurationError(
                "revocation is on but no source is configured: set crl_files, crl_urls, "
                "crl_distribution_points or ocsp"
            )
        return checker.start()

    def _add_sources(self, crls: CRLInput | Iterable[CRLInput], urls: Iterable[str]) -> None:
        items: Iterable[CRLInput] = (
            [crls]
            if isinstance(crls, str | Path | bytes | x509.CertificateRevocationList)
            else crls
        )
        for item in items:
            self._add_local(item)
        for url in [urls] if isinstance(urls, str) else urls:
            if not url.lower().startswith(("http://", "https://")):
                raise ConfigurationError(f"CRL URL must be http(s): {url!r}")
            self._refresher.add(Source(url, "url"))

    def _add_local(self, item: CRLInput) -> None:
        label = f"<CRL #{len(self._refresher.sources)}>"
        try:
            if isinstance(item, x509.CertificateRevocationList):
                loaded = [parse_crl(item, label)]
            elif isinstance(item, bytes):
                loaded = load_crls(item, label)
            else:
                path = Path(item)
                if not path.exists():
                    raise ConfigurationError(f"CRL source {path} does not exist")
                self._refresher.add(Source(str(path), "file", path=path))
                return
        except CRLError as exc:
            raise ConfigurationError(str(exc)) from None
        self._refresher.add(Source(label, "static", crls=tuple(loaded)))

    # -- RevocationChecker ----------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Changes when CRLs are installed or any loaded revocation data expires."""
        if time.time() >= self._deadline:
            with self._lock:
                now = time.time()
                if now >= self._deadline:
                    self._generation += 1
                    self._deadline = self._next_deadline(now)
        return self._generation

    @property
    def may_block(self) -> bool:
        """``check()`` may wait (at most ``ocsp_timeout``) for an OCSP answer: async adapters
        should call it from a worker thread. CRL-only checking never waits."""
        return self.ocsp

    def check(self, path: Sequence[x509.Certificate], at: datetime) -> RevocationStatus:
        """Status of the leaf (or every non-anchor certificate) of a validated path.

        Raises ``VerificationError``: ``revoked``, or ``revocation_unknown`` in hard mode.
        """
        if len(path) < 2:  # no issuer to look up (an anchor leaf is skipped by the verifier)
            return RevocationStatus(*self._unknown("leaf", "its issuer is not in the path"))
        last = len(path) - 1 if self.scope == "chain" else 1
        details: list[str] = []
        cache_for: float | None = None
        for index in range(last):
            role = "leaf" if index == 0 else f"chain[{index - 1}]"
            detail, bound = self._check_one(role, path, index, at)
            details.append(detail)
            if bound is not None:
                cache_for = bound if cache_for is None else min(cache_for, bound)
        return RevocationStatus("; ".join(details), cache_for)

    def _check_one(
        self, role: str, path: Sequence[x509.Certificate], index: int, at: datetime
    ) -> tuple[str, float | None]:
        cert = path[index]
        if self.distribution_points:
            self._learn(fetchable_uris(cert))
        try:
            status, detail = self._evaluator.status(path, index, at)
        except Exception as exc:  # a bug must not become a 500, nor a "good"
            log.exception("originverify: CRL evaluation failed for %s", role)
            status, detail = "unknown", f"CRL evaluation failed ({type(exc).__name__})"
        if status == "revoked":
            raise VerificationError(
                Reason.REVOKED,
                f"{role} {cert.subject.rfc4514_string()!r} serial {cert.serial_number:x} "
                f"listed in {detail}",
            )
        if status == "good":
            return f"{role}: good ({detail})", None
        if self.ocsp:
            ocsp_status, ocsp_detail, _retry = self._ocsp.status(cert, path[index + 1], at)
            if ocsp_status == "revoked":
                raise VerificationError(
                    Reason.REVOKED,
                    f"{role} {cert.subject.rfc4514_string()!r} serial {cert.serial_number:x} "
                    f"revoked per OCSP ({ocsp_detail})",
                )
            if ocsp_status == "good":
                return f"{role}: good (OCSP: {ocsp_detail})", None
            detail = f"{detail}; OCSP: {ocsp_detail}"
        return self._unknown(role, detail)

    def _unknown(self, role: str, detail: str) -> tuple[str, float]:
        if self.mode == "hard":
            raise VerificationError(Reason.REVOCATION_UNKNOWN, f"{role}: {detail}")
        log.debug("originverify: revocation status unknown (soft-fail) %s: %s", role, detail)
        return f"{role}: unknown, accepted (soft-fail: {detail})", 0.0

    # -- data -----------------------------------------------------------------------------

    def _install(self) -> None:
        """Swap in a new index built from every source; bump the generation."""
        with self._lock:
            index = CRLIndex.build(self._refresher.crls())
            self._evaluator = Evaluator(index, self.signers, self.clock_skew, self.scope == "chain")
            self._generation += 1
            self._deadline = self._next_deadline(time.time())

    def _answered(self, expires: float) -> None:
        with self._lock:
            self._deadline = min(self._deadline, expires)

    def _next_deadline(self, now: float) -> float:
        expiries = [c.next_update.timestamp() for c in self._evaluator.index.all()]
        deadline = min((e for e in expiries if e > now), default=float("inf"))
        return min(deadline, self._ocsp.next_expiry(now))

    def _learn(self, uris: frozenset[str]) -> None:
        """Queue distribution points seen in validated certificates for the refresher."""
        sources = self._refresher.sources
        if all(u in sources for u in uris):
            return
        with self._lock:
            learned = sum(1 for s in sources.values() if s.learned)
            for uri in sorted(uris):
                if uri in sources:
                    continue
                if learned >= self.max_distribution_points:
                    log.warning("originverify: too many CRL distribution points, ignoring %s", uri)
                    break
                self._refresher.add(Source(uri, "url", learned=True))
                learned += 1

    def add_distribution_points(self, certificates: Iterable[x509.Certificate]) -> int:
        """Fetch now (at start-up, off the request path) the CRLs that ``certificates``
        point to, e.g. your intermediates'. Returns how many new sources were added."""
        uris: set[str] = set()
        for cert in certificates:
            uris |= fetchable_uris(cert)
        new = [Source(u, "url", learned=True) for u in sorted(uris)]
        new = [s for s in new if self._refresher.add(s)]
        if new:
            self._refresher.refresh_all(new)
        return len(new)

    def refresh(self) -> bool:
        """Re-read every file and URL now (URLs in parallel); ``True`` if any CRL changed."""
        return self._refresher.refresh_all()

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._refresher.running

    def start(self) -> Revocation:
        """Start the refresher threads (daemon threads); idempotent. Returns ``self``."""
        self._ocsp.reopen()
        self._refresher.start()
        return self

    def close(self) -> None:
        """Stop refreshing and wake requests waiting on OCSP; returns promptly even while a
        fetch hangs (that daemon thread ends at its own deadline). Safe to call twice."""
        self._ocsp.close()
        self._refresher.stop(wait=0.2)

    def __enter__(self) -> Revocation:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def describe(self) -> list[dict[str, Any]]:
        """One row per source: what is loaded, until when, the last error."""
        return [
            {
                "source": s.label,
                "kind": s.kind,
                "learned": s.learned,
                "crls": [
                    {
                        "issuer": c.issuer.rfc4514_string(),
                        "number": c.number,
                        "delta_base": c.delta_base,
                        "entries": c.entries,
                        "this_update": c.this_update.isoformat(),
                        "next_update": c.next_update.isoformat(),
                    }
                    for c in s.crls
                ],
                "next_refresh": utc(s.due) if s.kind != "static" else None,
                "last_error": s.last_error,
            }
            for s in list(self._refresher.sources.values())
        ]


def _check_options(mode: str, scope: str, ocsp_timeout: float, t: Timing) -> None:
    if mode not in MODES:
        raise ConfigurationError(f"revocation mode must be one of {MODES}, not {mode!r}")
    if scope not in SCOPES:
        raise ConfigurationError(f"revocation scope must be one of {SCOPES}, not {scope!r}")
    if ocsp_timeout <= 0 or t.fetch_timeout <= 0:
        raise ConfigurationError("timeouts must be positive")
    if not 0 < t.min_refresh_interval <= t.refresh_interval:
        raise ConfigurationError("need 0 < min_refresh_interval <= refresh_interval")
    if t.max_retries < 0 or not 0 < t.retry_delay <= t.retry_max_delay:
        raise ConfigurationError("need max_retries >= 0 and 0 < retry_delay <= retry_max_delay")


def _weak_call(method: Callable[..., None]) -> Callable[..., None]:
    """``method`` without keeping its object alive (a refresher thread must not)."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> None:
        bound = ref()
        if bound is not None:
            bound(*args)

    return call


def _shut_down(refresher: Refresher, ocsp: OCSPClient) -> None:
    ocsp.close()
    refresher.stop(wait=0.2)
