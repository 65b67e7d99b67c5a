#!/usr/bin/env python3
"""Soak: the reference forwarder in front of the example Flask origin under gunicorn, a mix
of good, bad and spoofed traffic for a while, then the tally.

    .venv/bin/python scripts/soak.py --seconds 300

Reports requests, wrong verdicts (must be 0), 5xx (must be 0) and the RSS of every process
after warm-up and at the end (target: < 5% growth). Everything listens on 127.0.0.1 only,
on free ports, and stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from originverify.devpki import CertificateAuthority, cert_pem  # noqa: E402
from originverify.formats.sfbinary import serialize_item  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on 127.0.0.1:{port}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def family(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(c) for c in children)]


@dataclass(frozen=True)
class Scenario:
    name: str
    weight: int
    expect: int
    send: Callable[[], int]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--warmup", type=float, default=20)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="originverify-soak-"))
    ca = CertificateAuthority.root_ca("soak root").intermediate("soak issuing")
    alice_issued = ca.issue("alice", emails=["alice@example.org"])
    alice = alice_issued.write(tmp, "alice")
    forged = serialize_item(alice_issued.der)  # alice's public certificate, pasted by others
    bob = ca.issue("bob", emails=["bob@elsewhere.example"]).write(tmp, "bob")
    eve = CertificateAuthority.root_ca("stranger").issue("eve").write(tmp, "eve")
    server = ca.issue_server("127.0.0.1").write(tmp, "server")
    (tmp / "client-ca.pem").write_bytes(cert_pem(ca.root))
    secret = secrets.token_urlsafe(32)
    env = dict(
        os.environ,
        ORIGINVERIFY_ANCHORS=str(tmp / "client-ca.pem"),
        ORIGINVERIFY_EDGE_SECRET=secret,
        EDGE_SECRET=secret,
        PYTHONPATH=str(ROOT),
    )
    origin_port, edge_port = free_port(), free_port()
    bin_dir = Path(sys.executable).parent
    origin = subprocess.Popen(
        [
            str(bin_dir / "gunicorn"),
            "--bind",
            f"127.0.0.1:{origin_port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
            "examples.flask_app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    edge = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "originverify.edge",
            "--listen",
            f"127.0.0.1:{edge_port}",
            "--upstream",
            f"http://127.0.0.1:{origin_port}",
            "--cert",
            str(server["cert"]),
            "--key",
            str(server["key"]),
            "--mode",
            "passthrough",
            "--origin-secret-env",
            "EDGE_SECRET",
            "--access-log",
            "off",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        wait_port(origin_port, deadline)
        wait_port(edge_port, deadline)
        return run(
            args,
            tmp,
            {"alice": alice, "bob": bob, "eve": eve},
            forged,
            origin_port,
            edge_port,
            origin.pid,
            edge.pid,
        )
    finally:
        for proc in (edge, origin):
            proc.send_signal(signal.SIGTERM)
        for proc in (edge, origin):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(
    args: argparse.Namespace,
    tmp: Path,
    clients: dict[str, dict[str, Path]],
    forged: str,
    origin_port: int,
    edge_port: int,
    origin_pid: int,
    edge_pid: int,
) -> int:
    def tls(client: dict[str, Path] | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(tmp / "client-ca.pem"))
        if client is not None:
            context.load_cert_chain(client["cert"], client["key"])
        return context

    contexts = {name: tls(files) for name, files in clients.items()} | {"none": tls(None)}
    local = threading.local()

    def via_edge(who: str, path: str, headers: dict[str, str] | None = None) -> int:
        key = f"edge-{who}"
        conn = getattr(local, key, None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", edge_port, context=contexts[who], timeout=10
            )
            setattr(local, key, conn)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            setattr(local, key, None)
            raise

    def direct(headers: dict[str, str]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", origin_port, timeout=10)
        try:
            conn.request("GET", "/api/me", headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    scenarios = [
        Scenario("valid client certificate", 50, 200, lambda: via_edge("alice", "/api/me")),
        Scenario("unknown CA", 15, 403, lambda: via_edge("eve", "/api/me")),
        Scenario("no client certificate", 10, 401, lambda: via_edge("none", "/api/me")),
        Scenario(
            "forged Client-Cert through the edge",
            10,
            403,
            lambda: via_edge("eve", "/api/me", {"Client-Cert": forged}),
        ),
        Scenario(
            "forged Client-Cert straight to the origin",
            10,
            403,
            lambda: direct({"Client-Cert": forged}),
        ),
        Scenario("valid, but denied by a rule", 5, 403, lambda: via_edge("bob", "/admin")),
    ]
    weights = [s.weight for s in scenarios]
    tally: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def worker(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - a traffic mix, not a secret
        while not stop.is_set():
            scenario = rng.choices(scenarios, weights)[0]
            try:
                status = scenario.send()
            except (OSError, http.client.HTTPException) as exc:
                status = -1
                with lock:
                    wrong[f"{scenario.name}: {type(exc).__name__}"] += 1
            with lock:
                tally["requests"] += 1
                tally[f"status {status}"] += 1
                if status >= 500:
                    tally["5xx"] += 1
                if status != scenario.expect and status != -1:
                    wrong[f"{scenario.name}: got {status}, expected {scenario.expect}"] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.threads)]
    for t in threads:
        t.start()
    time.sleep(args.warmup)
    pids = {"forwarder": [edge_pid], "gunicorn": family(origin_pid)}
    before = {name: sum(rss_kib(p) for p in ps) for name, ps in pids.items()}
    warm_requests = tally["requests"]
    time.sleep(max(0.0, args.seconds - args.warmup))
    after = {name: sum(rss_kib(p) for p in ps) for name, ps in pids.items()}
    stop.set()
    for t in threads:
        t.join(timeout=15)

    print(f"## Soak: {args.seconds:.0f} s, {args.threads} client threads\n")
    print("| measure | value |\n|---|---:|")
    print(f"| requests | {tally['requests']} ({tally['requests'] / args.seconds:.0f}/s) |")
    print(f"| wrong verdicts | {sum(wrong.values())} |")
    print(f"| 5xx | {tally['5xx']} |")
    for name in pids:
        growth = (after[name] - before[name]) / before[name] if before[name] else 0.0
        print(
            f"| RSS {name} (after warm-up → end) | {before[name]} → {after[name]} KiB "
            f"({growth:+.1%}) |"
        )
    print(f"| requests during RSS window | {tally['requests'] - warm_requests} |")
    for line, count in sorted(wrong.items()):
        print(f"\nwrong: {line} ×{count}")
    statuses = ", ".join(
        f"{k[7:]}: {v}" for k, v in sorted(tally.items()) if k.startswith("status")
    )
    print(f"\nstatuses: {statuses}")
    growth_ok = all(after[n] <= before[n] * 1.05 for n in pids)
    return 0 if not wrong and not tally["5xx"] and growth_ok else 1


if __name__ == "__main__":
    sys.exit(main())
