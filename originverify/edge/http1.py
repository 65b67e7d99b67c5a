"""HTTP/1.1 messages in and out: llhttp (through httptools) parses, byte joins serialise.

Parsing: one ``MessageReader`` per direction of a connection (requests from the client,
responses from the origin). ``feed`` hands it bytes as they arrive; llhttp calls back with the
request line or status line, each header, body pieces and the end of each message, which land
in ``Message`` objects queued in ``messages`` (pipelined requests queue up; the proxy reads
more only when the first message needs it, so the queue stays bounded). llhttp is strict by
default: it refuses obs-fold, bare CR or LF, invalid name and value characters, a
Content-Length that is not a single decimal number, duplicate Content-Length,
Content-Length together with Transfer-Encoding, and malformed chunks. What it leaves to the
caller is checked here or in ``hygiene`` (head size, missing or duplicate ``Host``, HTTP
versions, transfer codings other than ``chunked``).

``Upgrade`` is not supported, so a request that asks for one is an ordinary request: llhttp
(as httptools drives it) stops at the end of such a head and would skip its body, so the reader
hands the rest of the bytes to a fresh parser, primed with a head that carries only the
request's own framing headers. llhttp then checks that framing and delimits the body exactly as
for any request, and pipelined requests after it are parsed as usual. Only ``CONNECT`` stops
parsing (``upgraded``); the proxy refuses it and closes.

A parse error does not surface at once: messages completed before it are still served, and
``error`` is raised when the caller needs the message that broke.

Serialising: outgoing heads are joined from bytes that are already valid, because each came
out of llhttp or was built by the edge and checked once (``styles.encode``); nothing is
re-validated per request.
"""

from __future__ import annotations

import re
from collections import deque

import httptools


class ProtocolError(Exception):
    """The peer broke HTTP/1.1; ``status`` is what a client is answered with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Message:
    """One request or response: its head once ``head_done``, body pieces as they arrive."""

    __slots__ = (
        "body",
        "complete",
        "headers",
        "keep_alive",
        "method",
        "reason",
        "status",
        "target",
        "version",
    )

    def __init__(self) -> None:
        self.method = b""
        self.target = b""
        self.status = 0
        self.reason = b""
        self.version = "1.1"
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []  # pieces not yet taken by the proxy
        self.complete = False
        self.keep_alive = False

    def take_body(self) -> bytes:
        """The body bytes received so far and not yet taken."""
        pieces = self.body
        if not pieces:
            return b""
        self.body = []
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class MessageReader:
    """Incremental parser for one direction of a connection (llhttp callbacks below).

    Limits: a head (request or status line plus headers) larger than ``max_head`` is refused
    with 431; so is a head that keeps growing without completing. In a body, framing bytes that
    carry no data (chunk-size lines, extensions, trailers) are bounded by ``max_head`` too.
    Trailers are parsed and dropped.
    """

    __slots__ = (
        "_current",
        "_head_size",
        "_in_head",
        "_max_head",
        "_parser",
        "_priming",
        "_progress",
        "_resume",
        "_stalled",
        "error",
        "messages",
        "upgraded",
    )

    def __init__(
        self,
        parser: type[httptools.HttpRequestParser | httptools.HttpResponseParser],
        max_head: int,
    ) -> None:
        self._parser = parser(self)
        self._max_head = max_head
        self.messages: deque[Message] = deque()
        self.error: ProtocolError | None = None
        self.upgraded = False  # llhttp stopped at an Upgrade/CONNECT: nothing more is parsed
        self._current: Message | None = None
        self._in_head = True  # between messages counts as "in a head"
        self._head_size = 0
        self._progress = 0  # grows with every callback that shows the peer is progressing
        self._stalled = 0  # bytes fed since the last progress
        # The framing head to resume parsing with after llhttp stopped at an Upgrade request.
        self._resume: bytes | None = None
        self._priming = False  # feeding that head: its callbacks are not a new message

    @property
    def mid_message(self) -> bool:
        """A message has started and is not complete (or bytes of one are pending)."""
        return self._current is not None or self._stalled > 0

    def feed(self, data: bytes) -> None:
        if self.error is not None or self.upgraded:
            return
        progress = self._progress
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self._resume is None:
                self.upgraded = True
            else:
                self._resume_after_upgrade(data[exc.args[0] :])
            return
        except httptools.HttpParserError as exc:
            if self.error is None:  # a callback may have set a more precise one
                self.error = ProtocolError(400, f"malformed message: {exc}")
            return
        if self._progress != progress:
            self._stalled = 0
            return
        self._stalled += len(data)
        if self._in_head:
            if self._head_size + self._stalled > self._max_head:
                self.error = ProtocolError(431, f"head exceeds {self._max_head} bytes")
        elif self._stalled > self._max_head:
            self.error = ProtocolError(400, "chunk framing or trailers too large")

    def _resume_after_upgrade(self, rest: bytes) -> None:
        """Parse on with a fresh llhttp, primed with the upgrade request's framing headers."""
        framing = self._resume
        assert framing is not None
        self._resume = None
        self._progress += 1
        self._parser = type(self._parser)(self)
        self._priming = True
        try:
            self._parser.feed_data(framing)
        except httptools.HttpParserError as exc:
            self.error = ProtocolError(400, f"malformed message: {exc}")
            return
        finally:
            self._priming = False
        if rest:
            self.feed(rest)

    # -- llhttp callbacks (through httptools) -------------------------------------------------

    def on_message_begin(self) -> None:
        if self._priming:
            return
        self._current = Message()
        self._head_size = 0
        self._progress += 1

    def on_url(self, url: bytes) -> None:
        if self._priming:
            return
        assert self._current is not None
        self._current.target += url
        self._head_size += len(url)
        self._progress += 1

    def on_status(self, status: bytes) -> None:
        assert self._current is not None
        self._current.reason += status
        self._head_size += len(status)
        self._progress += 1

    def on_header(self, name: bytes, value: bytes) -> None:
        message = self._current
        assert message is not None
        self._progress += 1
        if not self._in_head:
            return  # a trailer field: not forwarded
        # llhttp strips leading whitespace of a value but keeps trailing whitespace.
        message.headers.append((name, value.rstrip()))
        self._head_size += len(name) + len(value) + 4

    def on_headers_complete(self) -> None:
        message = self._current
        assert message is not None
        if self._priming:
            return
        if self._head_size + 16 > self._max_head:
            self.error = ProtocolError(431, f"head of {self._head_size + 16} bytes")
            raise _Stop
        self._in_head = False
        self._progress += 1
        parser = self._parser
        message.version = parser.get_http_version()
        message.keep_alive = parser.should_keep_alive()
        self._head_done(message)
        if parser.should_upgrade() and message.method not in (b"", b"CONNECT"):
            self._resume = _framing_head(message)
        self.messages.append(message)

    def _head_done(self, message: Message) -> None:
        raise NotImplementedError

    def on_body(self, body: bytes) -> None:
        assert self._current is not None
        self._current.body.append(body)
        self._progress += 1

    def on_message_complete(self) -> None:
        if self._resume is not None:
            return  # llhttp skipping the body of an Upgrade request: not the end of it
        assert self._current is not None
        self._current.complete = True
        self._current = None
        self._in_head = True
        self._head_size = 0
        self._progress += 1


_FRAMING = frozenset({b"content-length", b"transfer-encoding"})


def _framing_head(message: Message) -> bytes:
    """A head with only the framing of ``message``: llhttp delimits the body from it."""
    lines = [b"%s: %s\r\n" % (n, v) for n, v in message.headers if n.lower() in _FRAMING]
    if not message.keep_alive:
        lines.append(b"Connection: close\r\n")
    return b"".join([b"PUT / HTTP/1.1\r\n", *lines, b"\r\n"])


class _Stop(Exception):
    """Raised from a callback to stop llhttp; the reader's ``error`` says why."""


class _RequestReader(MessageReader):
    __slots__ = ()

    def _head_done(self, message: Message) -> None:
        parser = self._parser
        assert isinstance(parser, httptools.HttpRequestParser)
        message.method = parser.get_method()


class _ResponseReader(MessageReader):
    __slots__ = ()

    def _head_done(self, message: Message) -> None:
        parser = self._parser
        assert isinstance(parser, httptools.HttpResponseParser)
        message.status = parser.get_status_code()


def request_reader(max_head: int) -> MessageReader:
    """Requests from a client."""
    return _RequestReader(httptools.HttpRequestParser, max_head)


def response_reader(max_head: int) -> MessageReader:
    """Responses from the origin."""
    return _ResponseReader(httptools.HttpResponseParser, max_head)


# -- serialising ------------------------------------------------------------------------------


def header_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """``Name: value\\r\\n`` lines for headers that are already valid."""
    return b"".join([b"%s: %s\r\n" % pair for pair in headers])


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"

_REASON = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_STATUS_LINES: dict[tuple[int, bytes], bytes] = {}


def status_line(status: int, reason: bytes) -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``, cached (few distinct lines ever occur)."""
    line = _STATUS_LINES.get((status, reason))
    if line is None:
        if not _REASON.fullmatch(reason):
            reason = b""
        line = b"HTTP/1.1 %d %s\r\n" % (status, reason)
        if len(_STATUS_LINES) < 1024:
            _STATUS_LINES[(status, reason)] = line
    return line
