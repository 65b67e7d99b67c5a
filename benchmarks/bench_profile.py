#!/usr/bin/env python3
"""Where a verification spends its time, stage by stage: cold, new leaf and cache hit.

Walks the verifier's own stage list (``Verifier._stages``, the ``STAGES`` of
``originverify/verifier.py``) with a timestamp between stages, then settles the verdict as
``check`` does, interleaved request by request with the real ``Verifier.check`` and with
bare pyca from DER; per-stage medians over many requests. Stages are read from the verifier,
so the breakdown follows the request path as it changes; if its private names move, the
section reports the error instead of numbers.

Scenarios, per key type (3-certificate chain): *cold* (cache off, the same request), *new
leaf* (cache on, every request a leaf never seen under the intermediate validated before)
and *hit*.

``--cprofile ec|rsa`` prints a cProfile of the cold path (not part of the report: the
profiler's per-call cost inflates Python-heavy steps).

Run alone: ``python benchmarks/bench_profile.py [--quick] [--json] [--cprofile ec]``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from _common import SECRET, make_chain, median, rfc9440_pairs
from _leaves import LeafFactory
from bench_compare import bare_case, context

from originverify import EdgeSecret, RequestContext, ResultCache, Verifier

SETTLE = "settle (verdict, log, counters)"


def staged(verifier: Verifier, request: RequestContext) -> tuple[dict[str, int], str]:
    """ns per stage of one ``check``, replayed from the verifier's own stage list."""
    from originverify.outcome import NO_TRACE
    from originverify.stages import State

    ns = time.perf_counter_ns
    spent: dict[str, int] = {}
    state = State(request, NO_TRACE, verifier._now())
    for name, stage in verifier._stages:
        start = ns()
        state.stage = name
        stage(state)
        spent[name] = ns() - start
        if state.done:
            break
    start = ns()
    outcome = verifier._settle(state, None, None)
    spent[SETTLE] = ns() - start
    if outcome.identity is None:
        raise RuntimeError(f"replayed check refused: {outcome.error}")
    return spent, state.via


def scenario(
    verifier: Verifier, requests: Iterator[RequestContext], count: int, bare: Callable[[], object]
) -> dict[str, Any]:
    """Per-stage medians (µs) of the replay, next to the real ``check`` and bare pyca."""
    ns = time.perf_counter_ns
    per_stage: dict[str, list[int]] = {}
    real, reference, replayed = [], [], []
    via = ""
    for index in range(count + count // 10):
        spent, via = staged(verifier, next(requests))
        request = next(requests)
        start = ns()
        verifier.check(request)
        middle = ns()
        bare()
        end = ns()
        if index < count // 10:
            continue  # warm-up
        for name, value in spent.items():
            per_stage.setdefault(name, []).append(value)
        replayed.append(sum(spent.values()))
        real.append(middle - start)
        reference.append(end - middle)
    return {
        "via": via,
        "stages": {name: median(v) / 1e3 for name, v in per_stage.items() if len(v) > count // 2},
        "replayed": median(replayed) / 1e3,
        "check": median(real) / 1e3,
        "bare_der": median(reference) / 1e3,
    }


def key_type_steps(key_type: str, count: int) -> dict[str, Any]:
    chain = make_chain(key_type, 3)
    source = EdgeSecret(secrets=[SECRET])
    request = context(rfc9440_pairs(chain.leaf_der, chain.chain_der))
    bare = bare_case(chain)
    cold = Verifier(trust=chain.anchors_pem, source=source, cache=None)
    hit = Verifier(trust=chain.anchors_pem, source=source, cache=ResultCache(1024))
    fleet = Verifier(trust=chain.anchors_pem, source=source, cache=ResultCache(1024))
    hit.check(request)
    leaves = LeafFactory(chain.ca, key_type).pool(2 * (count + count // 10) + 1)
    fresh = iter([context(rfc9440_pairs(d, chain.chain_der)) for d in leaves])
    fleet.check(next(fresh))  # the intermediate is now validated

    def same() -> Iterator[RequestContext]:
        while True:
            yield request

    return {
        "label": chain.label,
        "cold": scenario(cold, same(), count, bare),
        "new_leaf": scenario(fleet, fresh, count, bare),
        "hit": scenario(hit, same(), count, bare),
    }


def run(count: int = 1500) -> dict[str, Any]:
    try:
        return {kt: key_type_steps(kt, count) for kt in ("ec", "rsa")}
    except Exception as exc:  # private names may move: report, don't fail
        return {"error": f"{type(exc).__name__}: {exc}"}


def cprofile(key_type: str = "ec", calls: int = 3000) -> None:
    import cProfile
    import pstats

    chain = make_chain(key_type, 3)
    request = context(rfc9440_pairs(chain.leaf_der, chain.chain_der))
    v = Verifier(trust=chain.anchors_pem, source=EdgeSecret(secrets=[SECRET]), cache=None)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(calls):
        v.check(request)
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cprofile", choices=["ec", "rsa"], help="cProfile the cold path")
    args = parser.parse_args()
    if args.cprofile:
        cprofile(args.cprofile)
        return
    result = run(200 if args.quick else 1500)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from report_sections import render_breakdown

    print(render_breakdown(result))


if __name__ == "__main__":
    main()
