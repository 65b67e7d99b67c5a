#!/usr/bin/env python3
"""Cost of one chain verification by engine, RSA-2048 and ECDSA P-256, measured in one run.

On a 3-certificate chain (root anchor → intermediate → leaf), the same chain for every case:

  originverify uncached   ``Verifier.verify_request`` from RFC 9440 headers, cache off
                          (source proof, decoding, DER parsing, key caps, validity, chain
                          validation, identity: everything a request pays)
  originverify cached     the same call, cache hit
  pyca bare (defaults)    ``ClientVerifier.verify`` on pre-parsed certificates, verifier
                          built once with pyca's default policy: what a user would write
  pyca bare, from DER     the same, parsing the leaf and chain DER on every call (what any
                          per-request verifier must at least do)
  pyca bare (our policy)  the same with originverify's extension policies (their Python
                          callbacks), the object originverify's engine uses
  pyhanko-certvalidator   ``CertificateValidator.async_validate_usage(clientAuth)`` from DER,
                          trust manager built once, a new ValidationContext per call (as the
                          validation time must be current), driven by one event loop
  originverify + pyhanko  ``verify_request`` with ``engine="certvalidator"``, cache off
  signature floor         the two ``verify_directly_issued_by`` calls the chain needs (same
                          pyca/OpenSSL; each loads its issuer's public key); the same two
                          signature checks with keys and TBS bytes prepared once; and
                          ``openssl speed`` (system OpenSSL: 2 × one verify) for reference

Run alone: ``python benchmarks/bench_engines.py [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from _common import (  # benchmarks/ is on sys.path: run as a script or from run_all
    SECRET,
    Chain,
    interleaved,
    make_chain,
    paired_ratio,
    rfc9440_headers,
    summarize,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store

from originverify import EdgeSecret, Verifier

CASES = {
    "uncached": "originverify, cache off (from headers)",
    "cached": "originverify, cache hit (from headers)",
    "bare": "pyca ClientVerifier, default policy, pre-parsed certificates",
    "bare_der": "pyca ClientVerifier, default policy, parsing the DER each call",
    "bare_policy": "pyca ClientVerifier with originverify's policy, pre-parsed",
    "pyhanko": "pyhanko-certvalidator, from DER",
    "ov_pyhanko": "originverify with engine=certvalidator, cache off",
    "floor": "signature floor: verify_directly_issued_by per certificate",
    "floor_sig": "signatures only (issuer keys and TBS bytes prepared once)",
}


def bare_verifier(root: x509.Certificate) -> Any:
    """pyca's client verifier as its documentation builds it (default policies)."""
    return PolicyBuilder().store(Store([root])).time(datetime.now(UTC)).build_client_verifier()


def pyhanko_case(chain: Chain) -> tuple[Callable[[], object], Callable[[], None]]:
    """A call validating ``chain`` with pyhanko-certvalidator, and a closer for its loop."""
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
        context = ValidationContext(
            trust_manager=trust_manager,
            allow_fetching=False,
            revocation_mode="soft-fail",
        )
        validator = CertificateValidator(
            leaf, intermediate_certs=others, validation_context=context
        )
        return loop.run_until_complete(validator.async_validate_usage(set(), {"client_auth"}))

    return validate, loop.close


def floor_case(chain: Chain) -> Callable[[], object]:
    """The signature checks alone: each certificate against its issuer (whose public key
    pyca loads on every call, as a verifier must for a presented intermediate)."""
    path = [chain.leaf, *chain.intermediates, chain.root]
    pairs = list(itertools.pairwise(path))

    def verify() -> bool:
        for cert, issuer in pairs:
            cert.verify_directly_issued_by(issuer)
        return True

    return verify


def signature_case(chain: Chain) -> Callable[[], object]:
    """Signature arithmetic and hashing only: keys loaded and TBS bytes encoded once."""
    path = [chain.leaf, *chain.intermediates, chain.root]
    jobs: list[Callable[[], object]] = []
    for cert, issuer in itertools.pairwise(path):
        key: Any = issuer.public_key()
        sig, tbs = cert.signature, cert.tbs_certificate_bytes
        if isinstance(key, rsa.RSAPublicKey):
            jobs.append(partial(key.verify, sig, tbs, padding.PKCS1v15(), hashes.SHA256()))
        else:
            jobs.append(partial(key.verify, sig, tbs, ec.ECDSA(hashes.SHA256())))

    def verify() -> bool:
        for job in jobs:
            job()
        return True

    return verify


def chain_cases(
    chain: Chain, with_pyhanko: bool = True, with_ov_pyhanko: bool = True
) -> tuple[dict[str, Callable[[], object]], list[Callable[[], None]]]:
    """Every case of ``CASES`` on ``chain``, each checked to succeed once."""
    headers = rfc9440_headers(chain)
    source = EdgeSecret(secrets=[SECRET])
    uncached = Verifier(trust=chain.anchors_pem, source=source, cache=None)
    cached = Verifier(trust=chain.anchors_pem, source=source, cache=1024)
    assert uncached.verify_request(headers) is not None, "uncached verification failed"
    assert cached.verify_request(headers) is not None, "cached verification failed"
    leaf = x509.load_der_x509_certificate(chain.leaf_der)
    inters = [x509.load_der_x509_certificate(d) for d in chain.chain_der]
    bare = bare_verifier(chain.root)
    engine: Any = uncached.engine
    assert uncached.trust is not None
    snapshot = uncached.trust.snapshot
    ours = engine._verifier(snapshot, datetime.now(UTC))

    leaf_der, chain_der = chain.leaf_der, chain.chain_der
    load = x509.load_der_x509_certificate

    cases: dict[str, Callable[[], object]] = {
        "uncached": lambda: uncached.verify_request(headers),
        "cached": lambda: cached.verify_request(headers),
        "bare": lambda: bare.verify(leaf, inters),
        "bare_der": lambda: bare.verify(load(leaf_der), [load(d) for d in chain_der]),
        "bare_policy": lambda: ours.verify(leaf, inters),
        "floor": floor_case(chain),
        "floor_sig": signature_case(chain),
    }
    closers: list[Callable[[], None]] = []
    if with_pyhanko:
        validate, close = pyhanko_case(chain)
        validate()
        cases["pyhanko"] = validate
        closers.append(close)
    if with_ov_pyhanko:
        second = Verifier(
            trust=chain.anchors_pem, source=source, cache=None, engine="certvalidator"
        )
        assert second.verify_request(headers) is not None, "engine=certvalidator failed"
        cases["ov_pyhanko"] = lambda: second.verify_request(headers)
        closers.append(getattr(second.engine, "close", lambda: None))
    for name, fn in cases.items():
        assert fn() is not None, name
    return cases, closers


def openssl_speed(seconds: int = 1) -> dict[str, float]:
    """µs per RSA-2048 and ECDSA P-256 verify from the system ``openssl speed``."""
    try:
        out = subprocess.run(
            ["openssl", "speed", "-seconds", str(seconds), "-mr", "rsa2048", "ecdsap256"],
            capture_output=True,
            text=True,
            timeout=60 + 8 * seconds,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    result: dict[str, float] = {}
    rsa = re.search(r"^\+F2:\d+:2048:([\d.]+):([\d.]+)", out, re.M)
    ecdsa = re.search(r"^\+F4:\d+:256:([\d.]+):([\d.]+)", out, re.M)
    if rsa:
        result["rsa"] = 1e6 / float(rsa.group(2))
    if ecdsa:
        result["ec"] = 1e6 / float(ecdsa.group(2))
    return result


def run(rounds: int = 15, target_s: float = 0.03, speed_seconds: int = 1) -> dict[str, Any]:
    """Structured results: per key type, per case µs (median/min/max) and ratios."""
    speed = openssl_speed(speed_seconds)
    out: dict[str, Any] = {"rounds": rounds, "cases": CASES, "openssl_speed_us": speed}
    for key_type in ("rsa", "ec"):
        chain = make_chain(key_type, 3)
        cases, closers = chain_cases(chain)
        try:
            samples = interleaved(cases, rounds, target_s)
        finally:
            for close in closers:
                close()
        stats = {name: summarize(s) for name, s in samples.items()}
        unc = samples["uncached"]
        ratios = {name: paired_ratio(s, unc) for name, s in samples.items()}
        out[key_type] = {
            "label": chain.label,
            "us": stats,
            "ratio_to_uncached": ratios,
            "overhead_vs_bare": paired_ratio(unc, samples["bare"]) - 1,
            "overhead_vs_bare_der": paired_ratio(unc, samples["bare_der"]) - 1,
            "overhead_vs_bare_policy": paired_ratio(unc, samples["bare_policy"]) - 1,
            "speedup_vs_pyhanko": paired_ratio(samples["pyhanko"], unc),
            "cache_speedup": paired_ratio(unc, samples["cached"]),
            "openssl_floor_us": 2 * speed[key_type] if key_type in speed else None,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 rounds, short batches")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    result = run(rounds, 0.01 if args.quick else 0.03)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from report import render_engines

    print(render_engines(result))


if __name__ == "__main__":
    main()
