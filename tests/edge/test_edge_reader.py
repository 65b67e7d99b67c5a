"""The request reader on Upgrade requests: a differential property over llhttp itself.

An ``Upgrade`` request is an ordinary request to the forwarder, so a byte stream of pipelined
requests must parse into the same messages (targets, bodies, completeness, keep-alive) whether
or not some of them ask for an upgrade, however the stream is cut into reads. The reference is
the same stream with the upgrade headers renamed, which llhttp parses without the upgrade path.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from originverify.edge.http1 import request_reader

MAX_HEAD = 16384


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    body = draw(st.binary(max_size=300))
    framing = draw(st.sampled_from(["length", "chunked", "none"]))
    if framing == "none":
        body = b""
    upgrade = draw(st.booleans())
    lines = [b"POST /r%d HTTP/1.1" % draw(st.integers(0, 999)), b"Host: h"]
    if upgrade:
        lines += [b"Connection: Upgrade", b"Upgrade: websocket"]
    if framing == "length":
        lines.append(b"Content-Length: %d" % len(body))
        wire = body
    elif framing == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        cut = draw(st.integers(0, len(body)))
        pieces = [p for p in (body[:cut], body[cut:]) if p]
        wire = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        wire = b""
    return b"\r\n".join(lines) + b"\r\n\r\n" + wire


def parse(stream: bytes, cuts: list[int]) -> list[tuple[bytes, bytes, bool, bool]]:
    reader = request_reader(MAX_HEAD)
    start = 0
    for cut in sorted({c % (len(stream) + 1) for c in cuts}) + [len(stream)]:
        reader.feed(stream[start:cut])
        start = cut
    assert reader.error is None and not reader.upgraded
    return [(m.target, b"".join(m.body), m.complete, m.keep_alive) for m in reader.messages]


@settings(max_examples=300, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=5), st.lists(st.integers(0, 4000), max_size=8))
def test_upgrade_requests_parse_like_ordinary_ones(batch: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(batch)
    plain = stream.replace(b"Connection: Upgrade", b"X-Connection: Upgrade").replace(
        b"Upgrade: websocket", b"X-Upgrade: websocket"
    )
    assert parse(stream, cuts) == parse(plain, [])
    assert len(parse(stream, cuts)) == len(batch)


def test_connect_still_stops_parsing() -> None:
    reader = request_reader(MAX_HEAD)
    reader.feed(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    assert reader.upgraded and [m.method for m in reader.messages] == [b"CONNECT"]
