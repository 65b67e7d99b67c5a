"""Capture requests at a running origin in ``originverify check``'s input format.

Wrap the application (before or instead of the verifying middleware), send a few requests
through the edge, and replay each file with ``originverify check FILE --anchors ...``::

    from originverify.capture import CaptureWSGI    # CaptureASGI for ASGI apps

    app = CaptureWSGI(app, "/tmp/originverify-captures", limit=20)

Each file holds the request line and every header as received, one comment line with the
time and the TCP peer (``check`` uses it as ``--peer``), and nothing else: no body. The edge
secret, ``Authorization``, ``Cookie`` and ``Proxy-Authorization`` values are replaced by
``<redacted>`` (add names with ``redact=``); files are created mode 0600 in a 0700 folder,
and capturing stops after ``limit`` requests. A debugging aid: remove it once done.

Under WSGI the server has already joined duplicate headers and dropped or folded
underscore spellings; an ASGI capture is exact (raw header pairs, in order).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .adapters import request_target

REDACTED = "<redacted>"
#: Header values never written: the default edge secret header and user credentials.
DEFAULT_REDACT = frozenset({"x-origin-verify", "authorization", "cookie", "proxy-authorization"})
#: The comment line ``check`` reads the peer from.
PEER_PREFIX = "# originverify capture"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def format_request(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    *,
    peer: str | None = None,
    redact: Iterable[str] = DEFAULT_REDACT,
    protocol: str = "HTTP/1.1",
    when: datetime | None = None,
) -> bytes:
    """One request head in ``check``'s format, with the ``redact`` headers' values hidden."""
    hidden = {name.lower() for name in redact}
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"{PEER_PREFIX} {stamp} peer={peer or '-'}", f"{method} {target} {protocol}"]
    for name, value in headers:
        lines.append(f"{name}: {REDACTED if name.lower() in hidden else value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


class _Store:
    """Numbered files in one folder, at most ``limit`` of them, thread-safe."""

    def __init__(self, directory: str | Path, limit: int, redact: Iterable[str]) -> None:
        if limit < 1:
            raise ValueError("capture limit must be at least 1")
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.limit = limit
        self.redact = frozenset(name.lower() for name in (*DEFAULT_REDACT, *redact))
        self.written = 0
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The next file number, or ``None`` once ``limit`` requests were captured."""
        with self._lock:
            number = next(self._counter)
        return number if number <= self.limit else None

    def write(self, number: int, data: bytes) -> Path:
        path = self.directory / f"request-{number:04d}.http"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        with self._lock:
            self.written += 1
        return path


def environ_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The headers a WSGI server kept, with their HTTP spelling back (``Client-Cert``)."""
    out = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            out.append((key[5:].replace("_", "-").title(), str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            out.append((key.replace("_", "-").title(), str(value)))
    return out


#: Path and query as sent: the adapter kernel's reading of an environ.
environ_target = request_target


class CaptureWSGI:
    """WSGI wrapper that writes the first ``limit`` request heads into ``directory``."""

    def __init__(
        self, app: WSGIApp, directory: str | Path, *, limit: int = 20, redact: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.store = _Store(directory, limit, redact)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        number = self.store.take()
        if number is not None:
            data = format_request(
                str(environ.get("REQUEST_METHOD", "GET")),
                environ_target(environ),
                environ_headers(environ),
                peer=environ.get("REMOTE_ADDR"),
                redact=self.store.redact,
                protocol=str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            )
            self.store.write(number, data)
        return self.app(environ, start_response)


class CaptureASGI:
    """ASGI wrapper that writes the first ``limit`` HTTP request heads into ``directory``
    (raw header pairs, exactly as the server received them); the file is written off the
    event loop."""

    def __init__(
        self, app: ASGIApp, directory: str | Path, *, limit: int = 20, redact: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.store = _Store(directory, limit, redact)

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        number = self.store.take() if scope.get("type") == "http" else None
        if number is not None:
            raw_path = scope.get("raw_path") or quote(str(scope.get("path", "/"))).encode()
            query = scope.get("query_string") or b""
            target = (raw_path + (b"?" + query if query else b"")).decode("latin-1")
            client = scope.get("client")
            data = format_request(
                str(scope.get("method", "GET")),
                target,
                [(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope.get("headers", [])],
                peer=str(client[0]) if client else None,
                redact=self.store.redact,
                protocol=f"HTTP/{scope.get('http_version', '1.1')}",
            )
            await asyncio.to_thread(self.store.write, number, data)
        await self.app(scope, receive, send)
