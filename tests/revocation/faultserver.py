"""A fault-injecting HTTP server on 127.0.0.1 for CRL/OCSP fetches: hang, drip, reset,
garbage, huge, or a normal answer, chosen per path and changeable while it runs.

Written on plain sockets (not ``http.server``) so that a fault can strike anywhere: before
the status line, inside the headers, in the body.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Fault = Literal["ok", "hang", "drip", "drip_headers", "reset", "garbage", "huge"]


@dataclass
class Route:
    fault: Fault = "ok"
    body: bytes | Callable[[bytes], bytes] = b""
    interval: float = 0.2  # seconds between two dripped bytes


@dataclass
class FaultServer:
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    active: Counter[str] = field(default_factory=Counter)  # connections being served now
    _sock: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FaultServer:
        sock = socket.create_server(("127.0.0.1", 0))
        sock.settimeout(0.1)
        self._sock = sock
        threading.Thread(target=self._accept, daemon=True, name="fault-server").start()
        return self

    def url(self, path: str) -> str:
        assert self._sock is not None
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}{path}"

    def route(self, path: str, fault: Fault = "ok", body: object = b"", **kw: float) -> str:
        self.routes[path] = Route(fault, body, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _request(self, conn: socket.socket) -> tuple[str, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(body) < length:
            body += conn.recv(65536)
        return lines[0].split(" ")[1], body

    def _serve(self, conn: socket.socket) -> None:
        path = "?"
        try:
            conn.settimeout(60)
            path, body = self._request(conn)
            with self._lock:
                self.hits[path] += 1
                self.active[path] += 1
            try:
                self._answer(conn, self.routes.get(path, Route("ok", b"")), body)
            finally:
                with self._lock:
                    self.active[path] -= 1
        except OSError:
            pass
        finally:
            conn.close()

    def _answer(self, conn: socket.socket, route: Route, request: bytes) -> None:
        payload = route.body(request) if callable(route.body) else route.body
        if route.fault == "hang":
            self._stop.wait(120)
        elif route.fault == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif route.fault in ("drip", "drip_headers"):
            message = _response(payload or b"x" * 4096)
            start = 0 if route.fault == "drip_headers" else message.index(b"\r\n\r\n") + 4
            conn.sendall(message[:start])
            for byte in message[start:]:
                if self._stop.wait(route.interval):
                    return
                conn.sendall(bytes([byte]))
        elif route.fault == "garbage":
            conn.sendall(_response(os.urandom(2048)))
        elif route.fault == "huge":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
            block = b"\0" * 65536
            for _ in range(16384):
                conn.sendall(block)
        else:
            conn.sendall(_response(payload))


def _response(body: bytes, status: str = "200 OK") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
