"""The OCSP client: answers from a bounded cache, fetched by daemon threads with a total
deadline, refreshed in the background before they expire.

A request never performs the network exchange itself: it finds a current cached answer
(the common case once a certificate has been seen: answers are re-fetched in the background
once 80% of their validity has passed), or starts a background fetch and waits for it at
most ``wait`` seconds in total. A responder that failed or did not answer in time is skipped
for ``backoff`` seconds. The fetch threads are daemon threads: they never delay process exit,
and ``close()`` wakes every waiting request at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from .certinfo import key_hash, ocsp_urls
from .fetch import Fetcher
from .ocsp_response import OCSPError, cert_id, check_ocsp_response

log = logging.getLogger("originverify")

Status = Literal["good", "revoked", "unknown"]
#: (issuer name DER, SHA-1 of the issuer's key, serial): exactly what a CertID names.
Key = tuple[bytes, bytes, int]


@dataclass(frozen=True, slots=True)
class OCSPAnswer:
    status: Status
    detail: str
    this_update: datetime
    next_update: datetime
    refresh_at: float  # wall clock: re-fetch in the background from then on


class _Job:
    """One background fetch; requests wait on ``done``."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: OCSPAnswer | None = None
        self.error = "cancelled"


class OCSPClient:
    def __init__(
        self,
        fetch: Fetcher,
        *,
        fetch_timeout: float,
        wait: float,
        backoff: float,
        skew: timedelta,
        max_entries: int = 10_000,
        max_inflight: int = 32,
    ) -> None:
        self._fetch = fetch
        self.fetch_timeout = fetch_timeout
        self.wait = wait
        self.backoff = backoff
        self.skew = skew
        self.max_entries = max_entries
        self.max_inflight = max_inflight
        self.refresh_fraction = 0.8  # of an answer's remaining validity, then re-fetch
        self._cache: OrderedDict[Key, OCSPAnswer] = OrderedDict()
        self._inflight: dict[Key, _Job] = {}
        self._down: dict[str, float] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.on_answer: Callable[[float], None] | None = None  # gets each new answer's expiry

    @staticmethod
    def key(cert: x509.Certificate, issuer: x509.Certificate) -> Key:
        return (issuer.subject.public_bytes(), key_hash(issuer), cert.serial_number)

    def status(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime
    ) -> tuple[Status, str, float | None]:
        """``(status, detail, seconds until a retry makes sense or None)``."""
        urls = ocsp_urls(cert)
        if not urls:
            return "unknown", "no OCSP responder in the certificate", None
        url, key, now = urls[0], self.key(cert, issuer), time.time()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached.this_update - self.skew <= at < cached.next_update:
                self._cache.move_to_end(key)
                if now >= cached.refresh_at:
                    self._start(url, key, cert, issuer, at)  # refresh; serve the current one
                return cached.status, f"{cached.detail}, cached", None
            down_until = self._down.get(url, 0.0)
            if now < down_until:
                return "unknown", f"responder {url} failed or timed out recently", down_until - now
            job = self._start(url, key, cert, issuer, at)
        if job is None:
            return "unknown", "too many OCSP queries in flight", self.backoff
        if not job.done.wait(self.wait):
            with self._lock:
                self._down[url] = max(self._down.get(url, 0.0), now + self.backoff)
            return "unknown", f"responder {url} did not answer within {self.wait:g}s", self.backoff
        if job.answer is None:
            return "unknown", f"{url}: {job.error}", self.backoff
        return job.answer.status, job.answer.detail, None

    def _start(
        self, url: str, key: Key, cert: x509.Certificate, issuer: x509.Certificate, at: datetime
    ) -> _Job | None:
        """The in-flight job for ``key``, started if needed (call with the lock held)."""
        job = self._inflight.get(key)
        if job is not None:
            return job
        if self._closed or len(self._inflight) >= self.max_inflight:
            return None
        job = self._inflight[key] = _Job()
        threading.Thread(
            target=self._run,
            args=(job, url, key, cert, issuer, at),
            name="originverify-ocsp",
            daemon=True,
        ).start()
        return job

    def _run(
        self,
        job: _Job,
        url: str,
        key: Key,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: datetime,
    ) -> None:
        try:
            job.answer = self._exchange(url, cert, issuer, at)
        except Exception as exc:  # an OCSPError, or anything unexpected: no answer
            job.error = str(exc) if isinstance(exc, OCSPError) else f"{type(exc).__name__}: {exc}"
            log.warning(
                "originverify: OCSP %s for serial %x: %s", url, cert.serial_number, job.error
            )
        with self._lock:
            self._inflight.pop(key, None)
            if job.answer is None:
                self._down[url] = time.time() + self.backoff
            else:
                self._down.pop(url, None)
                self._cache[key] = job.answer
                self._cache.move_to_end(key)
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        job.done.set()
        if job.answer is not None and self.on_answer is not None:
            self.on_answer(job.answer.next_update.timestamp())

    def _exchange(
        self, url: str, cert: x509.Certificate, issuer: x509.Certificate, at: datetime
    ) -> OCSPAnswer:
        request = cert_id(cert, issuer, hashes.SHA1())  # noqa: S303 - CertID per RFC 5019
        try:
            der = self._fetch(
                url,
                request.public_bytes(Encoding.DER),
                "application/ocsp-request",
                self.fetch_timeout,
                1 << 20,
            )
        except OSError as exc:
            raise OCSPError(f"fetch failed: {exc}") from None
        status, this_update, next_update, signer = check_ocsp_response(
            der, cert, issuer, at, self.skew
        )
        this_update = this_update or at
        if next_update is None:  # "newer information is always available": keep briefly
            next_update = max(this_update, at) + timedelta(seconds=60)
        now = time.time()
        refresh_at = now + self.refresh_fraction * max(0.0, next_update.timestamp() - now)
        return OCSPAnswer(
            status,
            f"{status} from {url}, signed by the {signer}, nextUpdate "
            f"{next_update:%Y-%m-%dT%H:%M:%SZ}",
            this_update,
            next_update,
            refresh_at,
        )

    def next_expiry(self, now: float) -> float:
        with self._lock:
            return min(
                (
                    a.next_update.timestamp()
                    for a in self._cache.values()
                    if a.next_update.timestamp() > now
                ),
                default=float("inf"),
            )

    def close(self) -> None:
        """Wake every waiting request (they get "unknown"); fetches in flight are abandoned
        (daemon threads, bounded by their own deadline)."""
        with self._lock:
            self._closed = True
            jobs = list(self._inflight.values())
        for job in jobs:
            job.done.set()

    def reopen(self) -> None:
        with self._lock:
            self._closed = False
