"""HTTP fetches for CRLs and OCSP with a *total* deadline, not a per-read socket timeout.

A socket timeout bounds each read: a server dripping one byte a second never trips it. Here
a watchdog timer shuts the socket down when the deadline passes, whatever the fetch is doing
(connecting, sending, reading the status line, the headers or the body), and every read is
also checked against the deadline. The watchdog and the caller's thread are both daemon
threads' business: nothing here can hold up process exit.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable

#: Fetches ``url`` (with an optional POST body and content type) within ``timeout`` seconds
#: in total and returns at most ``limit`` bytes; raises ``OSError`` on any failure.
Fetcher = Callable[[str, bytes | None, str | None, float, int], bytes]

_MAX_REDIRECTS = 3
_CHUNK = 1 << 16


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise OSError(f"unsupported URL {url!r} (http or https only)")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    return cls(parts.hostname, parts.port, timeout=timeout), target


def _read_body(response: http.client.HTTPResponse, deadline: float, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() >= deadline:
            raise TimeoutError("deadline passed while reading the body")
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise OSError(f"response larger than {limit} bytes")
        chunks.append(chunk)


def _once(
    url: str, body: bytes | None, content_type: str | None, deadline: float, limit: int
) -> tuple[int, str | None, bytes]:
    """One HTTP exchange: ``(status, Location, body)``; the watchdog enforces ``deadline``."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    conn, target = _connection(url, left)
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(left, kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        headers = {"User-Agent": "originverify", "Connection": "close"}
        if content_type:
            headers["Content-Type"] = content_type
        conn.request("POST" if body is not None else "GET", target, body=body, headers=headers)
        response = conn.getresponse()
        data = _read_body(response, deadline, limit)
        return response.status, response.getheader("Location"), data
    except (http.client.HTTPException, ValueError) as exc:
        if killed.is_set():
            raise TimeoutError("deadline passed") from None
        raise OSError(f"{type(exc).__name__}: {exc}") from None
    except OSError:
        if killed.is_set():
            raise TimeoutError("deadline passed") from None
        raise
    finally:
        watchdog.cancel()
        conn.close()


def http_fetch(
    url: str, body: bytes | None, content_type: str | None, timeout: float, limit: int
) -> bytes:
    """The default ``Fetcher``: ``http.client`` (standard library), http(s) only, at most
    three redirects for GET, ``timeout`` seconds in total for the whole exchange."""
    deadline = time.monotonic() + timeout
    for _ in range(_MAX_REDIRECTS + 1):
        try:
            status, location, data = _once(url, body, content_type, deadline, limit)
        except TimeoutError:
            raise OSError(f"{url}: no complete answer within {timeout:g}s") from None
        except OSError as exc:
            raise OSError(f"{url}: {exc}") from None
        if status in (301, 302, 303, 307, 308) and location and body is None:
            url = urllib.parse.urljoin(url, location)
            continue
        if status != 200:
            raise OSError(f"{url}: HTTP {status}")
        return data
    raise OSError(f"{url}: too many redirects")


#: Kept for compatibility: the default fetcher's old name.
urllib_fetch = http_fetch
