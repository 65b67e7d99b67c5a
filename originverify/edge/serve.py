"""Listening sockets, worker processes, signals and graceful shutdown.

With ``--workers N`` the parent forks N workers that each bind their own ``SO_REUSEPORT``
socket on the same address, so the kernel spreads connections without a shared accept lock and
each worker keeps its own event loop, session cache and upstream pool. The parent only
supervises: it forwards SIGTERM/SIGINT, replaces a worker that crashed, and exits when all
workers have drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import select
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING

from OpenSSL import SSL

from originverify.edge import eventloop
from originverify.edge.accesslog import AccessLog
from originverify.edge.config import Address, EdgeConfig
from originverify.edge.server import EdgeServer
from originverify.edge.tls import build_context

if TYPE_CHECKING:  # pragma: no cover
    from originverify.signatures import EnvelopeSigner

log = logging.getLogger("originverify.edge")

_BACKLOG = 1024
# Workers that keep dying are broken, not unlucky: more than this many replacements within
# the window stops the whole server instead of looping.
_MAX_RESPAWNS = 5
_RESPAWN_WINDOW = 10.0


def bind(address: Address, *, listen: bool = True) -> socket.socket:
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        if listen:
            sock.listen(_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def serve(config: EdgeConfig, signer: EnvelopeSigner | None = None) -> int:
    """Serve until SIGTERM or SIGINT, then drain; returns the process exit status.

    ``signer`` (built once at start-up, see ``cli.load_signer``) signs every forwarded request.
    """
    # Built before forking so a bad certificate or key fails once, loudly, in the parent.
    ctx = build_context(config.mode, config.cert, config.key, config.client_ca)
    if config.workers == 1:
        sock = bind(config.listen)
        _announce(config, Address(config.listen.host, sock.getsockname()[1]), signer)
        return eventloop.run(_worker(config, ctx, signer, sock, ready_fd=None), config.event_loop)
    return _supervise(config, ctx, signer)


def _announce(config: EdgeConfig, address: Address, signer: EnvelopeSigner | None) -> None:
    signing = f", signing as {signer.key_id} ({signer.algorithm})" if signer else ""
    loop = eventloop.resolve(config.event_loop).value
    print(
        f"originverify edge: listening on https://{address} -> http://{config.upstream} "
        f"(mode={config.mode.value}, style={config.style.value}, workers={config.workers}, "
        f"loop={loop}{signing})",
        file=sys.stderr,
        flush=True,
    )


async def _worker(
    config: EdgeConfig,
    ctx: SSL.Context,
    signer: EnvelopeSigner | None,
    sock: socket.socket,
    ready_fd: int | None,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen: list[int] = []

    def on_signal(signum: int) -> None:
        signals_seen.append(signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    access_log = AccessLog.open(config.access_log)
    edge = EdgeServer(config, ctx, access_log, signer)
    server = await loop.create_server(edge.protocol, sock=sock, backlog=_BACKLOG)
    # Everything alive now lives as long as the worker: keep it out of the cyclic garbage
    # collector's full passes, which otherwise walk it again and again under load.
    gc.collect()
    gc.freeze()
    if ready_fd is not None:
        os.write(ready_fd, b".")
        os.close(ready_fd)
    await stop.wait()

    # Stop accepting first, then let every in-flight request finish (a second signal or the
    # drain timeout cuts it short).
    server.close()
    edge.start_draining()
    deadline = loop.time() + config.limits.drain_timeout
    while edge.connections and loop.time() < deadline and len(signals_seen) < 2:
        await asyncio.sleep(0.02)
    for conn in list(edge.connections):
        conn.cancel()
    if edge.connections:
        await asyncio.sleep(0.05)
    edge.pool.close()
    access_log.flush()
    return 0


def _spawn(
    config: EdgeConfig,
    ctx: SSL.Context,
    signer: EnvelopeSigner | None,
    address: Address,
    ready_fd: int,
) -> int:
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        status = eventloop.run(
            _worker(config, ctx, signer, bind(address), ready_fd), config.event_loop
        )
    except BaseException:
        log.exception("worker %d failed", os.getpid())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _supervise(config: EdgeConfig, ctx: SSL.Context, signer: EnvelopeSigner | None) -> int:
    # Bound but not listening: it fixes the port (also for port 0) without taking connections.
    probe = bind(config.listen, listen=False)
    address = Address(config.listen.host, probe.getsockname()[1])
    ready_r, ready_w = os.pipe()
    stopping: list[int] = []
    children: set[int] = set()

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for _ in range(config.workers):
        children.add(_spawn(config, ctx, signer, address, ready_w))
    ready = 0
    deadline = time.monotonic() + 30
    while ready < config.workers and time.monotonic() < deadline and not stopping:
        readable, _, _ = select.select([ready_r], [], [], 0.5)
        if readable:
            ready += len(os.read(ready_r, config.workers))
    probe.close()
    if stopping:
        forward(stopping[0], None)  # reach workers forked after the signal arrived
    elif ready < config.workers:
        log.error("only %d of %d workers started", ready, config.workers)
        forward(signal.SIGTERM, None)
    else:
        _announce(config, address, signer)

    status = 0
    respawns: list[float] = []
    while children:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        if pid not in children:
            continue
        children.discard(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        if stopping:
            status = max(status, 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else 1)
            continue
        now = time.monotonic()
        respawns = [t for t in respawns if now - t < _RESPAWN_WINDOW] + [now]
        if len(respawns) > _MAX_RESPAWNS:
            log.error("workers keep exiting (last: %d with %d); stopping", pid, code)
            status = 1
            forward(signal.SIGTERM, None)
            continue
        log.warning("worker %d exited with %d; starting a new one", pid, code)
        children.add(_spawn(config, ctx, signer, address, ready_w))
    os.close(ready_r)
    os.close(ready_w)
    return status
