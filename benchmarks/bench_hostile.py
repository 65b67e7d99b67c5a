#!/usr/bin/env python3
"""Hostile memory: RSS of a verifier fed N distinct large bogus certificates.

A client behind the edge controls the certificate bytes the edge forwards. Each request here
passes the source proof (the edge secret is right) and carries a distinct ~12 KB leaf and a
distinct ~40 KB "intermediate" (an unknown non-critical extension pads them; the leaf cap is
16 KB, the chain cap 64 KB) that chain to nothing, so every request is refused after the
certificates were decoded and parsed. Any cache or memo keyed by what the client sends, or
holding what it sent, grows here; a bounded one flattens out. The verifier is the default
one (result cache on); the run is a child process, so the RSS starts from a clean heap, and
the requests are made on the fly (freed after each), so only what the verifier keeps grows.

Run alone: ``python benchmarks/bench_hostile.py [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from _common import SECRET, clock, rfc9440_pairs
from _leaves import padded_certificate, variant
from bench_compare import context

from originverify import EdgeSecret, Verifier
from originverify.devpki import CertificateAuthority

LEAF_BYTES, CHAIN_BYTES = 12_000, 40_000
#: RSS growth allowed over the last third of the run for "bounded" (allocator noise).
SLACK = 4 << 20
WARM_UP = 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def feed(requests: int, checkpoints: int = 10) -> dict[str, Any]:
    root = CertificateAuthority.root_ca("hostile bench root")
    verifier = Verifier(trust=root.pem, source=EdgeSecret(secrets=[SECRET]))
    leaf, leaf_at = padded_certificate(LEAF_BYTES, "bogus leaf")
    inter, inter_at = padded_certificate(CHAIN_BYTES, "bogus intermediate")
    reasons: Counter[str] = Counter()

    def one(index: int) -> None:
        pairs = rfc9440_pairs(variant(leaf, leaf_at, index), [variant(inter, inter_at, index)])
        outcome = verifier.check(context(pairs))
        reasons[outcome.error.reason.value if outcome.error else "accepted"] += 1

    warm = WARM_UP  # first-call costs only: the baseline is taken before any memo fills
    for index in range(warm):
        one(index)
    gc.collect()
    baseline = rss_bytes()
    step = max(1, requests // checkpoints)
    curve = [(0, 0)]
    start = clock()
    for index in range(warm, warm + requests):
        one(index)
        done = index - warm + 1
        if done % step == 0 or done == requests:
            gc.collect()
            curve.append((done, rss_bytes() - baseline))
    elapsed = clock() - start
    third = next(growth for n, growth in curve if n >= 2 * requests // 3)
    return {
        "requests": requests,
        "warm_up": warm,
        "leaf_bytes": len(leaf),
        "chain_bytes": len(inter),
        "fed_bytes": requests * (len(leaf) + len(inter)),
        "baseline_rss": baseline,
        "curve": curve,
        "worst_growth": max(growth for _, growth in curve),
        "last_third_growth": curve[-1][1] - third,
        "bounded": curve[-1][1] - third <= SLACK,
        "slack": SLACK,
        "us_per_request": elapsed / requests * 1e6,
        "reasons": dict(reasons),
    }


def run(requests: int = 12_000, timeout: float = 300) -> dict[str, Any]:
    """``feed`` in a child process (a clean heap)."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(requests)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"hostile memory: {proc.stderr[-1500:]}")
    return dict(json.loads(proc.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--requests", type=int, default=12_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(feed(args.child)))
        return
    result = run(4_000 if args.quick else args.requests)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from report_compare import render_hostile

    print(render_hostile(result))


if __name__ == "__main__":
    main()
