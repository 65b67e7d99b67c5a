"""The HTTP/1.1 proxy: one request's trip from a client connection to the origin and back.

Per request, top to bottom (``RequestProxy._forward``): parse the head (llhttp), apply the
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

from originverify.edge.framing import (
    CHUNKED,
    NO_BODY,
    error_response,
    frame_response,
    request_head,
)
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
    RejectedRequest,
    Sanitized,
    sanitize_request,
    sanitize_response,
)
from originverify.edge.tls import TLSProtocol
from originverify.edge.upstream import UpstreamConnection, UpstreamError

if TYPE_CHECKING:  # pragma: no cover
    from originverify.edge.server import EdgeServer

log = logging.getLogger("originverify.edge")

# Access-log codes for exchanges that ended without a complete response (nginx conventions):
# the client went away, or the edge had to cut the connection.
CLIENT_CLOSED = 499
CUT = 444
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


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


class RequestProxy:
    """The per-request half of a client connection (``connection.ClientConnection``)."""

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
                sent = await self._relay_request_body(request, head, sanitized.chunked, cap, expect)
            else:
                self._write_upstream(head)
                sent = True
            response = await self._read_response_head(request, sanitized, replayable)
            keep_alive, reusable = await self._relay_response(request, response)
        except BaseException:
            self._upstream.close()
            raise
        # The pool invariant: an origin connection is reused only when the request went out
        # whole (head and its complete body) and the response was read to its delimited end
        # (``reusable``). Anything else leaves the origin's parser in an unknown place: the
        # next request on it could be read as the rest of this one.
        upstream = self._upstream
        if sent and reusable:
            server.pool.release(upstream)
        else:
            upstream.close()
        return keep_alive

    def _upstream_head(self, request: Message, sanitized: Sanitized) -> bytes:
        server = self.server
        return request_head(
            request, sanitized, self.edge, server.upstream_host, server.signer, server.config.style
        )

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

    async def _drain_upstream(self) -> bool:
        """Wait while the origin is slow to read; False when it answered instead, with part
        of the request still unsent."""
        upstream = self._upstream
        if upstream.writing_paused:
            upstream.deadline = self.loop.time() + self.server.limits.upstream_read_timeout
            try:
                await upstream.drain()
            except TimeoutError:
                raise _Abort(504, "upstream stopped reading the request body") from None
            except OSError:
                if not upstream.answered:
                    raise _Abort(502, "upstream closed while receiving the request") from None
        return not (upstream.answered and upstream.unsent())

    async def _relay_request_body(
        self, request: Message, head: bytes, chunked: bool, cap: int | None, expect: bool
    ) -> bool:
        """Stream the body to the origin. False when the origin answered before all of it
        went out (e.g. 401, 413): the answer is relayed and no more is sent; whether the
        origin reads or skips the rest is unknown, so its connection is not reused (nor the
        client's, if its body was not read whole)."""
        tls = self.tls
        reader = self.reader
        upstream = self._upstream
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
            if request.complete and chunked:  # trailers are not forwarded
                out.append(LAST_CHUNK)
            if upstream.answered:
                return False
            if reader.error is not None and not request.complete:
                # Malformed framing: nothing more goes out, and the origin connection is
                # closed without the last chunk (docs/edge.md, "Malformed bodies").
                raise _Abort(reader.error.status, f"malformed request body: {reader.error}")
            if len(out) > 1 or out[0]:
                self._write_upstream(b"".join(out))
                out = [b""]
                if not await self._drain_upstream():
                    return False
            if request.complete:
                return True
            tls.deadline = self.loop.time() + idle_timeout
            try:
                more = await self._more_body_or_answer()
            except TimeoutError:
                raise _Abort(408, "request body stalled") from None
            if more is None:
                return False  # the origin answered while the client was quiet
            if not more:
                raise _Cut(CLIENT_CLOSED)
            reader.feed(more)

    async def _more_body_or_answer(self) -> bytes | None:
        """The client's next bytes, or None if the origin answers first: an origin refusing
        an upload is relayed at once, even while the client pauses."""
        upstream = self._upstream
        upstream.deadline = None  # the client's deadline bounds this wait
        while not upstream.answered:
            receiving = self.loop.create_task(self.tls.recv())
            answer = upstream.wait()
            try:
                await asyncio.wait((receiving, answer), return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not receiving.done():
                    receiving.cancel()
            if receiving.done() and not receiving.cancelled():
                return receiving.result()
        return None

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
        # A request whose body was not read whole ends the client connection: the rest of
        # that body must not be parsed as the next request.
        keep_alive = request.keep_alive and request.complete and not self.server.draining
        framed = frame_response(request, response, keep_alive and not self.reader.upgraded)
        keep_alive = framed.keep_alive
        self._status = response.status
        out = [framed.head]
        if framed.framing == NO_BODY:
            await self._write_client(out[0])
            reader.messages.popleft()
            # After a HEAD the origin's parser still expects the body the head announced.
            is_head = request.method == b"HEAD"
            reusable = response.complete and not is_head and response.keep_alive
            return keep_alive, reusable and self._upstream_clean(reader)
        chunked = framed.framing == CHUNKED
        timeout = self.server.limits.upstream_read_timeout
        while True:
            data = response.take_body()
            if data:
                upstream.taken()
                self._sent += len(data)
                out.append(chunk(data) if chunked else data)
            if response.complete:
                break
            if reader.error is not None:
                log.warning("upstream broke the response body: %s", reader.error)
                raise _Cut(CUT)
            if upstream.eof:
                if framed.until_eof:
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
        if chunked:
            out.append(LAST_CHUNK)
        await self._write_client(b"".join(out))
        reader.messages.popleft()
        reusable = response.keep_alive and not framed.until_eof and self._upstream_clean(reader)
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

    async def _write_error(self, status: int, reason: str, method: bytes) -> None:
        """A short plain-text answer and ``Connection: close``; details go to the log only."""
        log.info("%s: %d %s", self.peer_ip, status, reason)
        if self._responding:
            return  # a response already started; closing the connection is all that is left
        self._responding = True
        data = error_response(status, method)
        try:
            self.tls.write(data)
        except (ConnectionError, OSError):
            return
