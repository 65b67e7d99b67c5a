#!/usr/bin/env python3
"""Revocation under faults, as same-run ratios: does a sick CRL server slow anyone else?

Two CAs, each with its CRL served over HTTP on 127.0.0.1 and refreshed every
``--interval`` seconds. We revoke a certificate of CA "fast" by publishing a new CRL and
measure how long until ``Revocation.check`` refuses it, with CA "slow"'s server:
  healthy   answering normally
  drip      dripping its CRL one byte every 0.5 s (a per-read timeout never trips)
  hang      accepting the connection and never answering
The ratio drip/healthy and hang/healthy should stay near 1 (sources refresh independently;
the issue's outside run measured 25.6 s against ~2.3 s before). Also: how long ``close()``
takes while a fetch hangs (each fetch has a 60 s total deadline here).
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from originverify import VerificationError
from originverify.devpki import CertificateAuthority
from originverify.revocation import Revocation


def crl(ca: CertificateAuthority, number: int, revoked: list[int]) -> bytes:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + timedelta(days=1))
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
        )
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(Encoding.DER)  # type: ignore[arg-type]


class Server:
    """Serves ``bodies[path]``; ``faults[path]`` = "drip" or "hang" misbehaves instead."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.faults: dict[str, str] = {}
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}{path}"

    def _accept(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            path = request.split(b" ")[1].decode()
            body = self.bodies[path]
            reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            fault = self.faults.get(path)
            try:
                if fault == "hang":
                    self.stop.wait(120)
                elif fault == "drip":
                    for byte in reply:
                        if self.stop.wait(0.5):
                            return
                        conn.sendall(bytes([byte]))
                else:
                    conn.sendall(reply)
            except OSError:
                pass


def time_to_apply(fault: str | None, interval: float, limit: float) -> float:
    """Seconds from publishing the revocation to its enforcement (``limit`` if later)."""
    root = CertificateAuthority.root_ca("bench root")
    fast, slow = root.intermediate("fast ca"), root.intermediate("slow ca")
    device = fast.issue("device")
    server = Server()
    server.bodies = {"/fast.crl": crl(fast, 1, []), "/slow.crl": crl(slow, 1, [])}
    revocation = Revocation(
        crl_urls=[server.url("/fast.crl"), server.url("/slow.crl")],
        refresh_interval=interval,
        min_refresh_interval=interval / 2,
        fetch_timeout=60,
    )
    path = [device.cert, fast.cert, root.cert]
    if fault:
        server.faults["/slow.crl"] = fault
    with revocation:
        time.sleep(interval * 2)  # the slow source is now stuck in a fetch
        start = time.monotonic()
        server.bodies["/fast.crl"] = crl(fast, 2, [device.cert.serial_number])
        elapsed = limit
        while time.monotonic() - start < limit:
            try:
                revocation.check(path, datetime.now(UTC))
            except VerificationError:
                elapsed = time.monotonic() - start
                break
            time.sleep(0.01)
        server.stop.set()  # let a stuck fetch end before close()
    return elapsed


def close_latency() -> float:
    root = CertificateAuthority.root_ca("bench root")
    ca = root.intermediate("ca")
    server = Server()
    server.bodies = {"/c.crl": crl(ca, 1, [])}
    revocation = Revocation(
        crl_urls=[server.url("/c.crl")], refresh_interval=0.1, min_refresh_interval=0.05
    )
    server.faults["/c.crl"] = "hang"
    revocation.start()
    time.sleep(0.5)
    start = time.monotonic()
    revocation.close()
    elapsed = time.monotonic() - start
    server.stop.set()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0, help="refresh interval, s")
    parser.add_argument("--limit", type=float, default=30.0, help="give up after, s")
    args = parser.parse_args()
    logging.getLogger("originverify").setLevel(logging.CRITICAL)  # the faults are expected
    cases: dict[str, list[float]] = {"healthy": [], "drip": [], "hang": []}
    for _ in range(args.rounds):
        for name in cases:
            fault = None if name == "healthy" else name
            cases[name].append(time_to_apply(fault, args.interval, args.limit))
    med = {name: statistics.median(values) for name, values in cases.items()}
    print("## Revocation under faults: time until a published revocation is enforced\n")
    print(f"refresh interval {args.interval:g} s, {args.rounds} rounds, median.\n")
    print("| other CA's CRL server | seconds (this machine) | ratio to healthy |")
    print("|---|---:|---:|")
    for name, value in med.items():
        shown = f">= {value:.0f}" if value >= args.limit else f"{value:.2f}"
        print(f"| {name} | {shown} | {value / med['healthy']:.2f} |")
    print(f"\n`close()` while a fetch hangs: {close_latency() * 1000:.0f} ms.")


if __name__ == "__main__":
    main()
