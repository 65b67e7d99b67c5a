#!/usr/bin/env python3
"""Scaling: many distinct clients through the result cache, and chains of 2..6 certificates.

Cache (ECDSA P-256, leaf + intermediate under one root; one process per size so memory
figures start from a clean heap):

* N distinct client certificates (1k, 10k, 100k by default; ``_leaves.LeafFactory``: one
  key pair, one template) go once each through ``Verifier.check`` with a real
  ``ResultCache`` sized to hold them all. Every request is made before the fill and kept
  alive, so the memory the generator frees is not reused by the entries.
* memory per entry: the RSS growth over the fill (also sees what cryptography's Rust side
  allocates) and ``tracemalloc`` (Python heap, last 10k insertions), divided by N;
* lookup cost: ``check`` on a hit (random clients among the N) vs a hit in a 16-entry
  cache (flat in N means the cache scales) and vs a cold verification (cache off) in the
  same process: the hit-vs-cold ratio at that size;
* hit rate: measured in the lookup phase, and simulated with the real ``ResultCache`` at its
  default size (1024) under uniform and Zipf(1) client popularity.

Chain length: root → 0..4 intermediates → leaf (2..6 certificates), RSA-2048 and ECDSA
P-256: originverify uncached and cached, pyca bare (pre-parsed / from DER), pyhanko and the
signature floor, rounds interleaved.

Run alone: ``python benchmarks/bench_cache_scaling.py [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from _common import (
    SECRET,
    Chain,
    clock,
    interleaved,
    make_chain,
    paired_ratio,
    rfc9440_pairs,
    summarize,
)
from _leaves import LeafFactory
from bench_compare import bare_case, context, pyhanko_case, run_all, signature_jobs
from cryptography.hazmat.primitives.serialization import Encoding

from originverify import EdgeSecret, RequestContext, ResultCache, Verifier
from originverify.devpki import CertificateAuthority

DEFAULT_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (500, 2_000, 5_000)
DEFAULT_CACHE_SIZE = 1024  # ResultCache's default


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


# ---------------------------------------------------------------------------------------------
# One cache size (run in its own process)
# ---------------------------------------------------------------------------------------------


def simulate_hit_rate(clients: int, size: int, zipf: bool, requests: int, seed: int) -> float:
    """Hit rate of a real ``ResultCache(size)`` fed a random stream over ``clients``."""
    rng = random.Random(seed)
    population = range(clients)
    if zipf:
        weights = [1.0 / (rank + 1) for rank in population]
        total = 0.0
        cumulative = []
        for w in weights:
            total += w
            cumulative.append(total)
        stream = rng.choices(population, cum_weights=cumulative, k=2 * requests)
    else:
        stream = [rng.randrange(clients) for _ in range(2 * requests)]
    cache = ResultCache(size, max_age=1e9)
    sentinel: Any = object()
    for key in stream[:requests]:  # warm-up: reach the steady state
        if cache.get(key, 0.0) is None:
            cache.put(key, sentinel, 2e9, 0.0)
    hits_before = cache.stats.hits
    for key in stream[requests:]:
        if cache.get(key, 0.0) is None:
            cache.put(key, sentinel, 2e9, 0.0)
    return (cache.stats.hits - hits_before) / requests


def one_size(
    clients: int, lookups: int, rounds: int, trace_last: int = 10_000, seed: int = 7
) -> dict[str, Any]:
    """Fill a cache with ``clients`` distinct clients; memory, lookup cost, hit rates.

    Every request is made (and kept alive) before the fill, so the RSS growth over the fill
    is what the cache holds, not memory freed by the generator and reused."""
    rng = random.Random(seed)
    root = CertificateAuthority.root_ca("bench root")
    ca = root.intermediate("bench intermediate")
    start = time.perf_counter()
    ders = LeafFactory(ca).pool(clients)
    chain_der = [ca.cert.public_bytes(Encoding.DER)]
    requests = [context(rfc9440_pairs(der, chain_der)) for der in ders]
    generate_s = time.perf_counter() - start
    source = EdgeSecret(secrets=[SECRET])
    verifier = Verifier(trust=root.pem, source=source, cache=ResultCache(clients, max_age=3600))
    memory = fill_memory(verifier, requests, min(clients // 2, trace_last))
    lookups_out = lookup_costs(verifier, requests, root.pem, lookups, rounds, rng)
    simulated = {
        "uniform": simulate_hit_rate(clients, DEFAULT_CACHE_SIZE, False, 100_000, seed),
        "zipf": simulate_hit_rate(clients, DEFAULT_CACHE_SIZE, True, 100_000, seed),
    }
    return {
        "clients": clients,
        "generate_us_per_cert": generate_s / clients * 1e6,
        **memory,
        **lookups_out,
        "simulated_hit_rate_default_size": simulated,
        "cert_der_bytes": len(ders[0]),
    }


def fill_memory(
    verifier: Verifier, requests: list[RequestContext], traced_count: int
) -> dict[str, Any]:
    """Bytes per entry over a fill of the cache with every request (RSS, and tracemalloc
    for the last ``traced_count``: it roughly doubles the cost of a verification), and the
    cost of a miss (the benchmarks' clock) from the untraced part."""

    def fill(part: list[RequestContext]) -> None:
        for request in part:
            if verifier.check(request).identity is None:
                raise RuntimeError("a generated client failed verification")

    clients = len(requests)
    fill(requests[:1])  # first-call costs (the intermediate validated once) before measuring
    gc.collect()
    rss_before = rss_bytes()
    start = clock()
    fill(requests[1 : clients - traced_count])
    untraced_s = clock() - start
    gc.collect()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    fill(requests[clients - traced_count :])
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    gc.collect()
    rss = rss_bytes() - rss_before
    assert verifier.cache is not None and len(verifier.cache) == clients
    return {
        "fill_us_per_request": untraced_s / (clients - traced_count - 1) * 1e6,
        "traced_entries": traced_count,
        "traced_bytes_per_entry": traced / traced_count,
        "rss_bytes_per_entry": rss / (clients - 1),
    }


def lookup_costs(
    verifier: Verifier,
    requests: list[RequestContext],
    anchors: bytes,
    lookups: int,
    rounds: int,
    rng: random.Random,
) -> dict[str, Any]:
    """Hits on random clients among all of them, next to hits in a 16-entry cache and a
    cold verification, interleaved in one process: the ratios say whether a hit stays flat
    as the cache grows, and how much cheaper than a verification it is at this size."""
    cache = verifier.cache
    assert cache is not None
    picks = [requests[rng.randrange(len(requests))] for _ in range(lookups)]
    source = EdgeSecret(secrets=[SECRET])
    small = Verifier(trust=anchors, source=source, cache=ResultCache(16, max_age=3600))
    small_picks = [requests[i % 16] for i in range(lookups)]
    for request in small_picks[:16]:
        small.check(request)
    cold = Verifier(trust=anchors, source=source, cache=None)
    position = {"hit": 0, "small": 0}

    def hit() -> object:
        i = position["hit"] = (position["hit"] + 1) % lookups
        return verifier.check(picks[i])

    def hit_small() -> object:
        i = position["small"] = (position["small"] + 1) % lookups
        return small.check(small_picks[i])

    hits0, misses0 = cache.stats.hits, cache.stats.misses
    samples = interleaved(
        {"hit": hit, "hit_small": hit_small, "cold": lambda: cold.check(requests[0])},
        rounds,
        0.02,
    )
    hits, misses = cache.stats.hits - hits0, cache.stats.misses - misses0
    return {
        "hit_us": summarize(samples["hit"]),
        "hit_small_us": summarize(samples["hit_small"]),
        "cold_us": summarize(samples["cold"]),
        "hit_growth_vs_16": paired_ratio(samples["hit"], samples["hit_small"]),
        "cold_vs_hit": paired_ratio(samples["cold"], samples["hit"]),
        "measured_hit_rate": hits / max(1, hits + misses),
    }


def run_cache(
    sizes: tuple[int, ...], lookups: int, rounds: int, timeout: float
) -> list[dict[str, Any]]:
    """Each size in a child process (clean heap); results in order."""
    results = []
    for clients in sizes:
        proc = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--one",
                str(clients),
                "--lookups",
                str(lookups),
                "--rounds",
                str(rounds),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode:
            raise RuntimeError(f"cache size {clients}: {proc.stderr[-2000:]}")
        results.append(json.loads(proc.stdout))
    return results


# ---------------------------------------------------------------------------------------------
# Chain length
# ---------------------------------------------------------------------------------------------

LENGTHS = (2, 3, 4, 5, 6)
CHAIN_CASES = {
    "uncached": "originverify, cache off",
    "cached": "originverify, cache hit",
    "bare_der": "bare pyca, from DER",
    "pyhanko": "pyhanko-certvalidator",
    "floor": "signature floor (keys loaded)",
}


def length_cases(chain: Chain, pyhanko: bool) -> tuple[dict[str, Callable[[], object]], Any]:
    """The ``CHAIN_CASES`` of one chain (each checked once) and a closer."""
    source = EdgeSecret(secrets=[SECRET])
    request = context(rfc9440_pairs(chain.leaf_der, chain.chain_der))
    unc = Verifier(trust=chain.anchors_pem, source=source, cache=None)
    cac = Verifier(trust=chain.anchors_pem, source=source, cache=16)
    if unc.check(request).identity is None:
        raise RuntimeError(f"chain of {chain.length} refused")
    cases = {
        "uncached": partial(unc.check, request),
        "cached": partial(cac.check, request),
        "bare_der": bare_case(chain),
        "floor": run_all(signature_jobs(chain)),
    }
    close: Any = lambda: None  # noqa: E731
    if pyhanko:
        cases["pyhanko"], close = pyhanko_case(chain)
    return cases, close


def run_chain_length(rounds: int, target_s: float, pyhanko: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"rounds": rounds, "lengths": list(LENGTHS), "cases": CHAIN_CASES}
    for key_type in ("rsa", "ec"):
        cases: dict[str, Callable[[], object]] = {}
        closers = []
        label = ""
        for length in LENGTHS:
            chain = make_chain(key_type, length)
            label = chain.label
            some, close = length_cases(chain, pyhanko)
            cases.update({f"{name}:{length}": fn for name, fn in some.items()})
            closers.append(close)
        try:
            samples = interleaved(cases, rounds, target_s)
        finally:
            for close in closers:
                close()
        rows: dict[str, dict[str, Any]] = {}
        for name in CHAIN_CASES:
            if f"{name}:2" not in samples:
                continue
            rows[name] = {
                str(n): {
                    "us": summarize(samples[f"{name}:{n}"]),
                    "ratio_to_bare": paired_ratio(samples[f"{name}:{n}"], samples[f"bare_der:{n}"]),
                }
                for n in LENGTHS
            }
        out[key_type] = {"label": label, "cases": rows}
    return out


# ---------------------------------------------------------------------------------------------


def run(
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    lookups: int = 20_000,
    rounds: int = 7,
    chain_rounds: int = 9,
    target_s: float = 0.02,
    timeout: float = 300,
) -> dict[str, Any]:
    return {
        "cache": run_cache(sizes, lookups, rounds, timeout),
        "default_cache_size": DEFAULT_CACHE_SIZE,
        "chain_length": run_chain_length(chain_rounds, target_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--sizes", type=lambda s: tuple(int(x) for x in s.split(",")))
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child: one cache size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, min(args.lookups, 4 * args.one), args.rounds)))
        return
    if args.quick:
        result = run(args.sizes or QUICK_SIZES, 2_000, 3, 3, 0.01)
    else:
        result = run(args.sizes or DEFAULT_SIZES, args.lookups, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from report_sections import render_scaling

    print(render_scaling(result))


if __name__ == "__main__":
    main()
