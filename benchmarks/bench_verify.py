#!/usr/bin/env python3
"""Cost of verifying a CloudFront passthrough request, as ratios measured in one run.

Compares, on the same 3-certificate ECDSA P-256 chain (root → intermediate → leaf):
  bare      pyca ClientVerifier.verify on pre-parsed certificates (same policy object)
  uncached  Verifier.verify_request from RFC 9440 headers, cache off (everything we add:
            source proof, decoding, DER parsing, key caps, validity, identity)
  cached    Verifier.verify_request, cache hit
  leaf profile  chain.check_presented alone (key caps, extensions, usage, validity): memo
            hit (a certificate seen before) and memo miss (a new certificate every call)
Rounds are interleaved and the median per-round mean is reported, so a noisy neighbour
slows all three alike. Targets: uncached overhead <= 15% over bare; cache hit >= 50x faster
than uncached.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography import x509

from originverify import EdgeSecret, HeaderList, Verifier
from originverify.chain import check_presented
from originverify.chain.keys import KEY_FACTS
from originverify.chain.leaf import LEAF_FACTS
from originverify.devpki import CertificateAuthority
from originverify.formats.sfbinary import serialize_item, serialize_list

SECRET = "bench-secret-0123456789abcdef0123"


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--key-type", default="ec", choices=["ec", "rsa"])
    args = parser.parse_args()

    root = CertificateAuthority.root_ca(key_type=args.key_type)
    leaf = root.intermediate(key_type=args.key_type).issue(
        "bench-client", emails=["bench@example.com"], key_type=args.key_type
    )
    headers = HeaderList(
        [
            ("X-Origin-Verify", SECRET),
            ("Client-Cert", serialize_item(leaf.der)),
            ("Client-Cert-Chain", serialize_list(leaf.chain_der)),
        ]
    )
    source = EdgeSecret(secrets=[SECRET])
    uncached = Verifier(trust=root.pem, source=source, cache=None)
    cached = Verifier(trust=root.pem, source=source, cache=1024)
    assert uncached.verify_request(headers) is not None
    assert cached.verify_request(headers) is not None

    assert uncached.engine is not None and uncached.trust is not None
    snapshot = uncached.trust.snapshot
    parsed_leaf = x509.load_der_x509_certificate(leaf.der)
    parsed_chain = [x509.load_der_x509_certificate(d) for d in leaf.chain_der]

    def bare() -> object:
        # The same verifier object our engine uses (built once per second).
        now = datetime.now(UTC).replace(microsecond=0)  # engines build at whole seconds
        verifier = uncached.engine._verifier(snapshot, now)  # type: ignore[union-attr]
        return verifier.verify(parsed_leaf, parsed_chain)

    def profile_hit() -> object:
        now = datetime.now(UTC)
        return check_presented(
            parsed_leaf, parsed_chain, leaf.der, leaf.chain_der, uncached.policy, now
        )

    def profile_miss() -> object:
        LEAF_FACTS.clear()
        KEY_FACTS.clear()
        return profile_hit()

    bare()
    results: dict[str, list[float]] = {
        "bare": [],
        "uncached": [],
        "cached": [],
        "profile_hit": [],
        "profile_miss": [],
    }
    for _ in range(args.rounds):
        results["bare"].append(per_call(bare, 200))
        results["uncached"].append(per_call(lambda: uncached.verify_request(headers), 200))
        results["cached"].append(per_call(lambda: cached.verify_request(headers), 4000))
        results["profile_hit"].append(per_call(profile_hit, 2000))
        results["profile_miss"].append(per_call(profile_miss, 500))
    med = {k: statistics.median(v) for k, v in results.items()}

    overhead = med["uncached"] / med["bare"] - 1
    speedup = med["uncached"] / med["cached"]
    chain = "ECDSA P-256" if args.key_type == "ec" else "RSA-2048"
    print(f"## Verification cost, 3-certificate {chain} chain from RFC 9440 headers\n")
    print("| path | µs per request (this machine) | ratio to bare verifier |")
    print("|---|---:|---:|")
    for name, label in (
        ("bare", "bare pyca ClientVerifier.verify (pre-parsed)"),
        ("uncached", "originverify verify_request, cache off"),
        ("cached", "originverify verify_request, cache hit"),
        ("profile_hit", "leaf profile (check_presented), memo hit"),
        ("profile_miss", "leaf profile (check_presented), new certificate"),
    ):
        print(f"| {label} | {med[name] * 1e6:.1f} | {med[name] / med['bare']:.3f} |")
    print(
        f"\nuncached overhead over bare: {overhead:+.1%} (target <= +15%)"
        f" -> {'met' if overhead <= 0.15 else 'MISSED'}"
    )
    print(
        f"cache hit speed-up over uncached: {speedup:.0f}x (target >= 50x)"
        f" -> {'met' if speedup >= 50 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
