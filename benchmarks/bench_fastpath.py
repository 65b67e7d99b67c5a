#!/usr/bin/env python3
"""A new device under a known issuing CA: the validated sub-path fast path against bare pyca.

Same-run ratios (interleaved rounds, medians of per-round ratios) against pyca's bare client
verifier from DER (``load_der_x509_certificate`` of the leaf and chain, then ``verify``), for
ECDSA P-256 and RSA-2048, 3-certificate chains (leaf, intermediate, root anchor):

* ``leaf signature only``: one ``public_key.verify`` with the intermediate's loaded key
  (the floor of any path that must check the leaf's signature);
* ``fast path (chain stage)``: ``SubpathCache.path_for`` alone;
* ``originverify new leaf``: a whole ``Verifier.check`` of a leaf never seen before (the
  leaf-facts memo is cleared before every call, the result cache is off) under an
  intermediate validated before: the fast path;
* ``originverify cold``: the same with the fast path off and nothing interned: every
  verification builds the path with pyca.

Run alone: ``python benchmarks/bench_fastpath.py [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from itertools import cycle
from typing import Any

from _common import (
    SECRET,
    bare_verifier,
    interleaved,
    make_chain,
    median,
    paired_ratio,
    rfc9440_pairs,
)
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from originverify import EdgeSecret, HeaderList, Verifier
from originverify.cache import CertificateInterner
from originverify.chain.leaf import LEAF_FACTS
from originverify.devpki import new_key
from originverify.source import RequestContext

TARGETS = {"originverify new leaf": 0.5, "originverify cold": 1.15}


def _requests(chain: Any, count: int) -> list[tuple[bytes, RequestContext]]:
    """``count`` distinct leaves (one key, distinct serials) under the chain's CA."""
    kt = "rsa" if chain.key_type == "rsa" else "ec"
    key = new_key(kt, 2048)
    out = []
    for index in range(count):
        issued = chain.ca.issue(
            f"device-{index}", emails=[f"d{index}@example.com"], key_type=kt, key=key
        )
        headers = HeaderList(rfc9440_pairs(issued.der, chain.chain_der))
        out.append((issued.der, RequestContext(headers, None, None, None, None, None)))
    return out


def cases(key_type: str, leaves: int) -> dict[str, Callable[[], object]]:
    chain = make_chain(key_type, 3)
    requests = _requests(chain, leaves)
    bare = bare_verifier(chain.root)
    chain_der = chain.chain_der

    def bare_pyca() -> object:
        leaf = x509.load_der_x509_certificate(chain.leaf_der)
        return bare.verify(leaf, [x509.load_der_x509_certificate(d) for d in chain_der])

    issuer_key = chain.intermediates[0].public_key()
    leaf = chain.leaf
    tbs, signature = leaf.tbs_certificate_bytes, leaf.signature

    def signature_only() -> None:
        if isinstance(issuer_key, ec.EllipticCurvePublicKey):
            issuer_key.verify(signature, tbs, ec.ECDSA(leaf.signature_hash_algorithm))  # type: ignore[arg-type]
        else:
            assert isinstance(issuer_key, rsa.RSAPublicKey)
            issuer_key.verify(signature, tbs, padding.PKCS1v15(), leaf.signature_hash_algorithm)

    def verifier(fast: bool) -> Callable[[], object]:
        v = Verifier(trust=chain.anchors_pem, source=EdgeSecret(secrets=[SECRET]), cache=None)
        if not fast:
            v.subpaths = None
            v.interned = CertificateInterner(max_bytes=0)
        stream = cycle(requests)
        expected = "fast" if fast else "chain"
        for _ in range(2):  # the first request validates the sub-path
            outcome = v.check(next(stream)[1])
        assert outcome.via == expected, outcome

        def call() -> object:
            LEAF_FACTS.clear()  # a device never seen before
            return v.check(next(stream)[1])

        return call

    v = Verifier(trust=chain.anchors_pem, source=EdgeSecret(secrets=[SECRET]), cache=None)
    v.check(requests[0][1])
    assert v.subpaths is not None and v.trust is not None
    subpaths, snapshot, now = v.subpaths, v.trust.snapshot, v._validation_time(v._now())
    parsed = x509.load_der_x509_certificate(requests[1][0])

    def chain_stage() -> object:
        path = subpaths.path_for(parsed, requests[1][0], chain_der, snapshot, now)
        assert path is not None
        return path

    return {
        "bare pyca verify (from DER)": bare_pyca,
        "leaf signature only": signature_only,
        "fast path (chain stage)": chain_stage,
        "originverify new leaf": verifier(fast=True),
        "originverify cold": verifier(fast=False),
    }


def run(rounds: int = 11, target_s: float = 0.03, leaves: int = 64) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key_type in ("ec", "rsa"):
        samples = interleaved(cases(key_type, leaves), rounds, target_s)
        base = samples["bare pyca verify (from DER)"]
        out[key_type] = {
            name: {
                "us": median(s) * 1e6,
                "ratio": paired_ratio(s, base),
                "target": TARGETS.get(name),
            }
            for name, s in samples.items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(rounds=5 if args.quick else 11, target_s=0.02 if args.quick else 0.03)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key_type, rows in result.items():
        print(f"\n{'ECDSA P-256' if key_type == 'ec' else 'RSA-2048'} (3-certificate chain)")
        for name, row in rows.items():
            target = row["target"]
            verdict = (
                ""
                if target is None
                else f"  target ≤ {target}× " + ("met" if row["ratio"] <= target else "MISSED")
            )
            print(f"  {name:32s} {row['us']:8.1f} µs  {row['ratio']:5.2f}×{verdict}")


if __name__ == "__main__":
    main()
