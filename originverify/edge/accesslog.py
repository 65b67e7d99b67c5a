"""One line per request, written straight to a stream (the logging module costs more per line).

Format (space separated; the request line quoted with ``"`` and ``\\`` escaped)::

    <peer> "<method> <target> HTTP/<v>" <status> <client cert sha256 or -> <body bytes> <seconds>

A log file is block-buffered and flushed within a second of its first unflushed line (like
nginx's ``access_log ... buffer=64k flush=1s``), so logging costs no system call per request;
stderr is written line by line.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

_FLUSH_AFTER = 1.0


class AccessLog:
    def __init__(self, stream: TextIO | None, *, timed_flush: bool = False) -> None:
        self._stream = stream
        self._timed_flush = timed_flush
        self._flush_scheduled = False
        self.enabled = stream is not None

    @classmethod
    def open(cls, target: str) -> AccessLog:
        if target == "off":
            return cls(None)
        if target == "-":
            return cls(sys.stderr)
        return cls(open(target, "a", buffering=65536, encoding="utf-8"), timed_flush=True)

    def write(
        self,
        peer: str,
        request_line: str,
        status: int,
        fingerprint: str,
        sent: int,
        seconds: float,
    ) -> None:
        if self._stream is None:
            return
        if '"' in request_line or "\\" in request_line:
            request_line = request_line.replace("\\", "\\\\").replace('"', '\\"')
        self._stream.write(f'{peer} "{request_line}" {status} {fingerprint} {sent} {seconds:.6f}\n')
        if self._timed_flush and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(_FLUSH_AFTER, self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._stream is not None:
            self._stream.flush()
