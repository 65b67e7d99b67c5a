"""Per-worker state: the listening protocol factory, the client connections, the origin pool."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from OpenSSL import SSL

from originverify.edge import styles
from originverify.edge.accesslog import AccessLog
from originverify.edge.config import EdgeConfig
from originverify.edge.connection import ClientConnection
from originverify.edge.hygiene import EdgeHeaders, HeaderPolicy
from originverify.edge.tls import TLSProtocol
from originverify.edge.upstream import UpstreamPool

if TYPE_CHECKING:  # pragma: no cover
    from originverify.signatures import EnvelopeSigner

log = logging.getLogger("originverify.edge")


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
