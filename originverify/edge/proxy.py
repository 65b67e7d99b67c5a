"""The HTTP/1.1 proxy: one TLS client connection, its requests, and their trip to the origin.

Bodies are relayed piece by piece in both directions with back-pressure (``drain``), so memory
per request stays bounded by a few socket buffers whatever the body size. h11 parses both sides;
its state machines decide framing and whether a connection can be reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import h11
from OpenSSL import SSL

from originverify.edge import styles
from originverify.edge.accesslog import AccessLog
from originverify.edge.config import EdgeConfig
from originverify.edge.hygiene import (
    HeaderPolicy,
    RejectedRequest,
    edge_headers,
    sanitize_request,
    sanitize_response,
)
from originverify.edge.tls import HandshakeError, TLSStream
from originverify.edge.upstream import UpstreamConnection, UpstreamError, UpstreamPool

log = logging.getLogger("originverify.edge")

_REASONS = {
    400: b"Bad Request",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    504: b"Gateway Timeout",
}
# Access-log codes for exchanges that ended without a complete response (nginx conventions):
# the client went away, or the edge had to cut the connection.
CLIENT_CLOSED = 499
CUT = 444
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
# Plaintext gathered before one TLS write: small responses leave in a single write.
_BATCH = 65536
_END = h11.EndOfMessage()  # immutable; one instance saves a constructor call per message


class _Abort(Exception):
    """Stop this request with a locally generated error response, then close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Cut(Exception):
    """The exchange broke after the response started, or the client left: just close."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class EdgeServer:
    """Per-worker state shared by all client connections."""

    def __init__(self, config: EdgeConfig, ssl_context: SSL.Context, access_log: AccessLog):
        self.config = config
        self.limits = config.limits
        self.ssl_context = ssl_context
        self.access_log = access_log
        self.policy = HeaderPolicy.for_edge(config.origin_secret_header, config.underscore_headers)
        self.secret = (
            (config.origin_secret_header.encode("ascii"), config.origin_secret)
            if config.origin_secret is not None
            else None
        )
        self.pool = UpstreamPool(
            config.upstream, self.limits.upstream_connect_timeout, self.limits.upstream_pool_size
        )
        self.upstream_host = str(config.upstream).encode("ascii")
        self.connections: set[ClientConnection] = set()
        self.draining = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ClientConnection(self, reader, writer)
        self.connections.add(conn)
        try:
            await conn.run()
        except Exception:
            log.exception("unexpected error on connection from %s", conn.peer_ip)
        finally:
            self.connections.discard(conn)

    def start_draining(self) -> None:
        """Stop keep-alive: idle connections close now, busy ones after their response."""
        self.draining = True
        for conn in list(self.connections):
            conn.close_if_idle()


class ClientConnection:
    """One TLS connection from a client and the requests it carries, one after another."""

    def __init__(
        self, server: EdgeServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        peer = writer.get_extra_info("peername")
        self.peer_ip: str = peer[0] if peer else "-"
        self.tls = TLSStream(server.ssl_context, reader, writer)
        self.h11 = h11.Connection(
            h11.SERVER, max_incomplete_event_size=server.limits.max_header_bytes
        )
        self.task = asyncio.current_task()
        self.fingerprint = "-"
        self.cert_headers: list[tuple[bytes, bytes]] = []
        self._idle = False
        # Per request: the origin connection, and what the access log will say.
        self._upstream: UpstreamConnection
        self._status = 0
        self._sent = 0

    # -- connection life cycle -----------------------------------------------------------------

    async def run(self) -> None:
        limits = self.server.limits
        try:
            async with asyncio.timeout(limits.handshake_timeout):
                await self.tls.handshake()
        except (HandshakeError, TimeoutError, ConnectionError, OSError) as exc:
            log.info("handshake with %s failed: %s", self.peer_ip, exc or type(exc).__name__)
            await self.tls.aclose()
            return
        try:
            # The certificate cannot change on this connection (no renegotiation), so its
            # headers are computed once and reused for every request.
            certs = self.tls.client_certificates()
            if certs is not None:
                self.fingerprint = certs.sha256_hex
            self.cert_headers = [
                (name.encode("ascii"), value.encode("ascii"))
                for name, value in styles.encode(self.server.config.style, certs)
            ]
        except ValueError as exc:
            # OpenSSL took the certificate but cryptography cannot represent it: fail closed.
            log.warning("unusable client certificate from %s: %s", self.peer_ip, exc)
            await self.tls.aclose()
            return
        try:
            first = True
            while first or not self.server.draining:
                request = await self._read_request_head(first)
                if request is None or not await self._serve(request):
                    break
                first = False
                self.h11.start_next_cycle()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            await self.tls.aclose()

    def close_if_idle(self) -> None:
        if self._idle and self.task is not None:
            self.task.cancel()

    def cancel(self) -> None:
        """Drain timeout: give up on this connection."""
        if self.task is not None:
            self.task.cancel()

    async def _read_request_head(self, first: bool) -> h11.Request | None:
        """Wait (idle timeout) for a request to start, then for its head (header timeout)."""
        conn = self.h11
        limits = self.server.limits
        started = time.monotonic()
        try:
            event = conn.next_event()
            if event is h11.NEED_DATA and not first:
                self._idle = True
                try:
                    async with asyncio.timeout(limits.idle_timeout):
                        data = await self.tls.recv()
                finally:
                    self._idle = False
                if not data:
                    return None
                conn.receive_data(data)
                event = conn.next_event()
            if event is h11.NEED_DATA:
                async with asyncio.timeout(limits.header_timeout):
                    while event is h11.NEED_DATA:
                        conn.receive_data(await self.tls.recv())
                        event = conn.next_event()
        except TimeoutError:
            if first or conn.trailing_data[0]:
                await self._reply_error(408, "request head not received in time", started)
            return None
        except asyncio.CancelledError:
            return None  # drained while idle
        except h11.RemoteProtocolError as exc:
            await self._reply_error(exc.error_status_hint, str(exc), started)
            return None
        if not isinstance(event, h11.Request):
            return None  # ConnectionClosed
        # h11 bounds only a head that arrives incomplete; measure the parsed one as well.
        size = len(event.method) + len(event.target) + 14
        size += sum(len(n) + len(v) + 4 for n, v in event.headers.raw_items())
        if size > limits.max_header_bytes:
            await self._reply_error(431, f"request head of {size} bytes", started)
            return None
        return event

    # -- one request --------------------------------------------------------------------------

    async def _serve(self, request: h11.Request) -> bool:
        """Forward one request; True when the connection may carry another one."""
        started = time.monotonic()
        self._status = 0
        self._sent = 0
        try:
            await self._forward(request)
        except (RejectedRequest, _Abort) as exc:
            self._status = exc.status
            await self._write_error(exc.status, exc.reason)
            return False
        except _Cut as exc:
            self._status = self._status or exc.status
            return False
        except asyncio.CancelledError:
            self._status = self._status or CUT
            raise
        finally:
            line = b"%s %s HTTP/%s" % (request.method, request.target, request.http_version)
            self.server.access_log.write(
                self.peer_ip,
                line.decode("ascii", "replace"),
                self._status,
                self.fingerprint,
                self._sent,
                time.monotonic() - started,
            )
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    async def _forward(self, request: h11.Request) -> None:
        server = self.server
        if request.method == b"CONNECT":
            raise RejectedRequest(405, "CONNECT is not supported")
        sanitized = sanitize_request(list(request.headers.raw_items()), server.policy)
        cap = server.limits.max_body_bytes
        length = sanitized.content_length
        if cap is not None and length is not None and length > cap:
            raise RejectedRequest(413, f"Content-Length {length} exceeds {cap}")
        headers = edge_headers(sanitized, self.peer_ip, server.secret, self.cert_headers)
        if sanitized.chunked:
            headers.append((b"Transfer-Encoding", b"chunked"))
        if not sanitized.has_host:
            headers.append((b"Host", server.upstream_host))
        # Every header here was either validated by h11's parser on the way in or built by
        # the edge from validated parts (see styles.encode), so h11's per-request regex
        # re-validation (the most expensive step for kilobyte-sized certificate headers) is
        # skipped with its ``_parsed`` flag; framing and Host rules are still enforced.
        upstream_request = h11.Request(
            method=request.method, target=request.target, headers=headers, _parsed=True
        )
        has_body = sanitized.chunked or bool(length)
        replayable = not has_body and request.method in _IDEMPOTENT

        self._upstream = await self._open_upstream(upstream_request)
        try:
            if has_body:
                await self._relay_request_body(cap)
            else:
                # A bodiless request's end is already parsed: head and end leave in one write.
                if not isinstance(self.h11.next_event(), h11.EndOfMessage):
                    raise _Abort(400, "unexpected request body")
                self._upstream.queue(_END)
                await self._flush_upstream()
            response = await self._read_response_head(upstream_request, replayable)
            await self._relay_response(response)
        except BaseException:
            self._upstream.close()
            raise
        server.pool.release(self._upstream)

    async def _open_upstream(self, request: h11.Request) -> UpstreamConnection:
        try:
            upstream = await self.server.pool.acquire()
        except UpstreamError as exc:
            raise _Abort(502, str(exc)) from None
        except TimeoutError:
            raise _Abort(504, "upstream connect timed out") from None
        try:
            upstream.queue(request)
        except h11.LocalProtocolError as exc:
            upstream.close()
            raise _Abort(400, f"cannot forward request: {exc}") from None
        return upstream

    async def _flush_upstream(self) -> None:
        try:
            await self._upstream.flush()
        except OSError:
            raise _Abort(502, "upstream closed while receiving the request") from None

    async def _relay_request_body(self, cap: int | None) -> None:
        conn = self.h11
        idle_timeout = self.server.limits.idle_timeout
        if conn.client_is_waiting_for_100_continue:
            # The origin is reachable (we hold a connection): let the client send its body.
            await self.tls.send(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        received = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _Abort(400, f"malformed request body: {exc}") from None
            if event is h11.NEED_DATA:
                await self._flush_upstream()
                try:
                    async with asyncio.timeout(idle_timeout):
                        data = await self.tls.recv()
                except TimeoutError:
                    raise _Abort(408, "request body stalled") from None
                if not data:
                    raise _Cut(CLIENT_CLOSED)
                conn.receive_data(data)
            elif isinstance(event, h11.Data):
                received += len(event.data)
                if cap is not None and received > cap:
                    raise _Abort(413, f"body exceeds {cap} bytes")
                self._upstream.queue(event)
            elif isinstance(event, h11.EndOfMessage):
                self._upstream.queue(_END)  # trailers are not forwarded
                await self._flush_upstream()
                return
            else:
                raise _Cut(CLIENT_CLOSED)

    async def _read_response_head(self, request: h11.Request, replayable: bool) -> h11.Response:
        timeout = self.server.limits.upstream_read_timeout
        retried = False
        while True:
            upstream = self._upstream
            try:
                event = await upstream.next_event(timeout)
                while isinstance(event, h11.InformationalResponse):
                    if event.status_code not in (100, 101):  # e.g. 103 Early Hints
                        await self.tls.send(self.h11.send(event))
                    event = await upstream.next_event(timeout)
                if isinstance(event, h11.Response):
                    return event
                raise UpstreamError("upstream closed before responding")
            except TimeoutError:
                raise _Abort(504, "upstream response timed out") from None
            except (UpstreamError, h11.RemoteProtocolError, OSError) as exc:
                # A pooled connection that the origin closed while it sat idle: replay once,
                # only an idempotent bodiless request, only if the origin sent nothing back.
                if upstream.reused and replayable and not retried and upstream.bytes_in == 0:
                    upstream.close()
                    self._upstream = await self._open_upstream(request)
                    self._upstream.queue(_END)
                    await self._flush_upstream()
                    retried = True
                    continue
                raise _Abort(502, f"upstream failed: {exc}") from None

    async def _relay_response(self, response: h11.Response) -> None:
        conn = self.h11
        upstream = self._upstream
        headers = sanitize_response(list(response.headers.raw_items()))
        if self.server.draining:
            headers.append((b"Connection", b"close"))
        try:
            head = conn.send(
                h11.Response(
                    status_code=response.status_code,
                    headers=headers,
                    reason=response.reason,
                    _parsed=True,  # headers straight from h11's parser of the origin's response
                )
            )
        except h11.LocalProtocolError as exc:
            raise _Abort(502, f"unusable upstream response: {exc}") from None
        self._status = response.status_code
        out = bytearray(head or b"")
        timeout = self.server.limits.upstream_read_timeout
        while True:
            try:
                event = upstream.h11.next_event()
                if event is h11.NEED_DATA:
                    # The head waits for the first body bytes (origins often write them
                    # separately), so a small response leaves in one TLS write.
                    if out and self._sent:
                        await self._write_client(out)
                        out.clear()
                    event = await upstream.wait_event(timeout)
            except (TimeoutError, h11.RemoteProtocolError, OSError) as exc:
                # Mid-body there is no way to report an error: cut the client connection so
                # the truncation is visible (no last chunk, or a short Content-Length).
                log.warning("upstream failed mid-response: %s", exc or type(exc).__name__)
                raise _Cut(CUT) from None
            if isinstance(event, h11.Data):
                self._sent += len(event.data)
                out += conn.send(event) or b""
                if len(out) >= _BATCH:
                    await self._write_client(out)
                    out.clear()
            elif isinstance(event, h11.EndOfMessage):
                out += conn.send(_END) or b""
                await self._write_client(out)
                return
            else:
                log.warning("upstream closed mid-response")
                raise _Cut(CUT)

    async def _write_client(self, data: bytearray) -> None:
        try:
            self.tls.write(bytes(data))
            await self.tls.drain()
        except (ConnectionError, OSError):
            raise _Cut(CLIENT_CLOSED) from None

    # -- locally generated responses ----------------------------------------------------------

    async def _reply_error(self, status: int, reason: str, started: float) -> None:
        """An error before a request line could be logged (timeouts, unparsable heads)."""
        self.server.access_log.write(
            self.peer_ip, "-", status, self.fingerprint, 0, time.monotonic() - started
        )
        await self._write_error(status, reason)

    async def _write_error(self, status: int, reason: str) -> None:
        """A short plain-text answer and ``Connection: close``; details go to the log only."""
        log.info("%s: %d %s", self.peer_ip, status, reason)
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # a response already started; closing the connection is all that is left
        phrase = _REASONS.get(status, b"Error")
        body = b"%d %s\n" % (status, phrase)
        headers = [
            (b"Content-Type", b"text/plain"),
            (b"Content-Length", b"%d" % len(body)),
            (b"Connection", b"close"),
        ]
        try:
            data = self.h11.send(h11.Response(status_code=status, reason=phrase, headers=headers))
            data = (data or b"") + (self.h11.send(h11.Data(data=body)) or b"")
            data += self.h11.send(_END) or b""
        except h11.LocalProtocolError:
            return
        with contextlib.suppress(ConnectionError, OSError):
            await self.tls.send(data)
