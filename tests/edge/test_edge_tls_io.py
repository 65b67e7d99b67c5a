"""``TLSProtocol`` in process, over both of its record paths.

Records normally go through OpenSSL's functions directly (pyOpenSSL's wrappers cost more than
the cryptography for small records); without the pyOpenSSL internals that needs, the public
pyOpenSSL API is used. Both must behave the same: handshake, reads, large writes, close_notify,
and errors surfacing as ``ConnectionError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from OpenSSL import SSL

from originverify.edge import tls
from originverify.edge.config import Mode
from tests.edge.edgekit import Pki


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent = bytearray()
        self.closed = False
        self.paused = False

    def write(self, data: Any) -> None:
        self.sent += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


def _pump(client: SSL.Connection, transport: FakeTransport, server: tls.TLSProtocol) -> None:
    """Move ciphertext both ways once."""
    with contextlib.suppress(SSL.WantReadError):
        server.data_received(client.bio_read(1 << 20))
    if transport.sent:
        client.bio_write(bytes(transport.sent))
        transport.sent.clear()


def _client_read(client: SSL.Connection, transport: FakeTransport) -> bytes:
    client.bio_write(bytes(transport.sent))
    transport.sent.clear()
    out = b""
    while True:
        try:
            out += client.recv(1 << 16)
        except (SSL.WantReadError, SSL.ZeroReturnError):
            return out


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "pyopenssl"])
def test_tls_protocol_round_trip(pki: Pki, monkeypatch: pytest.MonkeyPatch, direct: bool) -> None:
    monkeypatch.setattr(tls, "DIRECT_IO", direct)
    ctx = tls.build_context(
        Mode.PASSTHROUGH, pki.files["server.pem"], pki.files["server.key"], None
    )
    client_ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    client_ctx.use_certificate_chain_file(pki.path("client.pem"))
    client_ctx.use_privatekey_file(pki.path("client.key"))

    async def scenario() -> None:
        server = tls.TLSProtocol(ctx, lambda _: None)
        transport = FakeTransport()
        server.connection_made(transport)
        assert (server._direct is not None) is direct
        client = SSL.Connection(client_ctx, None)
        client.set_connect_state()
        handshake = asyncio.create_task(server.handshake())
        for _ in range(20):
            with contextlib.suppress(SSL.WantReadError):
                client.do_handshake()
            _pump(client, transport, server)
            await asyncio.sleep(0)
            if handshake.done():
                break
        await handshake
        certs = server.client_certificates()
        assert certs is not None
        assert certs.leaf_der == pki.client.der

        # Client to server: two records in one delivery come out one by one.
        client.send(b"GET / HTTP/1.1\r\n")
        client.send(b"Host: x\r\n\r\n")
        server.data_received(client.bio_read(1 << 20))
        assert await server.recv() == b"GET / HTTP/1.1\r\n"
        assert await server.recv() == b"Host: x\r\n\r\n"

        # A read with nothing buffered waits for data.
        pending = asyncio.create_task(server.recv())
        await asyncio.sleep(0)
        assert not pending.done()
        client.send(b"later")
        server.data_received(client.bio_read(1 << 20))
        assert await pending == b"later"

        # Server to client: a write larger than a record arrives whole and in order.
        payload = bytes(range(256)) * 1000
        server.write(payload)
        assert _client_read(client, transport) == payload

        # A read deadline in the past fails the wait with TimeoutError.
        server.deadline = server.loop.time() - 1
        with pytest.raises(TimeoutError):
            await server.recv()
        server.deadline = None

        # close_notify from the client: recv returns b"".
        client.shutdown()
        server.data_received(client.bio_read(1 << 20))
        assert await server.recv() == b""
        server.close()
        assert transport.closed

    asyncio.run(scenario())


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "pyopenssl"])
def test_corrupt_record_is_a_connection_error(
    pki: Pki, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    monkeypatch.setattr(tls, "DIRECT_IO", direct)
    ctx = tls.build_context(
        Mode.PASSTHROUGH, pki.files["server.pem"], pki.files["server.key"], None
    )

    async def scenario() -> None:
        server = tls.TLSProtocol(ctx, lambda _: None)
        transport = FakeTransport()
        server.connection_made(transport)
        client = SSL.Connection(SSL.Context(SSL.TLS_CLIENT_METHOD), None)
        client.set_connect_state()
        handshake = asyncio.create_task(server.handshake())
        for _ in range(20):
            with contextlib.suppress(SSL.WantReadError):
                client.do_handshake()
            _pump(client, transport, server)
            await asyncio.sleep(0)
            if handshake.done():
                break
        await handshake
        assert server.client_certificates() is None
        client.send(b"hello")
        record = bytearray(client.bio_read(1 << 20))
        record[-1] ^= 0xFF  # break the AEAD tag
        server.data_received(bytes(record))
        with pytest.raises(ConnectionError):
            await server.recv()

    asyncio.run(scenario())
