"""Where CRLs come from (files, directories, URLs, objects) and how each stays current.

Every file or URL source has **its own daemon thread**: a slow or hung server delays only its
own source (each fetch also has a total deadline, see ``fetch.py``), never another CA's CRL,
and no refresher thread ever holds up process exit. A source is fetched again before the
``nextUpdate`` of what it holds (after 80% of the time left, at most ``refresh_interval``, at
least ``min_refresh_interval`` apart, jittered earlier), and after a failure with exponential
backoff and jitter; until a fetch succeeds it keeps what it had.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from ..errors import ConfigurationError
from .crl import CRLError, LoadedCRL, load_crls
from .fetch import Fetcher

log = logging.getLogger("originverify")

_CRL_SUFFIXES = {".crl", ".pem", ".der"}


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Timing:
    fetch_timeout: float = 15.0  # total deadline of one fetch
    refresh_interval: float = 3600.0
    min_refresh_interval: float = 30.0
    max_retries: int = 5
    retry_delay: float = 5.0
    retry_max_delay: float = 300.0
    max_crl_bytes: int = 64 << 20


@dataclass(eq=False)
class Source:
    """Somewhere CRLs come from, and when to look again."""

    label: str
    kind: Literal["file", "url", "static"]
    path: Path | None = None
    learned: bool = False  # a distribution point seen in a certificate
    crls: tuple[LoadedCRL, ...] = ()
    due: float = 0.0
    failures: int = 0
    stamp: tuple[tuple[str, int, int], ...] | None = None  # (name, mtime_ns, size) per file
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)


class Refresher:
    """The sources and their threads; calls ``install()`` whenever any source's CRLs change."""

    def __init__(self, fetch: Fetcher, timing: Timing, install: Callable[[], None]) -> None:
        self._fetch = fetch
        self.timing = timing
        self._install = install
        self.sources: dict[str, Source] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.running = False

    def add(self, source: Source) -> bool:
        with self._lock:
            if source.label in self.sources:
                return False
            self.sources[source.label] = source
            if self.running and source.kind != "static":
                self._spawn(source)
        return True

    def crls(self) -> list[LoadedCRL]:
        return [crl for source in list(self.sources.values()) for crl in source.crls]

    # -- one source -----------------------------------------------------------------------

    def _read(self, source: Source) -> list[LoadedCRL] | None:
        """The CRLs a source holds now, or ``None`` when a file is unchanged."""
        if source.kind == "url":
            t = self.timing
            data = self._fetch(source.label, None, None, t.fetch_timeout, t.max_crl_bytes)
            return load_crls(data, source.label)
        assert source.path is not None
        path = source.path
        files = (
            sorted(p for p in path.iterdir() if p.suffix.lower() in _CRL_SUFFIXES)
            if path.is_dir()
            else [path]
        )
        stamp = tuple((str(f), (st := f.stat()).st_mtime_ns, st.st_size) for f in files)
        if stamp == source.stamp:
            return None
        loaded = [crl for f in files for crl in load_crls(f.read_bytes(), str(f))]
        source.stamp = stamp
        return loaded

    def refresh_source(self, source: Source, initial: bool = False) -> bool:
        """Load one source; on failure keep what it had and schedule a retry."""
        with source.lock:
            now = time.time()
            try:
                loaded = self._read(source)
            except (OSError, CRLError) as exc:
                source.failures += 1
                source.last_error = str(exc)
                if initial and source.kind == "file":
                    raise ConfigurationError(f"CRL source {source.label}: {exc}") from None
                source.due = now + self._retry_delay(source)
                log.warning(
                    "originverify: CRL refresh failed for %s (attempt %d): %s; next try %s",
                    source.label,
                    source.failures,
                    exc,
                    utc(source.due),
                )
                return False
            source.failures, source.last_error = 0, None
            if loaded is None:  # unchanged file
                source.due = now + self._refresh_delay(source.crls, now)
                return False
            kept = keep_newest(source.crls, loaded)
            changed = kept != source.crls
            source.crls = kept
            source.due = now + self._refresh_delay(kept, now)
        if changed:
            log.info(
                "originverify: CRLs from %s: %s",
                source.label,
                ", ".join(
                    f"{c.entries} entries until {utc(c.next_update.timestamp())}" for c in kept
                )
                or "none",
            )
        return changed

    def _refresh_delay(self, crls: Sequence[LoadedCRL], now: float) -> float:
        t = self.timing
        delay = t.refresh_interval
        for crl in crls:
            left = crl.next_update.timestamp() - now
            delay = min(delay, max(t.min_refresh_interval, left * 0.8))
        return delay * random.uniform(0.85, 1.0)  # noqa: S311 - jitter, not crypto

    def _retry_delay(self, source: Source) -> float:
        """Exponential backoff with jitter; one attempt per ``retry_max_delay`` after
        ``max_retries`` consecutive failures, so a dead server is never hammered."""
        t = self.timing
        if source.failures > t.max_retries:
            return t.retry_max_delay * random.uniform(0.9, 1.0)  # noqa: S311 - jitter
        base = min(t.retry_delay * 2.0 ** (source.failures - 1), t.retry_max_delay)
        return base * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto

    # -- all sources ----------------------------------------------------------------------

    def refresh_all(self, sources: Sequence[Source] | None = None, initial: bool = False) -> bool:
        """Refresh ``sources`` (default: all) now, URLs in parallel, each within its own
        deadline; files first, in the caller's thread (a bad file raises at start-up)."""
        todo = [s for s in (sources or list(self.sources.values())) if s.kind != "static"]
        changed = False
        for source in todo:
            if source.kind == "file":
                changed |= self.refresh_source(source, initial)
        results: dict[str, bool] = {}

        def one(source: Source) -> None:
            try:
                results[source.label] = self.refresh_source(source)
            except Exception:
                log.exception("originverify: CRL refresh error on %s", source.label)

        threads = [
            threading.Thread(target=one, args=(s,), name="originverify-crl-fetch", daemon=True)
            for s in todo
            if s.kind == "url"
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self.timing.fetch_timeout + 1.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        changed |= any(results.values())
        if changed:
            self._install()
        return changed

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            self._stop = threading.Event()  # threads of a previous run keep their own
            self.running = True
            for source in self.sources.values():
                if source.kind != "static":
                    self._spawn(source)

    def _spawn(self, source: Source) -> None:
        if source.thread is not None and source.thread.is_alive():
            return
        source.thread = threading.Thread(
            target=self._loop,
            args=(source, self._stop),
            name="originverify-crl-refresher",
            daemon=True,
        )
        source.thread.start()

    def _loop(self, source: Source, stop: threading.Event) -> None:
        while not stop.wait(max(0.05, source.due - time.time())):
            try:
                if self.refresh_source(source):
                    self._install()
            except Exception:  # never let a refresher die
                log.exception("originverify: CRL refresher error on %s", source.label)
                source.due = time.time() + self.timing.min_refresh_interval

    def stop(self, wait: float = 0.5) -> None:
        """Stop every thread; waits at most ``wait`` seconds in total (a thread stuck in a
        fetch is a daemon bounded by its own deadline, and is left behind)."""
        with self._lock:
            self._stop.set()
            self.running = False
            threads = [s.thread for s in self.sources.values() if s.thread is not None]
        deadline = time.monotonic() + wait
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        for source in self.sources.values():
            source.thread = None


def keep_newest(
    current: tuple[LoadedCRL, ...], loaded: Sequence[LoadedCRL]
) -> tuple[LoadedCRL, ...]:
    """The freshly read CRLs, except where we already hold a newer one of the same issuer,
    key and scope (a stale mirror must not roll revocations back)."""
    out: list[LoadedCRL] = []
    for crl in loaded:
        old = next(
            (
                c
                for c in current
                if c.same_scope(crl) and c.key_id == crl.key_id and c.is_delta == crl.is_delta
            ),
            None,
        )
        if old is not None and old.newer_than(crl):
            log.warning(
                "originverify: %s served an older CRL than the one loaded; keeping the newer",
                crl.source,
            )
            out.append(old)
        elif old is not None and old.crl == crl.crl:
            out.append(old)  # identical: keep the object (and its signature cache)
        else:
            out.append(crl)
    return tuple(out)
