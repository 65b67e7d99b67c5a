"""Rotation without restarts: files the verifier was built from are watched and reloaded.

Every worker of every host polls the files it was configured with (trust anchors, extra
intermediates, edge secret files, and anything else that registers a ``Reloadable``) on a
background daemon thread: one ``os.stat`` per file per interval, never on the request path.
A change (mtime, inode or size) triggers the owner's ``reload()``, which parses the new
files completely and swaps them in with one assignment, so a request sees the old
generation or the new one, never a mix. A broken or half-written file raises
``ConfigurationError`` in ``reload()``: the previous generation stays in force and the
reason is logged once (again only when the error changes). Works under gunicorn's
``--preload``: threads do not survive ``fork()``, so watchers restart in every child.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from .errors import ConfigurationError

log = logging.getLogger("originverify")

__all__ = ["Reloadable", "Watcher", "watch_files"]


class Reloadable(Protocol):
    """Something built from files that can re-read them atomically."""

    def watched_paths(self) -> list[Path]:
        """The files (and directories) whose change means "reload me"."""
        ...

    def reload(self) -> object:
        """Re-read everything; raise ``ConfigurationError`` and change nothing on failure."""
        ...


Signature = tuple[tuple[int, int, int] | None, ...]


def _signature(paths: Iterable[Path]) -> Signature:
    signature: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            signature.append(None)
            continue
        signature.append((st.st_mtime_ns, st.st_ino, st.st_size))
    return tuple(signature)


class _Entry:
    __slots__ = ("last_error", "name", "on_reload", "paths", "signature", "target")

    def __init__(self, name: str, target: Reloadable, on_reload: Callable[[], None] | None) -> None:
        self.name = name
        self.target = target
        self.on_reload = on_reload
        self.paths = target.watched_paths()
        self.signature = _signature(self.paths)
        self.last_error = ""


_WATCHERS: weakref.WeakSet[Watcher] = weakref.WeakSet()


class Watcher:
    """Polls registered ``Reloadable`` objects every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        if not interval > 0:
            raise ConfigurationError(f"watch interval must be positive seconds, not {interval!r}")
        self.interval = float(interval)
        self._entries: list[_Entry] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        _WATCHERS.add(self)

    def add(
        self, name: str, target: Reloadable, on_reload: Callable[[], None] | None = None
    ) -> None:
        """Watch ``target``'s files; ``on_reload`` runs after each successful reload."""
        entry = _Entry(name, target, on_reload)
        if entry.paths:
            with self._lock:
                self._entries.append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def start(self) -> None:
        if not self._entries or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="originverify-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def poll(self) -> None:
        """Check every file once (the thread calls this; tests may too)."""
        with self._lock:
            entries = list(self._entries)
        for entry in entries:
            signature = _signature(entry.paths)
            if signature != entry.signature:
                self._reload(entry, signature)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def _reload(self, entry: _Entry, signature: Signature) -> None:
        try:
            entry.target.reload()
        except Exception as exc:  # a broken file must never kill the watcher
            message = (
                f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, ConfigurationError)
                else str(exc)
            )
            if message != entry.last_error:
                log.error(
                    "originverify: reloading %s failed; the previous generation stays in force: %s",
                    entry.name,
                    message,
                )
                entry.last_error = message
            return
        entry.signature = signature
        entry.last_error = ""
        entry.paths = entry.target.watched_paths()  # a directory may have new files
        if entry.on_reload is not None:
            try:
                entry.on_reload()
            except Exception:
                log.exception("originverify: after reloading %s", entry.name)


def watch_files(
    owner: object, on_trust_reload: Callable[[], None], interval: float | None
) -> Watcher | None:
    """A started watcher for ``owner``'s (a ``Verifier``'s) trust store and file-based
    source proofs, or ``None`` when there is nothing to watch. It stops when ``owner`` is
    garbage-collected and never keeps it alive."""
    if interval is None:
        return None
    watcher = Watcher(interval)
    trust = getattr(owner, "trust", None)
    if trust is not None:
        alive = weakref.WeakMethod(on_trust_reload)
        watcher.add("trust anchors", trust, lambda: (alive() or _nothing)())
    for proof in _proofs(getattr(owner, "source", None)):
        if callable(getattr(proof, "watched_paths", None)):
            watcher.add(f"source proof {proof.label}", proof)
    if not len(watcher):
        return None
    watcher.start()
    weakref.finalize(owner, watcher.stop)
    return watcher


def _nothing() -> None:
    return None


def _proofs(source: Any) -> list[Any]:
    """``source`` and, for ``AllOf``/``AnyOf``, every proof inside it."""
    if source is None:
        return []
    inner = getattr(source, "proofs", None)
    if not inner:
        return [source]
    return [source, *(p for proof in inner for p in _proofs(proof))]


def _restart_in_child() -> None:
    for watcher in list(_WATCHERS):
        watcher._thread = None
        if not watcher._stop.is_set():
            watcher.start()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_in_child)
