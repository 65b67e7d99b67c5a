"""The HTTP/1.1 proxy: one TLS client connection, its requests, and their trip to the origin.

Per request, top to bottom (``ClientConnection._forward``): parse the head (llhttp), apply the
header hygiene, add the edge's headers (computed once per TLS connection) and, when signing, the
RFC 9421 envelope; take an origin connection from the pool, send head and body, read the
response head, relay the body back. Bodies are relayed piece by piece in both directions with
back-pressure, so memory per request stays bounded by a few buffers whatever the body size.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from OpenSSL import SSL

from originverify.edge import styles
from originverify.edge.accesslog import AccessLog
from originverify.edge.config import EdgeConfig
from originverify.edge.http1 import (
    LAST_CHUNK,
    Message,
    MessageReader,
    ProtocolError,
    chunk,
    header_block,
    request_reader,
    status_line,
)
from originverify.edge.hygiene import (
    EdgeHeaders,
    HeaderPolicy,
    RejectedRequest,
    Sanitized,
    sanitize_request,
    sanitize_response,
    sanitize_response_head,
)
from originverify.edge.tls import HandshakeError, TLSProtocol
from originverify.edge.upstream import UpstreamConnection, UpstreamError, UpstreamPool

if TYPE_CHECKING:  # pragma: no cover
    from originverify.signatures import EnvelopeSigner

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
    505: b"HTTP Version Not Supported",
}
# Access-log codes for exchanges that ended without a complete response (nginx conventions):
# the client went away, or the edge had to cut the connection.
CLIENT_CLOSED = 499
CUT = 444
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# How the response body is framed toward the client.
_NO_BODY, _LENGTH, _CHUNKED, _UNTIL_CLOSE = range(4)


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

    def __init__(
        self,
        config: EdgeConfig,
        ssl_context: SSL.Context,
        access_log: AccessLog,
        signer: EnvelopeSigner | None = None,
    ) -> None:
        self.config = config
        self.limits = config.limits
        self.ssl_context = ssl_context
        self.access_log = access_log
        self.signer = signer
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
        # Connections without a client certificate all carry the same headers; peers repeat.
        self._without_cert = _encode(styles.encode(config.style, None))
        self._anonymous: dict[str, EdgeHeaders] = {}

    def protocol(self) -> TLSProtocol:
        """The ``asyncio`` protocol factory for the listening socket."""
        return TLSProtocol(self.ssl_context, self._connection_made)

    def _connection_made(self, tls: TLSProtocol) -> None:
        conn = ClientConnection(self, tls)
        self.connections.add(conn)
        conn.task = tls.loop.create_task(self._run(conn))

    async def _run(self, conn: ClientConnection) -> None:
        try:
            await conn.run()
        except Exception:
            log.exception("unexpected error on connection from %s", conn.peer_ip)
        finally:
            self.connections.discard(conn)

    def edge_headers(self, peer_ip: str, certs: styles.ClientCertificates | None) -> EdgeHeaders:
        """The headers the edge adds on one connection (the certificate's, computed once)."""
        if certs is not None:
            cert_headers = _encode(styles.encode(self.config.style, certs))
            return EdgeHeaders(peer_ip, self.secret, cert_headers)
        cached = self._anonymous.get(peer_ip)
        if cached is None:
            cached = EdgeHeaders(peer_ip, self.secret, self._without_cert)
            if len(self._anonymous) < 4096:
                self._anonymous[peer_ip] = cached
        return cached

    def start_draining(self) -> None:
        """Stop keep-alive: idle connections close now, busy ones after their response."""
        self.draining = True
        for conn in list(self.connections):
            conn.close_if_idle()


def _encode(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("ascii"), value.encode("ascii")) for name, value in headers]


class ClientConnection:
    """One TLS connection from a client and the requests it carries, one after another."""

    def __init__(self, server: EdgeServer, tls: TLSProtocol) -> None:
        self.server = server
        self.tls = tls
        self.loop = tls.loop
        self.peer_ip = tls.peer_ip
        self.reader = request_reader(server.limits.max_header_bytes)
        self.task: asyncio.Task[None] | None = None
        self.fingerprint = "-"
        self.edge: EdgeHeaders
        self._idle = False
        # Per request: the origin connection, and what the access log will say.
        self._upstream: UpstreamConnection
        self._status = 0
        self._sent = 0
        self._responding = False  # response bytes went out: errors can only cut the connection

    # -- connection life cycle -----------------------------------------------------------------

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

    # -- one request --------------------------------------------------------------------------

    async def _serve(self, request: Message) -> bool:
        """Forward one request; True when the connection may carry another one."""
        started = time.monotonic()
        self._status = 0
        self._sent = 0
        self._responding = False
        keep_alive = False
        try:
            keep_alive = await self._forward(request)
        except (RejectedRequest, ProtocolError, _Abort) as exc:
            self._status = exc.status
            await self._write_error(exc.status, exc.reason, request.method)
        except _Cut as exc:
            self._status = self._status or exc.status
        except asyncio.CancelledError:
            self._status = self._status or CUT
            raise
        finally:
            access_log = self.server.access_log
            if access_log.enabled:
                method = request.method.decode("ascii", "replace")
                target = request.target.decode("ascii", "replace")
                access_log.write(
                    self.peer_ip,
                    f"{method} {target} HTTP/{request.version}",
                    self._status,
                    self.fingerprint,
                    self._sent,
                    time.monotonic() - started,
                )
        return keep_alive

    async def _forward(self, request: Message) -> bool:
        """Send one request to the origin and its response back; True to keep the connection."""
        server = self.server
        if request.method == b"CONNECT":
            raise RejectedRequest(405, "CONNECT is not supported")
        if request.version != "1.1" and request.version != "1.0":
            raise RejectedRequest(505, f"HTTP/{request.version} is not supported")
        sanitized = sanitize_request(request.headers, server.policy)
        if sanitized.host is None and request.version == "1.1":
            raise RejectedRequest(400, "missing Host header")
        cap = server.limits.max_body_bytes
        length = sanitized.content_length
        if cap is not None and length is not None and length > cap:
            raise RejectedRequest(413, f"Content-Length {length} exceeds {cap}")
        head = self._upstream_head(request, sanitized)
        has_body = sanitized.chunked or bool(length)
        replayable = not has_body and request.method in _IDEMPOTENT

        upstream = await self._open_upstream()
        try:
            if has_body:
                expect = sanitized.expect_continue and request.version == "1.1"
                await self._relay_request_body(request, head, sanitized.chunked, cap, expect)
            else:
                self._write_upstream(head)
            response = await self._read_response_head(request, sanitized, replayable)
            keep_alive, reusable = await self._relay_response(request, response)
        except BaseException:
            self._upstream.close()
            raise
        upstream = self._upstream
        if reusable:
            server.pool.release(upstream)
        else:
            upstream.close()
        return keep_alive

    def _upstream_head(self, request: Message, sanitized: Sanitized) -> bytes:
        """The request head as it leaves for the origin: the edge's headers last."""
        host = sanitized.host
        parts = [
            request.method,
            b" ",
            request.target,
            b" HTTP/1.1\r\n",
            header_block(sanitized.headers),
        ]
        if host is None:  # HTTP/1.0 without Host
            host = self.server.upstream_host
            parts.append(b"Host: %s\r\n" % host)
        if sanitized.chunked:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        parts.append(self.edge.block(sanitized))
        signer = self.server.signer
        if signer is not None:
            parts.append(self._signature(signer, request, host))
        parts.append(b"\r\n")
        return b"".join(parts)

    def _signature(self, signer: EnvelopeSigner, request: Message, host: bytes) -> bytes:
        """``Signature-Input`` and ``Signature`` over the request line and the edge's headers."""
        from originverify.signatures import SigningError

        try:
            covered = styles.signed_headers(self.server.config.style, self.edge.signed)
            pairs = signer.sign(request.method, host, request.target, covered)
        except SigningError as exc:
            raise RejectedRequest(400, str(exc)) from None
        return b"".join([b"%s: %s\r\n" % (n.encode("ascii"), v.encode("ascii")) for n, v in pairs])

    async def _open_upstream(self) -> UpstreamConnection:
        upstream = self.server.pool.take()
        if upstream is not None:
            self._upstream = upstream
            return upstream
        try:
            upstream = await self.server.pool.connect()
        except UpstreamError as exc:
            raise _Abort(502, str(exc)) from None
        except TimeoutError:
            raise _Abort(504, "upstream connect timed out") from None
        self._upstream = upstream
        return upstream

    def _write_upstream(self, data: bytes) -> None:
        try:
            self._upstream.write(data)
        except OSError:
            raise _Abort(502, "upstream closed while receiving the request") from None

    async def _drain_upstream(self) -> None:
        upstream = self._upstream
        if upstream.writing_paused:
            upstream.deadline = self.loop.time() + self.server.limits.upstream_read_timeout
            try:
                await upstream.drain()
            except TimeoutError:
                raise _Abort(504, "upstream stopped reading the request body") from None
            except OSError:
                raise _Abort(502, "upstream closed while receiving the request") from None

    async def _relay_request_body(
        self, request: Message, head: bytes, chunked: bool, cap: int | None, expect: bool
    ) -> None:
        tls = self.tls
        reader = self.reader
        idle_timeout = self.server.limits.idle_timeout
        if expect and not request.body and not request.complete:
            # The origin is reachable (we hold a connection): let the client send its body.
            await self._write_interim(_CONTINUE)
        received = 0
        out = [head]
        while True:
            data = request.take_body()
            if data:
                received += len(data)
                if cap is not None and received > cap:
                    raise _Abort(413, f"body exceeds {cap} bytes")
                out.append(chunk(data) if chunked else data)
            if request.complete:  # trailers are not forwarded
                if chunked:
                    out.append(LAST_CHUNK)
                self._write_upstream(b"".join(out))
                await self._drain_upstream()
                return
            if len(out) > 1 or out[0]:
                self._write_upstream(b"".join(out))
                out = [b""]
                await self._drain_upstream()
            if reader.error is not None:
                raise _Abort(reader.error.status, f"malformed request body: {reader.error}")
            tls.deadline = self.loop.time() + idle_timeout
            try:
                data = await tls.recv()
            except TimeoutError:
                raise _Abort(408, "request body stalled") from None
            if not data:
                raise _Cut(CLIENT_CLOSED)
            reader.feed(data)

    async def _read_response_head(
        self, request: Message, sanitized: Sanitized, replayable: bool
    ) -> Message:
        timeout = self.server.limits.upstream_read_timeout
        retried = False
        while True:
            upstream = self._upstream
            upstream.head_only = request.method == b"HEAD"
            reader = upstream.reader
            messages = reader.messages
            try:
                while True:
                    if messages:
                        response = messages[0]
                        if response.status >= 200:
                            return response
                        messages.popleft()
                        if response.status == 101:
                            raise UpstreamError("upstream switched protocols")
                        if response.status != 100 and request.version == "1.1":  # 103
                            await self._write_interim(
                                status_line(response.status, response.reason)
                                + header_block(sanitize_response(response.headers))
                                + b"\r\n"
                            )
                        continue
                    if reader.error is not None:
                        raise UpstreamError(str(reader.error))
                    if reader.upgraded:
                        raise UpstreamError("upstream switched protocols")
                    if upstream.eof:
                        raise UpstreamError("upstream closed before responding")
                    upstream.deadline = self.loop.time() + timeout
                    await upstream.wait()
            except TimeoutError:
                raise _Abort(504, "upstream response timed out") from None
            except (UpstreamError, OSError) as exc:
                # A pooled connection that the origin closed while it sat idle: replay once,
                # only an idempotent bodiless request, only if the origin sent nothing back.
                if upstream.reused and replayable and not retried and upstream.bytes_in == 0:
                    upstream.close()
                    await self._open_upstream()
                    # Built again: a signed request gets a fresh nonce.
                    self._write_upstream(self._upstream_head(request, sanitized))
                    retried = True
                    continue
                raise _Abort(502, f"upstream failed: {exc}") from None

    async def _relay_response(self, request: Message, response: Message) -> tuple[bool, bool]:
        """Relay head and body; returns (keep the client connection, reuse the upstream one)."""
        upstream = self._upstream
        reader = upstream.reader
        head = sanitize_response_head(response.headers)
        coding = head.transfer_encoding
        if coding is not None and coding != b"chunked":
            raise _Abort(502, f"unsupported upstream Transfer-Encoding {coding[:40]!r}")
        status = response.status
        is_head = request.method == b"HEAD"
        http11 = request.version == "1.1"
        keep_alive = (
            request.keep_alive and http11 and not self.server.draining and not self.reader.upgraded
        )
        # The origin's body ends at EOF when it has neither Content-Length nor chunked.
        until_eof = coding is None and not head.content_length
        if is_head or status == 204 or status == 304:
            framing = _NO_BODY
        elif head.content_length:
            framing = _LENGTH
        elif http11:
            framing = _CHUNKED
        else:
            framing = _UNTIL_CLOSE
            keep_alive = False
        parts = [status_line(status, response.reason), header_block(head.headers)]
        if framing == _CHUNKED:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        if not keep_alive:
            parts.append(b"Connection: close\r\n")
        parts.append(b"\r\n")
        self._status = status
        out = [b"".join(parts)]
        if framing == _NO_BODY:
            await self._write_client(out[0])
            reader.messages.popleft()
            # After a HEAD the origin's parser still expects the body the head announced.
            reusable = response.complete and not is_head and response.keep_alive
            return keep_alive, reusable and self._upstream_clean(reader)
        timeout = self.server.limits.upstream_read_timeout
        while True:
            data = response.take_body()
            if data:
                upstream.taken()
                self._sent += len(data)
                out.append(chunk(data) if framing == _CHUNKED else data)
            if response.complete:
                break
            if reader.error is not None:
                log.warning("upstream broke the response body: %s", reader.error)
                raise _Cut(CUT)
            if upstream.eof:
                if until_eof:
                    break
                # Mid-body there is no way to report an error: cut the client connection so
                # the truncation is visible (no last chunk, or a short Content-Length).
                log.warning("upstream closed mid-response")
                raise _Cut(CUT)
            if self._sent and len(out) > 1:
                # Everything received so far leaves in one TLS write before waiting for more.
                # The head waits for the first body bytes (origins often write them
                # separately), so a small response leaves in one write.
                await self._write_client(b"".join(out))
                out.clear()
                continue  # more may have arrived while the client was slow to read
            upstream.deadline = self.loop.time() + timeout
            try:
                await upstream.wait()
            except TimeoutError:
                log.warning("upstream went silent mid-response")
                raise _Cut(CUT) from None
        if framing == _CHUNKED:
            out.append(LAST_CHUNK)
        await self._write_client(b"".join(out))
        reader.messages.popleft()
        reusable = response.keep_alive and not until_eof and self._upstream_clean(reader)
        return keep_alive, reusable

    @staticmethod
    def _upstream_clean(reader: MessageReader) -> bool:
        """Nothing follows the response (no stray bytes, no parse error, no upgrade)."""
        return (
            not reader.messages
            and not reader.mid_message
            and reader.error is None
            and not reader.upgraded
        )

    async def _write_client(self, data: bytes) -> None:
        self._responding = True
        tls = self.tls
        try:
            tls.write(data)
        except (ConnectionError, OSError):
            raise _Cut(CLIENT_CLOSED) from None
        if tls.writing_paused:
            tls.deadline = self.loop.time() + self.server.limits.idle_timeout
            try:
                await tls.drain()
            except (ConnectionError, OSError, TimeoutError):
                raise _Cut(CLIENT_CLOSED) from None

    async def _write_interim(self, data: bytes) -> None:
        """A 1xx response: it does not start the final response."""
        try:
            await self.tls.send(data)
        except (ConnectionError, OSError, TimeoutError):
            raise _Cut(CLIENT_CLOSED) from None

    # -- locally generated responses ----------------------------------------------------------

    async def _reply_error(self, status: int, reason: str, started: float) -> None:
        """An error before a request line could be logged (timeouts, unparsable heads)."""
        if self.server.access_log.enabled:
            self.server.access_log.write(
                self.peer_ip, "-", status, self.fingerprint, 0, time.monotonic() - started
            )
        await self._write_error(status, reason, b"")

    async def _write_error(self, status: int, reason: str, method: bytes) -> None:
        """A short plain-text answer and ``Connection: close``; details go to the log only."""
        log.info("%s: %d %s", self.peer_ip, status, reason)
        if self._responding:
            return  # a response already started; closing the connection is all that is left
        self._responding = True
        phrase = _REASONS.get(status, b"Error")
        body = b"%d %s\n" % (status, phrase)
        data = (
            b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (status, phrase, len(body))
        )
        if method != b"HEAD":
            data += body
        try:
            self.tls.write(data)
        except (ConnectionError, OSError):
            return
