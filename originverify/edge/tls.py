"""TLS termination with pyOpenSSL over memory BIOs, driven by asyncio streams.

Python's ``ssl`` module cannot complete a handshake with a client certificate it did not validate
(it has no verify callback), which is exactly what passthrough mode needs: proof of possession
only. pyOpenSSL exposes ``SSL_CTX_set_verify`` with a callback, and its memory-BIO mode lets the
event loop own the socket while OpenSSL only transforms bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL, crypto

from originverify.edge.config import Mode
from originverify.edge.styles import ClientCertificates

_READ_SIZE = 65536
# SSL_read never returns more than one record's plaintext (16 KiB).
_RECORD_SIZE = 16384
# OpenSSL's memory BIO grows as needed; one read of this size takes a whole batch of records
# (a 64 KiB plaintext batch plus record overhead) in one call and one socket write.
_BIO_CHUNK = 69632
_TLS12_CIPHERS = b"ECDHE+AESGCM:ECDHE+CHACHA20"


class HandshakeError(Exception):
    """The client did not complete a handshake this mode accepts."""


def _accept_any(
    _conn: SSL.Connection, _cert: crypto.X509, _errno: int, _depth: int, _ok: int
) -> bool:
    # Passthrough: the handshake has already proved possession of the leaf's key
    # (CertificateVerify); judging the chain is the origin's job.
    return True


def build_context(mode: Mode, cert: Path, key: Path, client_ca: Path | None) -> SSL.Context:
    """A server context for one mode.

    Session resumption uses OpenSSL's in-memory server cache (stateful), not stateless tickets:
    measured with OpenSSL 3.0, a session resumed from a stateless ticket carries the peer's leaf
    but not its chain, so ``Client-Cert-Chain`` would silently vanish on resumed connections.
    """
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_max_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_cipher_list(_TLS12_CIPHERS)
    # No renegotiation: a client must not swap certificates under an established connection
    # whose headers were computed once.
    ctx.set_options(
        SSL.OP_NO_COMPRESSION
        | SSL.OP_NO_RENEGOTIATION
        | SSL.OP_NO_TICKET
        | SSL.OP_CIPHER_SERVER_PREFERENCE
    )
    ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
    ctx.use_certificate_chain_file(str(cert))
    ctx.use_privatekey_file(str(key))
    ctx.check_privatekey()
    ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
    ctx.set_timeout(300)
    # The session-id context scopes resumption: a session made under another mode or trust
    # store must not resume here.
    ca_digest = hashlib.sha256(client_ca.read_bytes()).digest() if client_ca else b""
    ctx.set_session_id(hashlib.sha256(mode.value.encode() + ca_digest).digest()[:32])
    if mode is Mode.PASSTHROUGH:
        ctx.set_verify(SSL.VERIFY_PEER, _accept_any)
    else:
        assert client_ca is not None
        ctx.load_verify_locations(str(client_ca))
        ctx.load_client_ca(str(client_ca).encode())
        flags = SSL.VERIFY_PEER
        if mode is Mode.REQUIRED:
            flags |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
        ctx.set_verify(flags)  # OpenSSL's own chain validation, no Python callback
    return ctx


class TLSStream:
    """One server-side TLS connection: ciphertext on an asyncio stream, plaintext to callers."""

    __slots__ = ("_established", "_reader", "_ssl", "_writer")

    def __init__(
        self, ctx: SSL.Context, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._ssl = SSL.Connection(ctx, None)
        self._ssl.set_accept_state()
        self._reader = reader
        self._writer = writer
        self._established = False

    def _flush(self) -> None:
        """Move whatever OpenSSL produced (records, alerts) to the socket buffer."""
        ssl = self._ssl
        writer = self._writer
        while True:
            try:
                out = ssl.bio_read(_BIO_CHUNK)
            except SSL.WantReadError:
                return
            if writer.is_closing():
                return
            writer.write(out)
            if len(out) < _BIO_CHUNK:
                return  # a memory BIO hands out all it holds: it is empty now

    async def handshake(self) -> None:
        while True:
            try:
                self._ssl.do_handshake()
            except SSL.WantReadError:
                pass
            except SSL.Error as exc:
                self._flush()  # deliver the alert so the client learns why
                raise HandshakeError(_describe(exc)) from None
            else:
                self._established = True
                self._flush()
                return
            self._flush()
            data = await self._reader.read(_READ_SIZE)
            if not data:
                raise HandshakeError("client closed the connection during the handshake")
            self._ssl.bio_write(data)

    def client_certificates(self) -> ClientCertificates | None:
        leaf = self._ssl.get_peer_certificate(as_cryptography=True)
        if leaf is None:
            return None
        # On the server side OpenSSL's peer chain excludes the leaf and keeps the order the
        # client sent (TLS order).
        chain = self._ssl.get_peer_cert_chain(as_cryptography=True) or []
        return ClientCertificates(
            leaf.public_bytes(Encoding.DER),
            tuple(c.public_bytes(Encoding.DER) for c in chain),
        )

    @property
    def protocol(self) -> str:
        return self._ssl.get_protocol_version_name()

    async def recv(self) -> bytes:
        """Next plaintext bytes; ``b""`` once the client closed (with or without close_notify)."""
        ssl = self._ssl
        while True:
            try:
                return ssl.recv(_RECORD_SIZE)
            except SSL.WantReadError:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    return b""
                ssl.bio_write(data)
            except SSL.ZeroReturnError:
                return b""
            except SSL.Error as exc:
                raise ConnectionError(_describe(exc)) from None

    def recv_buffered(self) -> bytes:
        """Plaintext that can be had without waiting (used to batch small reads)."""
        try:
            return self._ssl.recv(_RECORD_SIZE)
        except (SSL.WantReadError, SSL.ZeroReturnError):
            return b""

    def write(self, data: bytes) -> None:
        """Queue plaintext; call ``drain`` to apply back-pressure."""
        if self._writer.is_closing():
            raise ConnectionError("client connection closed")
        try:
            self._ssl.sendall(data)
        except SSL.Error as exc:
            raise ConnectionError(_describe(exc)) from None
        self._flush()

    async def drain(self) -> None:
        await self._writer.drain()

    async def send(self, data: bytes) -> None:
        self.write(data)
        await self._writer.drain()

    async def aclose(self) -> None:
        """Send close_notify when possible; it also keeps the session resumable in the cache."""
        if self._established and not self._writer.is_closing():
            with contextlib.suppress(SSL.Error):
                self._ssl.shutdown()
            self._flush()
        elif self._established:
            # The peer is gone; mark the session cleanly closed so OpenSSL keeps it cached.
            self._ssl.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)
        # The transport sends what is buffered, then closes; nothing to wait for here.
        self._writer.close()


def _describe(exc: SSL.Error) -> str:
    details = [str(part) for part in exc.args[0]] if exc.args and exc.args[0] else []
    return "; ".join(details) or type(exc).__name__
