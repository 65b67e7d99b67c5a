"""One TLS client connection's life: handshake, requests one after another, idle, drain.

The handshake has its own deadline; the certificate's headers are computed once per
connection (no renegotiation); between requests the connection idles under
``--idle-timeout``, and a request head must arrive within ``--header-timeout``. Each request
is then ``RequestProxy._serve`` (``proxy.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from originverify.edge.http1 import Message
from originverify.edge.proxy import RequestProxy
from originverify.edge.tls import HandshakeError

log = logging.getLogger("originverify.edge")


class ClientConnection(RequestProxy):
    """One TLS connection from a client and the requests it carries, one after another."""

    async def run(self) -> None:
        tls = self.tls
        limits = self.server.limits
        tls.deadline = self.loop.time() + limits.handshake_timeout
        try:
            await tls.handshake()
        except (HandshakeError, TimeoutError, ConnectionError, OSError) as exc:
            log.info("handshake with %s failed: %s", self.peer_ip, exc or type(exc).__name__)
            tls.close()
            return
        except asyncio.CancelledError:
            tls.close()
            return
        try:
            # The certificate cannot change on this connection (no renegotiation), so its
            # headers are computed once and reused for every request.
            certs = tls.client_certificates()
            if certs is not None:
                self.fingerprint = certs.sha256_hex
            self.edge = self.server.edge_headers(self.peer_ip, certs)
        except ValueError as exc:
            # OpenSSL took the certificate but cryptography cannot represent it: fail closed.
            log.warning("unusable client certificate from %s: %s", self.peer_ip, exc)
            tls.close()
            return
        try:
            first = True
            while first or not self.server.draining:
                request = await self._next_request(first)
                if request is None or not await self._serve(request):
                    break
                self.reader.messages.popleft()
                first = False
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            tls.close()

    def close_if_idle(self) -> None:
        if self._idle and self.task is not None:
            self.task.cancel()

    def cancel(self) -> None:
        """Drain timeout: give up on this connection."""
        if self.task is not None:
            self.task.cancel()

    async def _next_request(self, first: bool) -> Message | None:
        """Wait (idle timeout) for a request to start, then for its head (header timeout)."""
        reader = self.reader
        tls = self.tls
        limits = self.server.limits
        started = time.monotonic()
        head_deadline: float | None = None
        while not reader.messages:
            if reader.error is not None:
                await self._reply_error(reader.error.status, reader.error.reason, started)
                return None
            if reader.upgraded:
                return None
            waiting_for_head = first or reader.mid_message
            if waiting_for_head:
                if head_deadline is None:
                    head_deadline = self.loop.time() + limits.header_timeout
                tls.deadline = head_deadline
            else:
                tls.deadline = self.loop.time() + limits.idle_timeout
            self._idle = not waiting_for_head
            try:
                data = await tls.recv()
            except TimeoutError:
                if waiting_for_head:
                    await self._reply_error(408, "request head not received in time", started)
                return None
            except asyncio.CancelledError:
                if self._idle:
                    return None  # drained while idle
                raise
            finally:
                self._idle = False
            if not data:
                return None
            reader.feed(data)
        return reader.messages[0]

    async def _reply_error(self, status: int, reason: str, started: float) -> None:
        """An error before a request line could be logged (timeouts, unparsable heads)."""
        if self.server.access_log.enabled:
            self.server.access_log.write(
                self.peer_ip, "-", status, self.fingerprint, 0, time.monotonic() - started
            )
        await self._write_error(status, reason, b"")
