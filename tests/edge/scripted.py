"""A scripted HTTP/1.1 origin on raw sockets that records every request per connection.

Pool-hygiene tests need an origin that misbehaves on purpose (answers before reading the body,
delimits a response by closing, sends 1xx) and that shows exactly which bytes arrived on which
connection, so a request parsed as another request's body cannot go unnoticed. Each accepted
connection gets an id; each request the origin parsed on it is recorded with its request line,
headers and body. Bytes that do not form a request line are recorded as such (``garbage``).
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field

_REQUEST_LINE = re.compile(rb"(GET|HEAD|POST|PUT) (/\S*) HTTP/1\.[01]")


@dataclass
class Seen:
    """One request as the origin parsed it."""

    conn: int
    line: bytes
    headers: dict[bytes, bytes]
    body: bytes = b""
    trailers: list[bytes] = field(default_factory=list)  # raw trailer field lines

    @property
    def path(self) -> str:
        match = _REQUEST_LINE.fullmatch(self.line)
        return match.group(2).decode() if match else ""


@dataclass
class ConnLog:
    requests: list[Seen] = field(default_factory=list)
    garbage: list[bytes] = field(default_factory=list)
    closed_by_peer: bool = False
    unread_body: int = 0  # declared body bytes that never arrived before EOF


class ScriptedOrigin:
    """Paths: ``/early`` answers 401 at once and then drains the declared body (as gunicorn
    does); ``/early-close`` answers 401 and closes without reading it; ``/eof`` answers
    without a length and closes; ``/hints`` sends 100 and 103 first; anything else reads the
    body and answers with the connection id and the body's digest. It never sends
    ``100 Continue`` for an ``Expect``.
    """

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.conns: list[ConnLog] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self.sock.close()

    def requests(self) -> list[Seen]:
        with self.lock:
            return [r for c in self.conns for r in c.requests]

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                log = ConnLog()
                self.conns.append(log)
                index = len(self.conns) - 1
            threading.Thread(target=self._serve, args=(conn, index, log), daemon=True).start()

    def _serve(self, conn: socket.socket, index: int, log: ConnLog) -> None:
        conn.settimeout(20)
        stream = _Stream(conn)
        try:
            while True:
                head = stream.until(b"\r\n\r\n")
                if head is None:
                    log.closed_by_peer = True
                    return
                line, *fields = head.split(b"\r\n")
                if not _REQUEST_LINE.fullmatch(line):
                    log.garbage.append(head)
                    return
                headers = {}
                for f in fields:
                    name, _, value = f.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                seen = Seen(index, line, headers)
                with self.lock:
                    log.requests.append(seen)
                if not self._answer(conn, stream, seen, log):
                    return
        except OSError:
            log.closed_by_peer = True
        finally:
            conn.close()

    def _answer(self, conn: socket.socket, stream: _Stream, seen: Seen, log: ConnLog) -> bool:
        """Answer one request; False when the connection is done."""
        if seen.path == "/early-close":
            # A sync worker: answer, read nothing, close. The short wait before closing is
            # the part of a lingering close (RFC 9112 §9.6) that lets the answer arrive
            # before the reset that closing with unread data sends.
            conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\nno")
            time.sleep(0.3)
            return False
        if seen.path == "/early":
            conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\nno")
            seen.body, missing = stream.body(seen.headers, seen.trailers)
            log.unread_body = missing
            if missing:
                log.closed_by_peer = True
                return False
            return True
        seen.body, missing = stream.body(seen.headers, seen.trailers)
        if missing:
            log.unread_body = missing
            log.closed_by_peer = True
            return False
        digest = hashlib.sha256(seen.body).hexdigest()
        payload = b"conn=%d len=%d sha256=%s" % (seen.conn, len(seen.body), digest.encode())
        if seen.path == "/eof":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + payload)
            return False
        if seen.path == "/hints":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        length = b"" if seen.line.startswith(b"HEAD") else payload
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (len(payload), length)
        )
        return True


class _Stream:
    """Buffered reads from a socket."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buf = b""

    def _more(self) -> bool:
        data = self.conn.recv(65536)
        self.buf += data
        return bool(data)

    def until(self, marker: bytes) -> bytes | None:
        while marker not in self.buf:
            if not self._more():
                return None
        head, _, self.buf = self.buf.partition(marker)
        return head

    def exactly(self, n: int) -> tuple[bytes, int]:
        while len(self.buf) < n:
            if not self._more():
                data, self.buf = self.buf, b""
                return data, n - len(data)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data, 0

    def body(self, headers: dict[bytes, bytes], trailers: list[bytes]) -> tuple[bytes, int]:
        """The declared body, and how many declared bytes never came (EOF)."""
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            out = b""
            while True:
                line = self.until(b"\r\n")
                if line is None:
                    return out, 1
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while line := self.until(b"\r\n"):
                        trailers.append(line)
                    return out, 0 if line is not None else 1
                data, missing = self.exactly(size + 2)
                out += data[:size]
                if missing:
                    return out, missing
        return self.exactly(int(headers.get(b"content-length", b"0")))
