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
import datetime as dt
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

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-edge-secret-0123456789abcdef"

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


FLASK_APP = """
from flask import Flask, request
app = Flask(__name__)

@app.get("/")
def index():
    present = request.headers.get("CloudFront-Viewer-Cert-Present", "?")
    return {"hello": "world", "cert_present": present}
"""

# ---------------------------------------------------------------------------------------------
# Set-up helpers
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def make_pki(root: Path) -> dict[str, Path]:
    now = dt.datetime.now(dt.UTC)

    def issue(
        cn: str,
        issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
        ca: bool,
        san: str | None = None,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer[0].subject if issuer else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), False)
        return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key

    def pem(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca = issue("bench CA", None, ca=True)
    server = issue("localhost", ca, ca=False, san="localhost")
    client = issue("bench client", ca, ca=False)
    files = {
        "server.pem": pem(server[0]) + pem(ca[0]),
        "server.key": key_pem(server[1]),
        "client.pem": pem(client[0]),
        "client.key": key_pem(client[1]),
        "secret.txt": SECRET.encode(),
    }
    paths = {}
    for name, data in files.items():
        (root / name).write_bytes(data)
        paths[name] = root / name
    signing = ed25519.Ed25519PrivateKey.generate()
    paths["sign.key"] = root / "sign.key"
    paths["sign.key"].write_bytes(
        signing.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log error;
events {{ worker_connections 4096; }}
http {{
  access_log {root}/nginx-access.log combined buffer=64k flush=1s;
  map $ssl_client_verify $cert_present {{ NONE 0; default 1; }}
  upstream origin {{ server 127.0.0.1:{origin}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} ssl reuseport;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client optional_no_ca;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets off;
    keepalive_requests 1000000;
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Client-Cert $ssl_client_escaped_cert;
      proxy_set_header Client-Cert-Chain "";
      proxy_set_header CloudFront-Viewer-Cert-Present $cert_present;
      proxy_set_header CloudFront-Viewer-Cert-Sha256 "";
      proxy_set_header X-Origin-Verify "{secret}";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header Forwarded "for=$remote_addr;proto=https";
    }}
  }}
}}
"""


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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its direct children (the workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in (pid, *map(int, children)):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


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
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    scenarios = [s for s in SCENARIOS if not args.only or args.only in s.label]
    if importlib.util.find_spec("uvloop") is None:
        print("uvloop is missing (pip install uvloop): its rows are skipped", file=sys.stderr)
        scenarios = [s for s in scenarios if UVLOOP not in s.edges]
    samples: dict[tuple[str, str], list[Sample]] = {}

    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        pki = make_pki(root)
        (root / "app.py").write_text(FLASK_APP)
        settings = Settings(args.seconds, args.connections, pki)
        origins = {"tiny": free_port(), "flask": free_port()}
        stack.enter_context(
            process(
                [sys.executable, __file__, "--tiny-origin", str(origins["tiny"])],
                origins["tiny"],
                root / "tiny.log",
            )
        )
        gunicorn = [
            sys.executable, "-m", "gunicorn",
            "-w", str(args.workers), "-k", "gthread", "--threads", "8",
            "-b", f"127.0.0.1:{origins['flask']}",
            "--chdir", str(root), "app:app",
        ]  # fmt: skip
        stack.enter_context(process(gunicorn, origins["flask"], root / "gunicorn.log"))
        # Every edge in front of every origin, all started up front and idle between runs.
        edges: dict[tuple[str, str], tuple[str, int, int]] = {}
        for origin_name, origin_port in origins.items():
            for name in ("forwarder", UVLOOP, "forwarder+sign", "nginx"):
                if not any(s.origin == origin_name and name in s.edges for s in scenarios):
                    continue
                port = free_port()
                log = root / f"{name}-{origin_name}.log"
                if name == "nginx":
                    conf = root / f"nginx-{origin_name}.conf"
                    conf.write_text(
                        NGINX_CONF.format(
                            workers=args.workers,
                            root=root / f"nginx-{origin_name}",
                            origin=origin_port,
                            port=port,
                            cert=pki["server.pem"],
                            key=pki["server.key"],
                            secret=SECRET,
                        )
                    )
                    (root / f"nginx-{origin_name}").mkdir()
                    cmd = [nginx, "-c", str(conf), "-p", str(root / f"nginx-{origin_name}")]
                    proc = stack.enter_context(process(cmd, port, log))
                else:
                    cmd = edge_command(root, pki, port, origin_port, args.workers, name)
                    proc = stack.enter_context(process(cmd, port, log, cwd=REPO))
                url = f"https://127.0.0.1:{port}/"
                wrk(url, 1, args.connections)  # warm-up: caches, pools, page faults
                edges[(name, origin_name)] = (url, port, proc.pid)

        for scenario in scenarios:
            for round_ in range(args.rounds):
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
    return 0


def _medians(runs: list[Sample]) -> tuple[float, float]:
    return statistics.median(r.rate for r in runs), statistics.median(r.cpu_us for r in runs)


if __name__ == "__main__":
    sys.exit(main())
