#!/usr/bin/env python3
"""The RFC 9421 signed envelope against its floor, and the replay stores against each other.

    python benchmarks/bench_envelope.py [--rounds 15] [--quick] [--json]

Same-run ratios, rounds interleaved (``_common.interleaved``):

  ed25519_raw      one Ed25519 verify of a signature base the size the envelope signs
  ed25519_check    ``SignedEnvelope.check`` of an Ed25519-signed request: both fields parsed,
                   policy, coverage, base built, the verify (no replay store)
  hmac_check       the same with an HMAC-SHA256 key
  chain_bare       bare pyca ``ClientVerifier.verify`` of a 3-certificate P-256 chain
                   (pre-parsed certificates: the cheapest uncached chain verification)
  memory_check     ``ed25519_check`` plus the in-memory replay store (a fresh nonce per call)
  redis_check      ``ed25519_check`` plus the Redis replay store on a local redis-server
                   (skipped when redis-server or redis-py is missing)

Targets (issue 17 item 4, issue 18): ed25519_check ≤ 1.3 × ed25519_raw; hmac_check ≤ 0.1 ×
chain_bare; redis_check / memory_check is reported (no target: one loopback round trip).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import (  # noqa: E402
    bare_verifier,
    interleaved,
    make_chain,
    paired_ratio,
    summarize,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from originverify.envelope import (  # noqa: E402
    EnvelopeSigner,
    HmacSecret,
    MemoryReplayStore,
    ReplayStore,
    SignedEnvelope,
)
from originverify.headers import HeaderList  # noqa: E402
from originverify.source import RequestContext  # noqa: E402

AUTHORITY, TARGET = "app.example.com", "/orders/7?expand=items"
#: What a passthrough edge sets: a leaf and one intermediate, RFC 9440 style, plus its secret.
EDGE_HEADERS = [
    ("client-cert", ":" + "A" * 680 + ":"),
    ("client-cert-chain", ":" + "B" * 640 + ":"),
    ("x-origin-verify", "bench-secret-0123456789abcdef0123"),
]
POOL = 2048


def _request(signer: EnvelopeSigner) -> RequestContext:
    pairs = EDGE_HEADERS + signer.sign("GET", AUTHORITY, TARGET, EDGE_HEADERS)
    return RequestContext(HeaderList(pairs), method="GET", target=TARGET, authority=AUTHORITY)


def _proof(key: Any, store: ReplayStore | None) -> SignedEnvelope:
    # An hour of validity: a long run must not turn into a benchmark of signature_expired.
    proof = SignedEnvelope({"edge-1": key}, max_age=3600, nonce_cache=None, replay_store=store)
    proof.bind(("client-cert", "client-cert-chain"))
    return proof


def _cycling(
    proof: SignedEnvelope, signer: EnvelopeSigner, fresh: Callable[[int], None]
) -> Callable[[], object]:
    """``proof.check`` over a pool of distinct signed requests; ``fresh(cycle)`` gives the store
    a new namespace each time the pool wraps, so every call is an accepted, first-seen nonce."""
    requests = [_request(signer) for _ in range(POOL)]
    counter: Iterator[int] = itertools.count()

    def check() -> object:
        index = next(counter)
        if index % POOL == 0:
            fresh(index // POOL)
        return proof.check(requests[index % POOL])

    return check


def _base_of(proof: SignedEnvelope, request: RequestContext) -> bytes:
    from originverify.envelope.fields import parse_fields as _parse

    inputs, signatures = (
        request.headers.get_all("signature-input"),
        request.headers.get_all("signature"),
    )
    return proof._base(request, _parse(inputs[0], signatures[0]))


def cases(redis_url: str | None) -> dict[str, Callable[[], object]]:
    ed_key = Ed25519PrivateKey.generate()
    hmac_key = HmacSecret(b"h" * 32)
    ed_signer = EnvelopeSigner(ed_key, "edge-1", lifetime=3600)
    hmac_signer = EnvelopeSigner(hmac_key, "edge-1", lifetime=3600)
    ed_request, hmac_request = _request(ed_signer), _request(hmac_signer)
    ed_proof, hmac_proof = _proof(ed_key.public_key(), None), _proof(hmac_key, None)
    base = _base_of(ed_proof, ed_request)  # the very bytes the check verifies
    signature, public = ed_key.sign(base), ed_key.public_key()
    chain = make_chain("ec", 3)
    bare = bare_verifier(chain.root)
    leaf, inters = chain.leaf, chain.intermediates
    memory = MemoryReplayStore(POOL * 2)
    out: dict[str, Callable[[], object]] = {
        "ed25519_raw": lambda: public.verify(signature, base),
        "ed25519_check": lambda: ed_proof.check(ed_request),
        "hmac_check": lambda: hmac_proof.check(hmac_request),
        "chain_bare": lambda: bare.verify(leaf, inters),
        "memory_check": _cycling(
            _proof(public, memory), ed_signer, lambda _: memory._entries.clear()
        ),
    }
    if redis_url:
        from originverify.envelope.redis_store import RedisReplayStore

        redis_store = RedisReplayStore(redis_url, prefix="bench:0:")

        def renamespace(cycle: int) -> None:
            redis_store.prefix = f"bench:{cycle}:"

        out["redis_check"] = _cycling(_proof(public, redis_store), ed_signer, renamespace)
    for name, fn in out.items():
        assert fn() is not None or name in ("ed25519_raw",), name
    return out


def run(rounds: int, target_s: float) -> dict[str, Any]:
    from tests.replay.redis_server import RedisServer, find_redis_server

    server = None
    binary = find_redis_server()
    try:
        import redis  # noqa: F401
    except ImportError:
        binary = None
    if binary:
        server = RedisServer(binary)
        server.start()
    try:
        samples = interleaved(cases(server.url if server else None), rounds, target_s)
    finally:
        if server:
            server.close()
    ratios = {
        "ed25519_check / ed25519_raw": paired_ratio(
            samples["ed25519_check"], samples["ed25519_raw"]
        ),
        "hmac_check / chain_bare": paired_ratio(samples["hmac_check"], samples["chain_bare"]),
        "memory_check / ed25519_check": paired_ratio(
            samples["memory_check"], samples["ed25519_check"]
        ),
    }
    if "redis_check" in samples:
        ratios["redis_check / memory_check"] = paired_ratio(
            samples["redis_check"], samples["memory_check"]
        )
    return {
        "us": {name: summarize(values) for name, values in samples.items()},
        "ratios": ratios,
        "targets": {"ed25519_check / ed25519_raw": 1.3, "hmac_check / chain_bare": 0.1},
    }


def render(result: dict[str, Any]) -> str:
    lines = ["| case | µs (median) |", "|---|---:|"]
    lines += [f"| {name} | {v['median']:.1f} |" for name, v in result["us"].items()]
    lines += ["", "| ratio | value | target |", "|---|---:|---|"]
    for name, value in result["ratios"].items():
        target = result["targets"].get(name)
        verdict = "" if target is None else f"≤ {target} ({'met' if value <= target else 'MISSED'})"
        lines.append(f"| {name} | {value:.3f} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 rounds, short batches")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = parser.parse_args()
    result = run(3 if args.quick else args.rounds, 0.01 if args.quick else 0.03)
    print(json.dumps(result, indent=2) if args.json else render(result))


if __name__ == "__main__":
    main()
