"""One line per request, written straight to a stream (the logging module costs more per line).

Format (space separated; the request line quoted with ``"`` and ``\\`` escaped)::

    <peer> "<method> <target> HTTP/<v>" <status> <client cert sha256 or -> <body bytes> <seconds>
"""

from __future__ import annotations

import sys
from typing import TextIO


class AccessLog:
    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    @classmethod
    def open(cls, target: str) -> AccessLog:
        if target == "off":
            return cls(None)
        if target == "-":
            return cls(sys.stderr)
        return cls(open(target, "a", buffering=1, encoding="utf-8"))

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
        line = request_line.replace("\\", "\\\\").replace('"', '\\"')
        self._stream.write(f'{peer} "{line}" {status} {fingerprint} {sent} {seconds:.6f}\n')

    def flush(self) -> None:
        if self._stream is not None:
            self._stream.flush()
