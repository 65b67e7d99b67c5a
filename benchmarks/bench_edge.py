"""Side-by-side throughput of the reference edge forwarder and nginx doing the same job.

Everything runs on 127.0.0.1 and is started by this script as child processes (nginx with a
generated config, not the system service): a tiny asyncio origin, a Flask app under gunicorn,
the forwarder (``python -m originverify.edge``), the forwarder again with ``--sign-key`` (RFC
9421 signed envelope), and nginx with ``ssl_verify_client optional_no_ca``. Both edges use the
same server certificate, the same worker count, the same kind of session cache (stateful,
tickets off), write a buffered access log (64 KiB, flushed within 1 s), and set comparable
headers (certificate, presence flag, edge secret, X-Forwarded-*).

Measurements:

* wrk, keep-alive: many requests per TLS connection, tiny origin. wrk cannot present a client
  certificate, so these runs are certificate-less (passthrough / optional_no_ca let them in).
* wrk, ``Connection: close``: one TLS handshake per request, tiny origin.
* ``openssl s_time -new`` / ``-reuse`` with a client certificate: full handshakes with mTLS,
  and resumed sessions (sequential, one connection at a time).
* wrk, keep-alive, through the signing forwarder: the cost of signing each request.
* wrk, keep-alive, Flask app under gunicorn as the origin: the end-to-end ratio an application
  sees.

Runs are interleaved (forwarder, nginx, then nginx, forwarder, ...) and repeated ``--rounds``
times; the table shows medians, so a burst of noise on a shared machine moves one sample, not
the result. CPU per request is user + system time of the edge's processes (from ``/proc``)
divided by the requests served in that run.

Usage: ``python benchmarks/bench_edge.py [--workers N] [--seconds S] [--rounds R]``; needs
``wrk`` and ``nginx`` (``apt-get install -y wrk nginx``) and the ``dev`` extra. Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from _common import cpu_seconds, free_port
from _edge_setup import FLASK_APP, make_pki, nginx_command

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# The tiny origin (run as ``bench_edge.py --tiny-origin PORT``)
# ---------------------------------------------------------------------------------------------

_TINY_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"
)


class _TinyOrigin(asyncio.Protocol):
    """Answers every request head with a fixed response; bodiless GETs only."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count:
            self.buffer = self.buffer[self.buffer.rindex(b"\r\n\r\n") + 4 :]
            self.transport.write(_TINY_RESPONSE * count)


async def _serve_tiny(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_TinyOrigin, "127.0.0.1", port, backlog=1024)
    await server.serve_forever()


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def process(
    cmd: list[str], ready_port: int, log: Path, **kw: object
) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]
    try:
        wait_port(ready_port)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# ---------------------------------------------------------------------------------------------
# Load generators
# ---------------------------------------------------------------------------------------------


def wrk(url: str, seconds: int, connections: int, *extra: str) -> tuple[float, int]:
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", *extra, url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(result.stdout + result.stderr)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses from {url}")
    count = re.search(r"(\d+) requests in", result.stdout)
    return float(match.group(1)), int(count.group(1)) if count else 0


def s_time(port: int, seconds: int, pki: dict[str, Path], mode: str) -> tuple[float, int]:
    result = subprocess.run(
        [
            "openssl",
            "s_time",
            "-connect",
            f"127.0.0.1:{port}",
            mode,
            "-time",
            str(seconds),
            "-cert",
            str(pki["client.pem"]),
            "-key",
            str(pki["client.key"]),
            "-www",
            "/",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    match = re.search(r"(\d+) connections in (\d+) real seconds", result.stdout)
    if not match:
        raise RuntimeError(result.stdout + result.stderr)
    count = int(match.group(1))
    return count / max(1, int(match.group(2))), count


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    seconds: int
    connections: int
    pki: dict[str, Path]


def keep_alive(url: str, _port: int, s: Settings) -> tuple[float, int]:
    return wrk(url, s.seconds, s.connections)


def new_connection(url: str, _port: int, s: Settings) -> tuple[float, int]:
    return wrk(url, s.seconds, s.connections, "-H", "Connection: close")


def mtls_full(_url: str, port: int, s: Settings) -> tuple[float, int]:
    return s_time(port, s.seconds, s.pki, "-new")


def mtls_resumed(_url: str, port: int, s: Settings) -> tuple[float, int]:
    return s_time(port, s.seconds, s.pki, "-reuse")


KEEP_ALIVE = "keep-alive (wrk, no client cert)"
NEW_CONNECTION = "new TLS connection per request (wrk, no client cert)"
SIGNED = "keep-alive, forwarder signing each request (--sign-key, Ed25519)"
END_TO_END = "end to end, Flask under gunicorn (wrk keep-alive, no client cert)"
Run = Callable[[str, int, Settings], tuple[float, int]]


@dataclass(frozen=True)
class Scenario:
    label: str
    run: Run
    origin: str  # "tiny" or "flask"
    edges: tuple[str, str]  # measured against each other; the ratio is first / second
    target: float | None = None


# "forwarder" runs on asyncio's own event loop, "forwarder+uvloop" on uvloop (the edge-fast
# extra; what --event-loop auto picks when it is installed), "forwarder+sign" signs.
UVLOOP = "forwarder+uvloop"
SCENARIOS = (
    Scenario(KEEP_ALIVE, keep_alive, "tiny", ("forwarder", "nginx"), 0.35),
    Scenario(KEEP_ALIVE + ", uvloop", keep_alive, "tiny", (UVLOOP, "nginx"), 0.35),
    Scenario(KEEP_ALIVE + ", uvloop vs asyncio", keep_alive, "tiny", (UVLOOP, "forwarder")),
    Scenario(NEW_CONNECTION, new_connection, "tiny", ("forwarder", "nginx"), 0.7),
    Scenario(NEW_CONNECTION + ", uvloop", new_connection, "tiny", (UVLOOP, "nginx"), 0.7),
    Scenario(
        "mTLS full handshake per request (s_time -new, client cert)",
        mtls_full,
        "tiny",
        ("forwarder", "nginx"),
    ),
    Scenario(
        "mTLS resumed session per request (s_time -reuse, client cert)",
        mtls_resumed,
        "tiny",
        ("forwarder", "nginx"),
    ),
    Scenario(SIGNED, keep_alive, "tiny", ("forwarder+sign", "forwarder")),
    Scenario(END_TO_END, keep_alive, "flask", ("forwarder", "nginx"), 0.9),
    Scenario(END_TO_END + ", uvloop", keep_alive, "flask", (UVLOOP, "nginx"), 0.9),
)


@dataclass
class Sample:
    rate: float
    cpu_us: float


def edge_command(
    root: Path, pki: dict[str, Path], port: int, origin: int, workers: int, name: str
) -> list[str]:
    cmd = [
        sys.executable, "-m", "originverify.edge",
        "--listen", f"127.0.0.1:{port}",
        "--upstream", f"http://127.0.0.1:{origin}",
        "--cert", str(pki["server.pem"]), "--key", str(pki["server.key"]),
        "--origin-secret-file", str(pki["secret.txt"]),
        "--workers", str(workers),
        "--access-log", str(root / f"edge-access-{port}.log"),
        "--event-loop", "uvloop" if name == UVLOOP else "asyncio",
    ]  # fmt: skip
    if name == "forwarder+sign":
        cmd += ["--sign-key", str(pki["sign.key"]), "--key-id", "bench-1"]
    return cmd


def start_edges(
    stack: ExitStack, root: Path, args: argparse.Namespace, scenarios: list[Scenario]
) -> tuple[dict[tuple[str, str], tuple[str, int, int]], Settings]:
    """Both origins, then every edge in front of every origin a scenario needs, all started
    up front and idle between runs: ``(edge, origin) -> (url, port, pid)``."""
    pki = make_pki(root)
    (root / "app.py").write_text(FLASK_APP)
    origins = {"tiny": free_port(), "flask": free_port()}
    tiny = [sys.executable, __file__, "--tiny-origin", str(origins["tiny"])]
    stack.enter_context(process(tiny, origins["tiny"], root / "tiny.log"))
    gunicorn = [
        sys.executable, "-m", "gunicorn",
        "-w", str(args.workers), "-k", "gthread", "--threads", "8",
        "-b", f"127.0.0.1:{origins['flask']}",
        "--chdir", str(root), "app:app",
    ]  # fmt: skip
    stack.enter_context(process(gunicorn, origins["flask"], root / "gunicorn.log"))
    edges: dict[tuple[str, str], tuple[str, int, int]] = {}
    for origin_name, origin_port in origins.items():
        for name in ("forwarder", UVLOOP, "forwarder+sign", "nginx"):
            if not any(s.origin == origin_name and name in s.edges for s in scenarios):
                continue
            port = free_port()
            log = root / f"{name}-{origin_name}.log"
            if name == "nginx":
                cmd = nginx_command(root, pki, args.workers, origin_name, origin_port, port)
                proc = stack.enter_context(process(cmd, port, log))
            else:
                cmd = edge_command(root, pki, port, origin_port, args.workers, name)
                proc = stack.enter_context(process(cmd, port, log, cwd=REPO))
            url = f"https://127.0.0.1:{port}/"
            wrk(url, 1, args.connections)  # warm-up: caches, pools, page faults
            edges[(name, origin_name)] = (url, port, proc.pid)
    return edges, Settings(args.seconds, args.connections, pki)


def run_scenarios(
    scenarios: list[Scenario],
    edges: dict[tuple[str, str], tuple[str, int, int]],
    settings: Settings,
    rounds: int,
) -> dict[tuple[str, str], list[Sample]]:
    samples: dict[tuple[str, str], list[Sample]] = {}
    for scenario in scenarios:
        for round_ in range(rounds):
            # Alternate who goes first, so a slow phase of the machine hits both sides.
            order = scenario.edges if round_ % 2 == 0 else scenario.edges[::-1]
            for name in order:
                url, port, pid = edges[(name, scenario.origin)]
                before = cpu_seconds(pid)
                rate, count = scenario.run(url, port, settings)
                cpu_us = (cpu_seconds(pid) - before) / max(count, 1) * 1e6
                samples.setdefault((scenario.label, name), []).append(Sample(rate, cpu_us))
                print(
                    f"  {scenario.label} [{name}] round {round_ + 1}: "
                    f"{rate:.0f} req/s, {cpu_us:.0f} µs CPU/req",
                    file=sys.stderr,
                    flush=True,
                )
    return samples


def print_table(
    args: argparse.Namespace,
    scenarios: list[Scenario],
    samples: dict[tuple[str, str], list[Sample]],
) -> None:
    print(
        f"\nworkers per edge: {args.workers}, wrk: 1 thread, {args.connections} connections, "
        f"{args.seconds} s per run, medians of {args.rounds} interleaved runs, "
        f"CPUs: {os.cpu_count()}\n"
    )
    print("| scenario | A | A req/s | B | B req/s | A/B | target | A CPU µs/req | B CPU µs/req |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    for scenario in scenarios:
        (a, b) = scenario.edges
        a_rate, a_cpu = _medians(samples[(scenario.label, a)])
        b_rate, b_cpu = _medians(samples[(scenario.label, b)])
        ratio = a_rate / b_rate if b_rate else float("nan")
        target = scenario.target
        mark = "" if target is None else f"≥ {target} {'met' if ratio >= target else 'MISSED'}"
        print(
            f"| {scenario.label} | {a} | {a_rate:.0f} | {b} | {b_rate:.0f} | {ratio:.2f} "
            f"| {mark} | {a_cpu:.0f} | {b_cpu:.0f} |"
        )
        spread = [f"{x.rate:.0f}" for x in samples[(scenario.label, a)]]
        other = [f"{x.rate:.0f}" for x in samples[(scenario.label, b)]]
        print(f"<!-- {scenario.label}: {a} {spread} / {b} {other} -->")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="workers for both edges")
    parser.add_argument("--seconds", type=int, default=5, help="length of each run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per edge and scenario")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--only", help="run only scenarios whose label contains this text")
    parser.add_argument("--tiny-origin", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tiny_origin:
        asyncio.run(_serve_tiny(args.tiny_origin))
        return 0
    for tool in ("wrk", "nginx", "openssl"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is missing: apt-get install -y wrk nginx openssl", file=sys.stderr)
            return 2
    scenarios = [s for s in SCENARIOS if not args.only or args.only in s.label]
    if importlib.util.find_spec("uvloop") is None:
        print("uvloop is missing (pip install uvloop): its rows are skipped", file=sys.stderr)
        scenarios = [s for s in scenarios if UVLOOP not in s.edges]
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp, ExitStack() as stack:
        edges, settings = start_edges(stack, Path(tmp), args, scenarios)
        samples = run_scenarios(scenarios, edges, settings, args.rounds)
    print_table(args, scenarios, samples)
    return 0


def _medians(runs: list[Sample]) -> tuple[float, float]:
    return statistics.median(r.rate for r in runs), statistics.median(r.cpu_us for r in runs)


if __name__ == "__main__":
    sys.exit(main())
