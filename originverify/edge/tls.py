"""TLS termination with pyOpenSSL over memory BIOs, as an asyncio protocol.

Python's ``ssl`` module cannot complete a handshake with a client certificate it did not validate
(it has no verify callback), which is exactly what passthrough mode needs: proof of possession
only. pyOpenSSL exposes ``SSL_CTX_set_verify`` with a callback, and its memory-BIO mode lets the
event loop own the socket while OpenSSL only transforms bytes: ciphertext from
``data_received`` goes into the BIO at once, plaintext comes out of ``recv``, and whatever
OpenSSL wants to send is drained from the BIO into the transport in one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.bindings.openssl.binding import Binding
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL, crypto

from originverify.edge.config import Mode
from originverify.edge.flow import Waitable
from originverify.edge.styles import ClientCertificates

# SSL_read never returns more than one record's plaintext (16 KiB).
_RECORD_SIZE = 16384
# OpenSSL's memory BIO grows as needed; one read of this size takes a whole batch of records
# (a 64 KiB plaintext batch plus record overhead) in one call and one socket write.
_BIO_CHUNK = 69632
# Ciphertext accepted into the BIO before the socket stops being read (back-pressure).
_MAX_BACKLOG = 262144
# Socket write buffer above which the handler waits for the client to read (back-pressure).
_WRITE_HIGH_WATER = 262144
_TLS12_CIPHERS = b"ECDHE+AESGCM:ECDHE+CHACHA20"
_MODE_ENABLE_PARTIAL_WRITE = 0x1  # SSL_MODE_ENABLE_PARTIAL_WRITE (not exported by pyOpenSSL)


# -- the per-record fast path ----------------------------------------------------------------
#
# For small records pyOpenSSL's wrappers cost more than the cryptography itself (a fresh buffer,
# error-queue checks and, for "no data yet", a raised WantReadError on every call): measured,
# 20 µs per keep-alive request against 9 µs calling the same OpenSSL functions directly. So once
# a connection is established, records go through OpenSSL's functions from the cffi bindings
# pyOpenSSL itself uses (cryptography's ``Binding``), on the memory BIOs and SSL object of the
# pyOpenSSL ``Connection`` (its ``_ssl``, ``_into_ssl`` and ``_from_ssl`` attributes, stable since
# pyOpenSSL 0.14). Handshake, certificates and shutdown stay on pyOpenSSL's API, and so does every
# error: when a direct call fails, the same operation is repeated through pyOpenSSL, which raises
# its usual exception. If those attributes ever disappear, the public API is used throughout
# (``test_edge_tls_io.py`` runs both paths).
_ffi: Any = Binding.ffi
_lib: Any = Binding.lib
_SSL_ERROR_WANT_READ = 2
_SSL_ERROR_ZERO_RETURN = 6
# One buffer each per process: the event loop is single-threaded and data is copied out at once.
_READ_BUFFER: Any = _ffi.new("char[]", _RECORD_SIZE)
_OUT_BUFFER: Any = _ffi.new("char[]", _BIO_CHUNK)
DIRECT_IO = True  # tests turn it off to exercise the pyOpenSSL-only path


def _direct(conn: SSL.Connection) -> tuple[Any, Any, Any] | None:
    """The SSL object and memory BIOs behind ``conn``, or None to use pyOpenSSL's API."""
    pointers = (
        getattr(conn, "_ssl", None),
        getattr(conn, "_into_ssl", None),
        getattr(conn, "_from_ssl", None),
    )
    if not DIRECT_IO or any(p is None or not isinstance(p, _ffi.CData) for p in pointers):
        return None
    return pointers


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
    # whose headers were computed once. With OP_NO_TICKET, TLS 1.3 resumption uses stateful
    # tickets that point into the server cache (the chain survives), TLS 1.2 session ids.
    ctx.set_options(
        SSL.OP_NO_COMPRESSION
        | SSL.OP_NO_RENEGOTIATION
        | SSL.OP_NO_TICKET
        | SSL.OP_CIPHER_SERVER_PREFERENCE
    )
    ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
    # pyOpenSSL turns partial writes on (SSL_write returning after one record); into a memory
    # BIO a write can always complete, so one call encrypts a whole batch.
    ctx.clear_mode(_MODE_ENABLE_PARTIAL_WRITE)
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


class TLSProtocol(Waitable):
    """One server-side TLS connection: ciphertext from the socket, plaintext to the handler.

    ``on_connect(protocol)`` is called once the transport exists; it starts the handler task,
    which then calls ``handshake``, ``recv``, ``write``/``drain`` and ``close``.
    """

    transport: asyncio.Transport

    def __init__(self, ctx: SSL.Context, on_connect: Callable[[TLSProtocol], None]) -> None:
        self._ctx = ctx
        self._on_connect = on_connect
        self._ssl = SSL.Connection(ctx, None)
        self._ssl.set_accept_state()
        self._direct = _direct(self._ssl)
        self._backlog = 0  # ciphertext put into the BIO since OpenSSL last ran dry
        self._reading_paused = False
        self._writing_paused = False
        self._eof = False
        self.closed = False
        self._established = False
        self.peer_ip = "-"

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not subclasses of asyncio.Transport).
        self.transport = stream = cast(asyncio.Transport, transport)
        self._init_waiting(asyncio.get_running_loop())
        stream.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer_ip = peer[0]
        self._on_connect(self)

    def data_received(self, data: bytes) -> None:
        direct = self._direct
        if direct is None or _lib.BIO_write(direct[1], data, len(data)) != len(data):
            self._ssl.bio_write(data)
        self._backlog += len(data)
        if self._backlog > _MAX_BACKLOG and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return True  # keep the transport open: the response may still be written

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._eof = True
        self._writing_paused = False
        self._stop_timer()
        self._wake()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake()

    # -- for the handler ----------------------------------------------------------------------

    def _ran_dry(self) -> None:
        """OpenSSL consumed what the BIO held: accept more ciphertext from the socket."""
        self._backlog = 0
        if self._reading_paused and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()

    def _flush(self) -> None:
        """Move whatever OpenSSL produced (records, alerts) to the socket buffer."""
        direct = self._direct
        if direct is not None:
            while True:
                size = _lib.BIO_read(direct[2], _OUT_BUFFER, _BIO_CHUNK)
                if size <= 0 or self.closed:
                    return  # empty (a memory BIO read never fails otherwise)
                self.transport.write(_ffi.buffer(_OUT_BUFFER, size)[:])
                if size < _BIO_CHUNK:
                    return
        ssl = self._ssl
        while True:
            try:
                out = ssl.bio_read(_BIO_CHUNK)
            except SSL.WantReadError:
                return
            if self.closed:
                return
            self.transport.write(out)
            if len(out) < _BIO_CHUNK:
                return  # a memory BIO hands out all it holds: it is empty now

    async def handshake(self) -> None:
        ssl = self._ssl
        while self._backlog == 0 and not self._eof:
            await self.wait()  # nothing to do before the ClientHello arrives
        direct = self._direct
        while True:
            if direct is not None:
                # The common outcomes without pyOpenSSL's exceptions; anything else is
                # repeated through pyOpenSSL below, which raises the precise error.
                result = _lib.SSL_do_handshake(direct[0])
                if result == 1:
                    self._established = True
                    self._flush()
                    return
                if _lib.SSL_get_error(direct[0], result) == _SSL_ERROR_WANT_READ:
                    self._flush()
                    self._ran_dry()
                    if self._eof:
                        raise HandshakeError("client closed the connection during the handshake")
                    await self.wait()
                    continue
            try:
                ssl.do_handshake()
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
            self._ran_dry()
            if self._eof:
                raise HandshakeError("client closed the connection during the handshake")
            await self.wait()

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
        """Next plaintext bytes; ``b""`` once the client closed (with or without close_notify).

        Waits until data arrives or ``deadline`` passes (``TimeoutError``).
        """
        direct = self._direct
        if direct is not None:
            ssl_ptr = direct[0]
            while True:
                size = _lib.SSL_read(ssl_ptr, _READ_BUFFER, _RECORD_SIZE)
                if size > 0:
                    plaintext: bytes = _ffi.buffer(_READ_BUFFER, size)[:]
                    return plaintext
                error = _lib.SSL_get_error(ssl_ptr, size)
                if error == _SSL_ERROR_WANT_READ:
                    if self._eof:
                        return b""
                    self._ran_dry()
                    await self.wait()
                elif error == _SSL_ERROR_ZERO_RETURN:
                    return b""
                else:
                    break  # let pyOpenSSL read it again and raise its precise exception
        ssl = self._ssl
        while True:
            try:
                return ssl.recv(_RECORD_SIZE)
            except SSL.WantReadError:
                if self._eof:
                    return b""
                self._ran_dry()
                await self.wait()
            except SSL.ZeroReturnError:
                return b""
            except SSL.Error as exc:
                raise ConnectionError(_describe(exc)) from None

    def write(self, data: bytes) -> None:
        """Encrypt and queue plaintext; ``writing_paused`` says whether to ``drain``."""
        if self.closed or self.transport.is_closing():
            raise ConnectionError("client connection closed")
        direct = self._direct
        sent = 0
        if direct is not None:
            sent = max(0, _lib.SSL_write(direct[0], data, len(data)))
        try:
            if sent < len(data):  # the pyOpenSSL path, or a repeat that raises the error
                sent += self._ssl.send(memoryview(data)[sent:])
            if sent < len(data):  # only if partial writes were on after all
                self._ssl.sendall(memoryview(data)[sent:])
        except SSL.Error as exc:
            raise ConnectionError(_describe(exc)) from None
        self._flush()

    @property
    def writing_paused(self) -> bool:
        return self._writing_paused

    async def drain(self) -> None:
        """Wait until the client has read enough of what was written (``deadline`` applies)."""
        while self._writing_paused and not self.closed:
            await self.wait()
        if self.closed:
            raise ConnectionError("client connection closed")

    async def send(self, data: bytes) -> None:
        self.write(data)
        if self._writing_paused:
            await self.drain()

    def abort(self) -> None:
        self._stop_timer()
        if not self.closed:
            self.transport.abort()

    def close(self) -> None:
        """Send close_notify when possible; it also keeps the session resumable in the cache."""
        self._stop_timer()
        if self._established and not self.closed and not self.transport.is_closing():
            with contextlib.suppress(SSL.Error):
                self._ssl.shutdown()
            self._flush()
        elif self._established:
            # The peer is gone; mark the session cleanly closed so OpenSSL keeps it cached.
            self._ssl.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)
        # The transport sends what is buffered, then closes; nothing to wait for here.
        if not self.closed:
            self.transport.close()


def _describe(exc: SSL.Error) -> str:
    details = [str(part) for part in exc.args[0]] if exc.args and exc.args[0] else []
    return "; ".join(details) or type(exc).__name__
