"""Keep-alive connections to the origin, one h11 client state machine each."""

from __future__ import annotations

import asyncio
from typing import Any

import h11

from originverify.edge.config import Address

_READ_SIZE = 65536
# Response heads from our own origin; generous, but still a bound.
_MAX_RESPONSE_HEAD = 65536


class UpstreamError(Exception):
    """The origin could not be reached or broke the exchange (answered as 502)."""


class UpstreamConnection:
    __slots__ = ("_pending", "bytes_in", "h11", "reader", "reused", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_RESPONSE_HEAD)
        self.reused = False
        self.bytes_in = 0
        self._pending: list[bytes] = []

    def queue(self, event: Any) -> None:
        """Serialise now, write on ``flush``: a head and a short body leave in one send."""
        data = self.h11.send(event)
        if data:
            self._pending.append(data)

    async def flush(self) -> None:
        if self._pending:
            self.writer.write(b"".join(self._pending))
            self._pending.clear()
        await self.writer.drain()

    async def next_event(self, timeout: float) -> Any:
        """Next h11 event from the origin; a silent origin raises ``TimeoutError``."""
        event = self.h11.next_event()
        if event is not h11.NEED_DATA:
            return event
        return await self.wait_event(timeout)

    async def wait_event(self, timeout: float) -> Any:
        """Like ``next_event`` for a caller that has just been told NEED_DATA."""
        conn = self.h11
        async with asyncio.timeout(timeout):
            while True:
                data = await self.reader.read(_READ_SIZE)
                self.bytes_in += len(data)
                conn.receive_data(data)
                event = conn.next_event()
                if event is not h11.NEED_DATA:
                    return event

    @property
    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def idle_and_open(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class UpstreamPool:
    """A per-worker LIFO of idle connections: the most recently used one is the least stale."""

    def __init__(self, address: Address, connect_timeout: float, size: int) -> None:
        self._address = address
        self._connect_timeout = connect_timeout
        self._size = size
        self._idle: list[UpstreamConnection] = []

    async def acquire(self) -> UpstreamConnection:
        while self._idle:
            conn = self._idle.pop()
            if conn.idle_and_open():
                conn.reused = True
                return conn
            conn.close()
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self._address.host, self._address.port
                )
        except OSError as exc:
            raise UpstreamError(f"connect to {self._address}: {exc.strerror or exc}") from None
        return UpstreamConnection(reader, writer)

    def release(self, conn: UpstreamConnection) -> None:
        if conn.reusable and len(self._idle) < self._size and conn.idle_and_open():
            conn.h11.start_next_cycle()
            conn.bytes_in = 0
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
