#!/usr/bin/env python3
"""Cost per request for a fleet of N devices under one CA, as N grows past the cache size.

One ECDSA P-256 intermediate under the root issues N device leaves (N = 100 … 20,000); each
request comes from a device drawn uniformly at random, through ``Verifier.check`` with a
1024-entry result cache (the default size). Below the cache size every device stays cached
(hits); above it, most requests are a device the cache evicted: a new leaf under an
intermediate the verifier validated before. One verifier per N, each warmed with random
requests until its cache is in its steady state, all N measured interleaved with bare pyca
from DER (the ratio's baseline), originverify cold and a cache hit.

Run alone: ``python benchmarks/bench_fleet.py [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from _common import SECRET, interleaved, make_chain, paired_ratio, rfc9440_pairs, summarize
from _leaves import LeafFactory
from bench_compare import bare_case, context

from originverify import EdgeSecret, RequestContext, ResultCache, Verifier

FULL_SIZES = (100, 300, 1_000, 2_000, 5_000, 10_000, 20_000)
QUICK_SIZES = (100, 1_000, 3_000)
CACHE_SIZE = 1024


class RandomDevice:
    """Each call: ``check`` of a device drawn uniformly from the first ``n`` of ``requests``."""

    def __init__(self, verifier: Verifier, requests: Sequence[RequestContext], n: int) -> None:
        self.check, self.requests, self.n = verifier.check, requests, n
        self.rng = random.Random(n)

    def __call__(self) -> object:
        return self.check(self.requests[self.rng.randrange(self.n)])


def run(
    sizes: Sequence[int] = FULL_SIZES, rounds: int = 9, target_s: float = 0.03
) -> dict[str, Any]:
    chain = make_chain("ec", 3)
    source = EdgeSecret(secrets=[SECRET])
    leaves = LeafFactory(chain.ca, "ec").pool(max(sizes))
    requests = [context(rfc9440_pairs(d, chain.chain_der)) for d in leaves]
    fixed = context(rfc9440_pairs(chain.leaf_der, chain.chain_der))
    cold = Verifier(trust=chain.anchors_pem, source=source, cache=None)
    hit = Verifier(trust=chain.anchors_pem, source=source, cache=ResultCache(CACHE_SIZE))
    hit.check(fixed)
    cases: dict[str, Callable[[], object]] = {
        "bare_der": bare_case(chain),
        "ov_cold": partial(cold.check, fixed),
        "ov_hit": partial(hit.check, fixed),
    }
    verifiers: dict[int, Verifier] = {}
    for n in sizes:
        verifier = Verifier(trust=chain.anchors_pem, source=source, cache=ResultCache(CACHE_SIZE))
        device = RandomDevice(verifier, requests, n)
        # Steady state: every device cached (N <= cache size) or the cache full of random ones.
        warm = requests[:n] if n <= CACHE_SIZE else [requests[i] for i in range(2 * CACHE_SIZE)]
        for request in warm:
            if verifier.check(request).identity is None:
                raise RuntimeError("a device failed verification")
        verifiers[n] = verifier
        cases[f"fleet:{n}"] = device
    before = {
        n: (v.cache.stats.hits, v.cache.stats.misses) for n, v in verifiers.items() if v.cache
    }
    samples = interleaved(cases, rounds, target_s)
    base = samples["bare_der"]
    points = []
    for n in sizes:
        stats = verifiers[n].cache.stats  # type: ignore[union-attr]
        hits, misses = stats.hits - before[n][0], stats.misses - before[n][1]
        s = samples[f"fleet:{n}"]
        points.append(
            {
                "devices": n,
                "us": summarize(s),
                "ratio_to_bare": paired_ratio(s, base),
                "hit_rate": hits / max(1, hits + misses),
            }
        )
    return {
        "label": chain.label,
        "rounds": rounds,
        "cache_size": CACHE_SIZE,
        "points": points,
        "reference": {
            name: {
                "us": summarize(samples[name]),
                "ratio_to_bare": paired_ratio(samples[name], base),
            }
            for name in ("bare_der", "ov_cold", "ov_hit")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(QUICK_SIZES, 3, 0.01) if args.quick else run()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from report_compare import render_fleet

    print(render_fleet(result))


if __name__ == "__main__":
    main()
