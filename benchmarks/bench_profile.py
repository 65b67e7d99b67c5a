#!/usr/bin/env python3
"""Where an uncached verification and a cache hit spend their time, step by step.

Uncached (3-certificate chain, RFC 9440 headers, default format, cache off): a replica of
``Verifier._run`` with a timestamp between steps runs interleaved with the real
``verify_request`` and with pyca's bare verifier, and each step's median over thousands of
requests is reported; the replica's total is shown next to the real call's. Cache hit: each
step of the hit path timed in a loop of its own (interleaved rounds, medians). This reaches
into originverify's private helpers; if they change, the section reports the error instead
of numbers.

A cProfile of the same path is printed with ``--cprofile`` (not part of the report: the
profiler's per-call cost inflates Python-heavy steps).

Run alone: ``python benchmarks/bench_profile.py [--quick] [--json] [--cprofile]``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from _common import SECRET, interleaved, make_chain, median, rfc9440_headers, rfc9440_pairs

from originverify import EdgeSecret, Verifier
from originverify.headers import WSGIHeaders, values_of

STEPS = (
    "request context + header-name guard",
    "source proof (edge secret)",
    "decode headers (format.decode)",
    "parse DER (leaf + chain)",
    "edge claims cross-check",
    "leaf profile (chain.check_presented)",
    "engine instant (clock.first_instant)",
    "pyca ClientVerifier.verify (not ours)",
    "path checks (clock.check_window + name-constraint guard)",
    "identity (ClientIdentity)",
    "rules + counters",
)
PYCA = STEPS[7]


def uncached_steps(key_type: str, requests: int) -> dict[str, Any]:
    """Per-step median µs, measured in place: a replica of ``Verifier._run`` (and of
    ``CryptographyEngine.validate``) with a timestamp between steps, run ``requests`` times.

    In place, not step by step in tight loops: after pyca's verify the Python steps run
    with cold CPU caches, and cost 2-3x what they cost in a loop of their own. The replica's
    total is reported next to the real ``verify_request``, so a drift from the real code
    shows.
    """
    import time

    from bench_engines import bare_verifier

    from originverify.chain import check_presented
    from originverify.chain.clock import check_window, first_instant
    from originverify.chain.engine import check_unconstrained_leaf
    from originverify.identity import ClientIdentity
    from originverify.source import RequestContext
    from originverify.verifier import _parse

    chain = make_chain(key_type, 3)
    headers = rfc9440_headers(chain)
    v = Verifier(trust=chain.anchors_pem, source=EdgeSecret(secrets=[SECRET]), cache=None)
    assert v.verify_request(headers) is not None
    assert v.trust is not None and v.engine is not None
    engine: Any = v.engine
    ns = time.perf_counter_ns

    def replica() -> list[int]:
        t = [ns()]
        request = RequestContext(headers, None, None, None, None, None)
        if request.headers.underscored_names() & v._guarded:
            raise AssertionError("underscored names")
        snapshot = v.trust.snapshot  # type: ignore[union-attr]
        now_ts = v._now()
        t.append(ns())
        v.source.check(request)
        t.append(ns())
        forwarded = v.format.decode(headers, v.limits)
        t.append(ns())
        leaf, presented = _parse(forwarded)
        t.append(ns())
        v._cross_check(forwarded, leaf, None)
        t.append(ns())
        now = v._validation_time(now_ts)
        check_presented(leaf, presented, forwarded.leaf, forwarded.chain, v.policy, now)
        t.append(ns())
        instant = first_instant(leaf, now)
        t.append(ns())
        verifier = engine._verifier(snapshot, instant)
        path = list(verifier.verify(leaf, [*presented, *snapshot.extra_intermediates]).chain)
        t.append(ns())
        check_window(path, now, v.policy.clock_skew)
        check_unconstrained_leaf(path)
        t.append(ns())
        identity = ClientIdentity(
            leaf, tuple(path[1:]), v._checks, leaf_der=forwarded.leaf, claims=forwarded.claims
        )
        t.append(ns())
        v.rules.check(identity)
        v._count("verified")
        t.append(ns())
        return t

    per_step: dict[str, list[int]] = {name: [] for name in STEPS}
    totals: list[int] = []
    real: list[int] = []
    bare = bare_verifier(chain.root)
    bare_ns: list[int] = []
    for index in range(requests + requests // 10):
        t = replica()
        start = ns()
        v.verify_request(headers)
        middle = ns()
        bare.verify(chain.leaf, chain.intermediates)
        end = ns()
        if index < requests // 10:
            continue  # warm-up
        for i, name in enumerate(STEPS):
            per_step[name].append(t[i + 1] - t[i])
        totals.append(t[-1] - t[0])
        real.append(middle - start)
        bare_ns.append(end - middle)
    steps = {name: median(values) / 1e3 for name, values in per_step.items()}
    total_steps = sum(steps.values())
    return {
        "label": chain.label,
        "steps": steps,
        "sum": total_steps,
        "ours": total_steps - steps[PYCA],
        "replica": median(totals) / 1e3,
        "total": median(real) / 1e3,
        "bare": median(bare_ns) / 1e3,
    }


def hit_steps(rounds: int, target_s: float) -> dict[str, float]:
    from originverify.source import RequestContext

    chain = make_chain("ec", 3)
    headers = rfc9440_headers(chain)
    environ = {
        "HTTP_" + n.upper().replace("-", "_"): val
        for n, val in rfc9440_pairs(chain.leaf_der, chain.chain_der)
    }
    v = Verifier(trust=chain.anchors_pem, source=EdgeSecret(secrets=[SECRET]), cache=1024)
    assert v.verify_request(headers) is not None
    assert v.cache is not None and v.trust is not None
    cache, names = v.cache, v._cert_headers
    key = (v.trust.snapshot.generation, values_of(headers, names))
    request = RequestContext(headers, None, None, None, None, None)
    cases = {
        "verify_request hit, HeaderList (ASGI, raw pairs)": lambda: v.verify_request(headers),
        "verify_request hit, WSGI environ": lambda: v.verify_request(WSGIHeaders(environ)),
        "↳ source proof": lambda: v.source.check(request),
        f"↳ cache key: values of {len(names)} headers, HeaderList": lambda: values_of(
            headers, names
        ),
        f"↳ cache key: values of {len(names)} headers, WSGI environ": lambda: values_of(
            WSGIHeaders(environ), names
        ),
        "↳ ResultCache.get": lambda: cache.get(key, 0.0),
        "↳ counters (stats lock)": lambda: v._count("verified"),
    }
    samples = interleaved(cases, rounds, target_s)
    return {name: median(s) * 1e6 for name, s in samples.items()}


def run(rounds: int = 11, target_s: float = 0.02, requests: int = 3000) -> dict[str, Any]:
    try:
        out: dict[str, Any] = {kt: uncached_steps(kt, requests) for kt in ("rsa", "ec")}
        out["hit"] = hit_steps(rounds, target_s)
    except Exception as exc:  # private helpers may move: report, don't fail
        return {"error": f"{type(exc).__name__}: {exc}"}
    return out


def cprofile(key_type: str = "ec", calls: int = 3000) -> None:
    import cProfile
    import pstats

    chain = make_chain(key_type, 3)
    headers = rfc9440_headers(chain)
    v = Verifier(trust=chain.anchors_pem, source=EdgeSecret(secrets=[SECRET]), cache=None)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(calls):
        v.verify_request(headers)
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cprofile", choices=["ec", "rsa"], help="cProfile the uncached path")
    args = parser.parse_args()
    if args.cprofile:
        cprofile(args.cprofile)
        return
    result = run(3, 0.01, 500) if args.quick else run(args.rounds, 0.02)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from report import render_breakdown

    print(render_breakdown(result))


if __name__ == "__main__":
    main()
