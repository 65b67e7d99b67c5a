#!/usr/bin/env python3
"""Side by side in one run: what one client-certificate verification costs, by engine and by
path, as ratios to bare pyca verifying from DER; and the signed envelope against its floor.

For each key type (ECDSA P-256, RSA-2048), on a 3-certificate chain (root anchor →
intermediate → leaf), every case interleaved round by round:

  floor_sig     the 2 signature verifications the chain needs, public keys already loaded
  floor_leaf    the leaf's signature alone, its issuer's key already loaded
  bare_der      pyca ``ClientVerifier.verify``, parsing the leaf and chain DER each call,
                verifier built once with pyca's default client policy: **the baseline 1.0**
  proto_anchor  pyca with the (already validated) intermediate as its only trust anchor,
                verifying the leaf from DER: the prototype of a new-leaf fast path (issue 17)
  openssl       OpenSSL's ``X509_verify_cert`` via pyOpenSSL (``X509Store`` built once,
                ``X509StoreContext`` per call), loading the DER each call
  pyhanko       pyhanko-certvalidator from DER (trust manager and event loop built once)
  ov_cold       originverify ``Verifier.check``, cache off, the same request every call
  ov_new_leaf   ``Verifier.check`` with the result cache on, every call a leaf it has never
                seen, under the intermediate it validated before (the fleet case)
  ov_hit        ``Verifier.check``, result cache hit

Signed envelope (RFC 9421, ECDSA chain set, certificate verdict cached so the envelope is
what is measured), every call a freshly signed request (the nonce cache refuses replays):

  raw_ed25519   ``Ed25519PublicKey.verify`` of one signature over a message of the size of
                the signature base, key loaded once
  env_ed25519   ``Verifier.check`` with ``SignedEnvelope`` (Ed25519)
  raw_hmac      one HMAC-SHA256 of the same message and a constant-time compare
  env_hmac      ``Verifier.check`` with ``SignedEnvelope`` (HMAC-SHA256)

``Verifier.check`` is given a ``RequestContext`` built before timing (the adapter's job).

Run alone: ``python benchmarks/bench_compare.py [--quick] [--json]``; thread scaling alone:
``python benchmarks/bench_compare.py --threads 1.0``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from _common import (
    SECRET,
    Chain,
    interleaved,
    make_chain,
    paired_ratio,
    rfc9440_pairs,
    summarize,
)
from _leaves import LeafFactory
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store

from originverify import EdgeSecret, RequestContext, ResultCache, Verifier, from_pairs

CASES = {
    "floor_sig": "signature floor: the 2 signature verifications, keys loaded",
    "floor_leaf": "leaf signature only, issuer key loaded",
    "bare_der": "bare pyca ClientVerifier.verify, from DER (baseline)",
    "proto_anchor": "pyca with the intermediate as its only anchor, leaf from DER (prototype)",
    "openssl": "OpenSSL X509_verify_cert via pyOpenSSL, from DER",
    "pyhanko": "pyhanko-certvalidator, from DER",
    "ov_cold": "originverify, cache off",
    "ov_new_leaf": "originverify, new leaf under an intermediate validated before",
    "ov_hit": "originverify, cache hit",
    "raw_ed25519": "raw Ed25519 verify (signature-base-sized message)",
    "env_ed25519": "originverify, Ed25519-signed request (envelope + cached chain)",
    "raw_hmac": "raw HMAC-SHA256 + compare (same message)",
    "env_hmac": "originverify, HMAC-signed request (envelope + cached chain)",
}
ENVELOPE = ("raw_ed25519", "env_ed25519", "raw_hmac", "env_hmac")
#: Calls per timed batch of a case that consumes a fresh leaf or signature per call.
FRESH_CAP = {"full": 200, "quick": 60}
METHOD, TARGET, AUTHORITY = "GET", "/api/orders?page=2", "origin.example"


def context(pairs: Sequence[tuple[str, str]], **request: str) -> RequestContext:
    return RequestContext(from_pairs(pairs), "127.0.0.1", **request)


class Fresh:
    """Calls ``fn`` on the next item of a pre-made pool; counts wrap-arounds (a wrap would
    measure a repeat, not a fresh item, so the report flags it)."""

    def __init__(self, fn: Callable[[Any], object], items: Sequence[Any]) -> None:
        self.fn, self.items, self.next, self.wraps = fn, items, 0, 0

    def __call__(self) -> object:
        item = self.items[self.next]
        self.next += 1
        if self.next == len(self.items):
            self.next, self.wraps = 0, self.wraps + 1
        return self.fn(item)


def expect_success(verifier: Verifier, request: RequestContext, name: str) -> str:
    outcome = verifier.check(request)
    if outcome.identity is None:
        raise RuntimeError(f"{name}: not verified: {outcome.error}")
    return str(outcome.via)


# -- the engines -----------------------------------------------------------------------------


def bare_case(chain: Chain) -> Callable[[], object]:
    verifier = (
        PolicyBuilder().store(Store([chain.root])).time(datetime.now(UTC)).build_client_verifier()
    )
    load = x509.load_der_x509_certificate
    leaf_der, chain_der = chain.leaf_der, chain.chain_der
    return lambda: verifier.verify(load(leaf_der), [load(d) for d in chain_der])


def anchor_case(chain: Chain) -> Callable[[], object]:
    verifier = (
        PolicyBuilder()
        .store(Store([chain.intermediates[0]]))
        .time(datetime.now(UTC))
        .build_client_verifier()
    )
    load, leaf_der = x509.load_der_x509_certificate, chain.leaf_der
    return lambda: verifier.verify(load(leaf_der), [])


def openssl_case(chain: Chain) -> Callable[[], object]:
    from OpenSSL import crypto

    store = crypto.X509Store()
    store.add_cert(crypto.X509.from_cryptography(chain.root))
    asn1, load = crypto.FILETYPE_ASN1, crypto.load_certificate
    leaf_der, chain_der = chain.leaf_der, chain.chain_der

    def verify() -> object:
        leaf = load(asn1, leaf_der)
        others = [load(asn1, d) for d in chain_der]
        crypto.X509StoreContext(store, leaf, others).verify_certificate()
        return True

    return verify


def pyhanko_case(chain: Chain) -> tuple[Callable[[], object], Callable[[], None]]:
    from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.registry import SimpleTrustManager

    root = asn1_x509.Certificate.load(chain.root.public_bytes(Encoding.DER))
    trust_manager = SimpleTrustManager.build(trust_roots=[root])
    loop = asyncio.new_event_loop()
    leaf_der, chain_der = chain.leaf_der, chain.chain_der

    def validate() -> object:
        leaf = asn1_x509.Certificate.load(leaf_der)
        others = [asn1_x509.Certificate.load(d) for d in chain_der]
        ctx = ValidationContext(
            trust_manager=trust_manager, allow_fetching=False, revocation_mode="soft-fail"
        )
        validator = CertificateValidator(leaf, intermediate_certs=others, validation_context=ctx)
        return loop.run_until_complete(validator.async_validate_usage(set(), {"client_auth"}))

    return validate, loop.close


def signature_jobs(chain: Chain) -> list[Callable[[], object]]:
    """One prepared signature check per certificate: key loaded, TBS bytes encoded once."""
    jobs: list[Callable[[], object]] = []
    for cert, issuer in itertools.pairwise([chain.leaf, *chain.intermediates, chain.root]):
        key: Any = issuer.public_key()
        sig, tbs = cert.signature, cert.tbs_certificate_bytes
        if isinstance(key, rsa.RSAPublicKey):
            jobs.append(partial(key.verify, sig, tbs, padding.PKCS1v15(), hashes.SHA256()))
        else:
            jobs.append(partial(key.verify, sig, tbs, ec.ECDSA(hashes.SHA256())))
    return jobs


def run_all(jobs: Sequence[Callable[[], object]]) -> Callable[[], object]:
    def verify() -> bool:
        for job in jobs:
            job()
        return True

    return verify


def originverify_cases(
    chain: Chain, pool: int
) -> tuple[dict[str, Callable[[], object]], dict[str, Any]]:
    """Cold, new leaf and hit, each checked to verify once; ``facts``: the path each took."""
    source = EdgeSecret(secrets=[SECRET])
    request = context(rfc9440_pairs(chain.leaf_der, chain.chain_der))
    cold = Verifier(trust=chain.anchors_pem, source=source, cache=None)
    hit = Verifier(trust=chain.anchors_pem, source=source, cache=ResultCache(1024))
    fleet = Verifier(trust=chain.anchors_pem, source=source, cache=ResultCache(1024))
    factory = LeafFactory(chain.ca, chain.key_type)
    leaves = [context(rfc9440_pairs(d, chain.chain_der)) for d in factory.pool(pool + 1)]
    facts = {
        "via_cold": expect_success(cold, request, "cold"),
        "via_hit_first": expect_success(hit, request, "hit"),
        "via_new_leaf_first": expect_success(fleet, leaves[-1], "first leaf"),
    }
    facts["via_hit"] = expect_success(hit, request, "hit")
    facts["via_new_leaf"] = expect_success(fleet, leaves[0], "new leaf")
    new_leaf = Fresh(fleet.check, leaves[1:-1])
    facts["new_leaf"] = (new_leaf, fleet)
    cases: dict[str, Callable[[], object]] = {
        "ov_cold": partial(cold.check, request),
        "ov_new_leaf": new_leaf,
        "ov_hit": partial(hit.check, request),
    }
    return cases, facts


# -- the signed envelope ---------------------------------------------------------------------


def envelope_cases(
    chain: Chain, pool: int, vias: dict[str, str]
) -> dict[str, Callable[[], object]]:
    """The signed request checks and their raw floors (see the module docstring); ``vias``
    gets the path each signed check took (``cache``: the envelope is what is measured)."""
    from originverify.signatures import EnvelopeSigner, HmacSecret, SignedEnvelope

    pairs = rfc9440_pairs(chain.leaf_der, chain.chain_der)[1:]  # no edge secret
    ed_key = Ed25519PrivateKey.generate()
    secret = HmacSecret(hashlib.sha256(b"bench hmac secret").digest())
    cases: dict[str, Callable[[], object]] = {}
    message = b""
    for name, signing, verifying in (
        ("env_ed25519", ed_key, ed_key.public_key()),
        ("env_hmac", secret, secret),
    ):
        signer = EnvelopeSigner(signing, "bench-key", lifetime=3600)
        source = SignedEnvelope({"bench-key": verifying}, max_age=3600)
        verifier = Verifier(trust=chain.anchors_pem, source=source, cache=ResultCache(1024))
        signed = []
        for _ in range(pool):
            headers = [*pairs, *signer.sign(METHOD, AUTHORITY, TARGET, pairs)]
            signed.append(context(headers, method=METHOD, target=TARGET, authority=AUTHORITY))
        expect_success(verifier, signed[-1], name)  # the chain verdict is now cached
        vias[name] = expect_success(verifier, signed[-2], name)
        cases[name] = Fresh(verifier.check, signed[:-2])
        # The signature base covers the request line and every certificate header value.
        message = "\n".join(f'"{k}": {v}' for k, v in signed[0].headers.items()).encode()
    signature = ed_key.sign(message)
    public = ed_key.public_key()
    cases["raw_ed25519"] = partial(public.verify, signature, message)
    mac = hmac.new(secret.secret, message, hashlib.sha256).digest()
    cases["raw_hmac"] = lambda: hmac.compare_digest(
        hmac.new(secret.secret, message, hashlib.sha256).digest(), mac
    )
    return cases


# -- one key type ----------------------------------------------------------------------------


def measure_key_type(
    key_type: str, rounds: int, target_s: float, cap: int, envelope: bool
) -> dict[str, Any]:
    chain = make_chain(key_type, 3)
    pool = 4 * cap + rounds * cap  # calibration takes at most ~4 batches' worth
    jobs = signature_jobs(chain)
    pyhanko, close = pyhanko_case(chain)
    cases: dict[str, Callable[[], object]] = {
        "floor_sig": run_all(jobs),
        "floor_leaf": jobs[0],
        "bare_der": bare_case(chain),
        "proto_anchor": anchor_case(chain),
        "openssl": openssl_case(chain),
        "pyhanko": pyhanko,
    }
    ours, facts = originverify_cases(chain, pool)
    cases.update(ours)
    if envelope:
        vias: dict[str, str] = {}
        cases.update(envelope_cases(chain, pool, vias))
        facts.update({f"via_{name}": via for name, via in vias.items()})
    for fn in cases.values():
        if not isinstance(fn, Fresh):
            fn()  # every engine accepts the chain (each raises otherwise)
    fresh_cap = {name: cap for name, fn in cases.items() if isinstance(fn, Fresh)}
    try:
        samples = interleaved(cases, rounds, target_s, max_calls=fresh_cap)
    finally:
        close()
    new_leaf, fleet = facts.pop("new_leaf")
    cache = fleet.cache
    base = samples["bare_der"]
    return {
        "label": chain.label,
        "us": {name: summarize(s) for name, s in samples.items()},
        "ratio_to_bare": {name: paired_ratio(s, base) for name, s in samples.items()},
        "hit_vs_cold": paired_ratio(samples["ov_cold"], samples["ov_hit"]),
        "ratio_to_cold": {name: paired_ratio(s, samples["ov_cold"]) for name, s in samples.items()},
        "ratio_to_raw": {
            "env_ed25519": paired_ratio(samples["env_ed25519"], samples["raw_ed25519"]),
            "env_hmac": paired_ratio(samples["env_hmac"], samples["raw_hmac"]),
        }
        if envelope
        else {},
        "facts": {
            **facts,
            "new_leaf_pool": len(new_leaf.items),
            "new_leaf_wraps": new_leaf.wraps,
            "new_leaf_cache_hits": cache.stats.hits if cache is not None else None,
            "stale_fresh": {n: fn.wraps for n, fn in cases.items() if isinstance(fn, Fresh)},
        },
    }


# -- thread scaling (run in a child process: threads of its own, nothing else running) ------


def thread_rate(fn: Callable[[], object], threads: int, seconds: float) -> float:
    """Requests per wall-clock second of ``threads`` threads calling ``fn`` in a loop."""
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        barrier.wait()
        stop, n = time.perf_counter() + seconds, 0
        while time.perf_counter() < stop:
            fn()
            n += 1
        counts[index] = n

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    start = time.perf_counter()
    barrier.wait()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def thread_scaling(seconds: float, rounds: int) -> dict[str, Any]:
    """2 threads vs 1, rounds alternated: uncached originverify and bare pyca from DER."""
    out: dict[str, Any] = {"seconds": seconds, "rounds": rounds}
    for key_type in ("ec", "rsa"):
        chain = make_chain(key_type, 3)
        cold = Verifier(trust=chain.anchors_pem, source=EdgeSecret(secrets=[SECRET]), cache=None)
        request = context(rfc9440_pairs(chain.leaf_der, chain.chain_der))
        expect_success(cold, request, "cold")
        row: dict[str, Any] = {"label": chain.label}
        for name, fn in (("ov_cold", partial(cold.check, request)), ("bare_der", bare_case(chain))):
            ratios, one, two = [], [], []
            for _ in range(rounds):
                one.append(thread_rate(fn, 1, seconds))
                two.append(thread_rate(fn, 2, seconds))
                ratios.append(two[-1] / one[-1])
            row[name] = {
                "rps_1": sorted(one)[len(one) // 2],
                "rps_2": sorted(two)[len(two) // 2],
                "ratio": sorted(ratios)[len(ratios) // 2],
            }
        out[key_type] = row
    return out


def run_threads(seconds: float, rounds: int, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--threads", str(seconds)]
    proc = subprocess.run(
        [*cmd, "--rounds", str(rounds)], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode:
        raise RuntimeError(f"thread scaling: {proc.stderr[-1500:]}")
    return dict(json.loads(proc.stdout))


def run(
    rounds: int = 15,
    target_s: float = 0.03,
    quick: bool = False,
    thread_seconds: float = 1.0,
    thread_rounds: int = 3,
    fresh_cap: int | None = None,
) -> dict[str, Any]:
    cap = fresh_cap or FRESH_CAP["quick" if quick else "full"]
    out: dict[str, Any] = {"rounds": rounds, "cases": CASES, "fresh_cap": cap}
    for key_type in ("ec", "rsa"):
        out[key_type] = measure_key_type(key_type, rounds, target_s, cap, key_type == "ec")
    out["threads"] = run_threads(thread_seconds, thread_rounds, timeout=60 + 30 * thread_seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 rounds, short batches")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    parser.add_argument("--threads", type=float, help="only thread scaling, seconds per run")
    args = parser.parse_args()
    if args.threads:
        print(json.dumps(thread_scaling(args.threads, args.rounds)))
        return
    if args.quick:
        result = run(3, 0.01, quick=True, thread_seconds=0.5, thread_rounds=1)
    else:
        result = run(args.rounds)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return
    from report_compare import render_compare

    print(render_compare(result))


if __name__ == "__main__":
    main()
