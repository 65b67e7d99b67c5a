#!/usr/bin/env python3
"""Framework overhead: the same Flask and Django views with and without originverify, under
gunicorn, loaded with wrk on 127.0.0.1.

Per framework three servers run side by side, same gunicorn settings (``gthread``, same
worker and thread counts), each serving ``GET /hello``:

  without   the view alone (no extension / no middleware); it answers the same text
  warm      with the middleware (Flask: ``OriginVerify`` + ``@client_cert_required``;
            Django: ``ClientCertMiddleware``), result cache on; wrk sends the same client
            certificate every time, so every request after the first is a cache hit
  cold      the same with the cache disabled (``CACHE_SIZE = 0``): a full verification of
            the 3-certificate ECDSA P-256 chain on every request

wrk sends the same headers (edge secret, ``Client-Cert``, ``Client-Cert-Chain``) to all three,
so request sizes match; no TLS (the edge terminated it). Rounds are interleaved across all
six servers; the headline is the median over rounds of the paired ratio of requests/s to the
variant without originverify, and the server CPU per request (gunicorn master + workers,
from /proc) is reported beside it. Every server is first checked to answer 200 with the
client's name, and any non-2xx answer under load aborts the run.

Run alone: ``python benchmarks/bench_frameworks.py [--quick] [--workers N] [--seconds S]``;
needs ``wrk`` (``apt-get install -y wrk``), Flask, Django and gunicorn (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import textwrap
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _common import (
    CLIENT_CN,
    REPO,
    SECRET,
    cpu_seconds,
    free_port,
    make_chain,
    median,
    paired_ratio,
    rfc9440_pairs,
    server,
    wrk,
)

FLASK_APP = """
import os

from flask import Flask


def create(variant):
    app = Flask(__name__)
    if variant == "without":

        @app.get("/hello")
        def hello():
            return "hello bench-client\\n"

        return app

    from flask_originverify import OriginVerify, client_cert_required, current_client

    app.config.update(
        ORIGINVERIFY_ANCHORS=os.environ["BENCH_ANCHORS"],
        ORIGINVERIFY_EDGE_SECRETS_ENV="BENCH_SECRET",
        ORIGINVERIFY_CACHE_SIZE=1024 if variant == "warm" else 0,
    )
    OriginVerify(app)

    @app.get("/hello")
    @client_cert_required
    def hello():
        return f"hello {current_client.common_name}\\n"

    return app
"""

DJANGO_SETTINGS = """
import os

VARIANT = os.environ["BENCH_VARIANT"]
DEBUG = False
SECRET_KEY = "benchmark-only-" + "x" * 40
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench_urls"
USE_TZ = True
DATABASES = {}
INSTALLED_APPS = []
MIDDLEWARE = []
if VARIANT != "without":
    INSTALLED_APPS = ["django_originverify"]
    MIDDLEWARE = ["django_originverify.middleware.ClientCertMiddleware"]
    ORIGINVERIFY = {
        "ANCHORS": os.environ["BENCH_ANCHORS"],
        "EDGE_SECRETS_ENV": "BENCH_SECRET",
        "CACHE_SIZE": 1024 if VARIANT == "warm" else 0,
    }
"""

DJANGO_URLS = """
from django.http import HttpResponse
from django.urls import path


def hello(request):
    cert = getattr(request, "client_cert", None)
    name = cert.common_name if cert else "bench-client"
    return HttpResponse(f"hello {name}\\n", content_type="text/plain; charset=utf-8")


urlpatterns = [path("hello", hello)]
"""

DJANGO_WSGI = """
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_settings")
from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
"""

VARIANTS = ("without", "warm", "cold")
FRAMEWORKS = ("flask", "django")


def write_apps(root: Path) -> None:
    for name, text in (
        ("bench_flask.py", FLASK_APP),
        ("bench_settings.py", DJANGO_SETTINGS),
        ("bench_urls.py", DJANGO_URLS),
        ("bench_wsgi.py", DJANGO_WSGI),
    ):
        (root / name).write_text(textwrap.dedent(text).lstrip())


def check(port: int, headers: list[tuple[str, str]]) -> None:
    """One request: the server must answer 200 with the client's name."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/hello", headers=dict(headers))
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
    finally:
        conn.close()
    if response.status != 200 or CLIENT_CN not in body:
        raise RuntimeError(f"port {port}: {response.status} {body[:200]!r}")


def start_servers(
    stack: ExitStack,
    root: Path,
    frameworks: tuple[str, ...],
    workers: int,
    threads: int,
    headers: list[tuple[str, str]],
    env: dict[str, str],
) -> dict[tuple[str, str], tuple[int, int]]:
    """One gunicorn per framework and variant, each checked to answer: (port, pid)."""
    servers: dict[tuple[str, str], tuple[int, int]] = {}
    for fw in frameworks:
        for variant in VARIANTS:
            port = free_port()
            app = f"bench_flask:create('{variant}')" if fw == "flask" else "bench_wsgi"
            cmd = [
                sys.executable, "-m", "gunicorn",
                "-w", str(workers), "-k", "gthread", "--threads", str(threads),
                "-b", f"127.0.0.1:{port}", "--chdir", str(root),
                "--log-level", "warning", app,
            ]  # fmt: skip
            log = root / f"{fw}-{variant}.log"
            proc = stack.enter_context(server(cmd, port, log, {**env, "BENCH_VARIANT": variant}))
            check(port, headers)
            servers[(fw, variant)] = (port, proc.pid)
    return servers


def measure(
    servers: dict[tuple[str, str], tuple[int, int]],
    samples: dict[str, dict[str, dict[str, list[float]]]],
    rounds: int,
    seconds: float,
    connections: int,
    headers: list[tuple[str, str]],
) -> None:
    """wrk against every server, rounds interleaved (order rotated); req/s and CPU µs."""
    order = list(servers)
    for port, _ in servers.values():  # warm-up: imports, caches, page faults
        wrk(f"http://127.0.0.1:{port}/hello", 1, connections, headers)
    for index in range(rounds):
        shift = index % len(order)
        for fw, variant in order[shift:] + order[:shift]:
            port, pid = servers[(fw, variant)]
            before = cpu_seconds(pid)
            rate, count = wrk(f"http://127.0.0.1:{port}/hello", seconds, connections, headers)
            cpu_us = (cpu_seconds(pid) - before) / max(count, 1) * 1e6
            samples[fw][variant]["rps"].append(rate)
            samples[fw][variant]["cpu_us"].append(cpu_us)
            print(
                f"  {fw}/{variant} round {index + 1}: {rate:.0f} req/s, {cpu_us:.0f} µs CPU",
                file=sys.stderr,
                flush=True,
            )


def run(
    workers: int = 1,
    threads: int = 4,
    seconds: float = 3,
    rounds: int = 5,
    connections: int = 8,
    frameworks: tuple[str, ...] = FRAMEWORKS,
) -> dict[str, Any]:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is missing: apt-get install -y wrk")
    chain = make_chain("ec", 3)
    headers = rfc9440_pairs(chain.leaf_der, chain.chain_der)
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        fw: {v: {"rps": [], "cpu_us": []} for v in VARIANTS} for fw in frameworks
    }
    with tempfile.TemporaryDirectory(prefix="bench-frameworks-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        write_apps(root)
        (root / "anchors.pem").write_bytes(chain.anchors_pem)
        env = {
            "BENCH_ANCHORS": str(root / "anchors.pem"),
            "BENCH_SECRET": SECRET,
            "PYTHONPATH": str(root),
        }
        servers = start_servers(stack, root, frameworks, workers, threads, headers, env)
        measure(servers, samples, rounds, seconds, connections, headers)
    out: dict[str, Any] = {
        "settings": {
            "workers": workers,
            "threads": threads,
            "seconds": seconds,
            "rounds": rounds,
            "connections": connections,
            "chain": chain.label,
        }
    }
    for fw in frameworks:
        base = samples[fw]["without"]
        out[fw] = {
            variant: {
                "rps": median(s["rps"]),
                "rps_all": s["rps"],
                "cpu_us": median(s["cpu_us"]),
                "ratio": paired_ratio(s["rps"], base["rps"]),
                "added_cpu_us": median(
                    [a - b for a, b in zip(s["cpu_us"], base["cpu_us"], strict=True)]
                ),
            }
            for variant, s in samples[fw].items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (all servers)")
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument("--seconds", type=float, default=3, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 2
    result = run(args.workers, args.threads, args.seconds, args.rounds, args.connections)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from report_sections import render_frameworks

    print(render_frameworks(result))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "benchmarks"))
    main()
