"""Keep-alive connections to the origin: a small protocol each, and a per-worker pool."""

from __future__ import annotations

import asyncio
from typing import cast

from originverify.edge.config import Address
from originverify.edge.flow import Waitable
from originverify.edge.http1 import MessageReader, response_reader

# Response heads from our own origin; generous, but still a bound.
_MAX_RESPONSE_HEAD = 65536
# Bytes read from the origin and not yet relayed before the socket stops being read.
_MAX_BUFFERED = 262144
_WRITE_HIGH_WATER = 262144


class UpstreamError(Exception):
    """The origin could not be reached or broke the exchange (answered as 502)."""


class UpstreamConnection(Waitable):
    """One plain-HTTP connection to the origin; its response parser lives as long as it does.

    Bytes are parsed as they arrive, and the waiting handler is woken only when there is
    something to act on: a response head with body bytes or its end (or, for a HEAD request,
    the head alone), an error, EOF. An origin that writes head and body separately then costs
    one wake-up, not two.
    """

    transport: asyncio.Transport

    def __init__(self) -> None:
        self.reader: MessageReader = response_reader(_MAX_RESPONSE_HEAD)
        self.reused = False
        self.bytes_in = 0
        self.closed = False
        self.eof = False
        self.head_only = False  # the request was HEAD: the response ends with its head
        self._buffered = 0
        self._reading_paused = False
        self._writing_paused = False

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not subclasses of asyncio.Transport).
        self.transport = stream = cast(asyncio.Transport, transport)
        self._init_waiting(asyncio.get_running_loop())
        stream.set_write_buffer_limits(high=_WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        self._buffered += len(data)
        reader = self.reader
        reader.feed(data)
        if self._buffered > _MAX_BUFFERED and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        if self._waiter is None:
            return  # nobody waits (the proxy is busy writing): it looks before waiting
        messages = reader.messages
        if messages:
            first = messages[0]
            if first.complete or first.body or self.head_only:
                self._wake()
        elif reader.error is not None or reader.upgraded:
            self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # the origin is done with this connection: close it

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.eof = True
        self._writing_paused = False
        self._stop_timer()
        self._wake()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake()

    # -- for the proxy ------------------------------------------------------------------------

    def taken(self) -> None:
        """The proxy took the body bytes parsed so far: read from the origin again."""
        self._buffered = 0
        if self._reading_paused and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.closed or self.transport.is_closing():
            raise OSError("upstream connection closed")
        self.transport.write(data)

    @property
    def writing_paused(self) -> bool:
        return self._writing_paused

    def unsent(self) -> int:
        """Request bytes still queued in the transport."""
        return self.transport.get_write_buffer_size()

    @property
    def answered(self) -> bool:
        """A final response started (or the origin closed or broke the exchange)."""
        reader = self.reader
        if self.eof or reader.error is not None or reader.upgraded:
            return True
        return any(m.status >= 200 for m in reader.messages)

    async def drain(self) -> None:
        """Wait until the origin reads again, or answers without reading the rest."""
        while self._writing_paused and not self.answered:
            await self.wait()
        if self.closed:
            raise OSError("upstream connection closed")

    def idle_and_open(self) -> bool:
        """Nothing arrived while it sat in the pool, and the origin has not closed it."""
        return not self.closed and not self.eof and self.bytes_in == 0

    def close(self) -> None:
        self._stop_timer()
        if not self.closed:
            self.transport.close()


class UpstreamPool:
    """A per-worker LIFO of idle connections: the most recently used one is the least stale."""

    def __init__(self, address: Address, connect_timeout: float, size: int) -> None:
        self._address = address
        self._connect_timeout = connect_timeout
        self._size = size
        self._idle: list[UpstreamConnection] = []

    def take(self) -> UpstreamConnection | None:
        """An idle pooled connection, or None (then ``connect``)."""
        while self._idle:
            conn = self._idle.pop()
            if conn.idle_and_open():
                conn.reused = True
                return conn
            conn.close()
        return None

    async def acquire(self) -> UpstreamConnection:
        return self.take() or await self.connect()

    async def connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(
                    UpstreamConnection, self._address.host, self._address.port
                )
        except OSError as exc:
            raise UpstreamError(f"connect to {self._address}: {exc.strerror or exc}") from None
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Back to the pool if the exchange ended cleanly (the caller checked), else closed."""
        conn.bytes_in = 0
        conn.head_only = False
        conn.deadline = None
        if len(self._idle) < self._size and conn.idle_and_open():
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
