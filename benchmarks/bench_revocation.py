#!/usr/bin/env python3
"""Cost of revocation checking and of the second engine, as ratios measured in one run.

On one 3-certificate ECDSA P-256 chain (root → intermediate → leaf), cache off so every
request does the full work, ``Verifier.verify_request`` from RFC 9440 headers with:
  off            revocation=None (engine: cryptography)
  crl-leaf       Revocation with the intermediate's CRL of 100k revoked serials loaded
                 (leaf not revoked), scope="leaf"
  crl-chain      the same plus the root's CRL, scope="chain"
  certvalidator  engine="certvalidator" (pyhanko-certvalidator), revocation off
  both           engine="both", revocation off
Rounds are interleaved and the median per-round mean is reported (and the ratio of the best
rounds, less sensitive to a noisy neighbour); the direct cost of ``Revocation.check`` is
measured on its own too, as the A/B difference is small against the noise of a shared VM.
Target: crl-leaf <= 10% over off.

Also: the memory a 100k-entry CRL costs once loaded (tracemalloc: Python heap, which
includes the DER kept by cryptography; and the RSS delta, which also sees the Rust side),
its load time, and how the async-only pyhanko API is driven (private loop thread vs
``asyncio.run`` per call).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from originverify import EdgeSecret, HeaderList, Verifier
from originverify.devpki import CertificateAuthority
from originverify.formats.sfbinary import serialize_item, serialize_list
from originverify.revocation import Revocation, load_crls

SECRET = "bench-secret-0123456789abcdef0123"


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def big_crl(ca: CertificateAuthority, entries: int, keep_out: int) -> bytes:
    """A real CRL with ``entries`` random serials (never ``keep_out``), signed by ``ca``.

    Built with the list constructor: ``add_revoked_certificate`` copies the list on every
    call, which is quadratic (~80 s for 100k here).
    """
    now = datetime.now(UTC)
    revoked = []
    for _ in range(entries):
        serial = x509.random_serial_number()
        if serial != keep_out:
            revoked.append(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - timedelta(days=1))
                .build()
            )
    crl = x509.CertificateRevocationListBuilder(
        issuer_name=ca.cert.subject,
        last_update=now - timedelta(hours=1),
        next_update=now + timedelta(days=7),
        revoked_certificates=revoked,
        extensions=[x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1))],
    ).sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    return crl.public_bytes(Encoding.DER)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def crl_memory(crl_der: bytes, entries: int) -> dict[str, float]:
    """Load time and memory of one big CRL (timed without tracemalloc, which slows it)."""
    gc.collect()
    rss0 = rss_mb()
    start = time.perf_counter()
    loaded = load_crls(crl_der, "bench")
    load_s = time.perf_counter() - start
    rss_delta = rss_mb() - rss0
    del loaded
    gc.collect()
    tracemalloc.start()
    loaded = load_crls(crl_der, "bench")
    traced, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert loaded[0].entries >= entries - 1
    del loaded
    gc.collect()
    return {"load_s": load_s, "rss_delta": rss_delta, "traced": traced}


def variants_for(
    root: CertificateAuthority, crl_der: bytes, root_crl: bytes
) -> dict[str, Verifier]:
    source = EdgeSecret(secrets=[SECRET])

    def make(**kwargs: object) -> Verifier:
        return Verifier(trust=root.pem, source=source, cache=None, **kwargs)  # type: ignore[arg-type]

    variants: dict[str, Verifier] = {
        "off": make(),
        "crl-leaf": make(revocation=Revocation(crls=[crl_der], scope="leaf")),
        "crl-chain": make(revocation=Revocation(crls=[crl_der, root_crl], scope="chain")),
    }
    try:
        variants["certvalidator"] = make(engine="certvalidator")
        variants["both"] = make(engine="both")
    except Exception as exc:  # the extra is optional
        print(f"(certvalidator engine unavailable: {exc})\n")
    return variants


def interleave(
    variants: dict[str, Verifier], headers: HeaderList, rounds: int, calls: int
) -> dict[str, list[float]]:
    slow = {"certvalidator", "both"}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, verifier in variants.items():
            n = max(10, calls // 5) if name in slow else calls
            samples[name].append(per_call(lambda v=verifier: v.verify_request(headers), n))
    return samples


def check_alone(verifier: Verifier, leaf: Any, root: CertificateAuthority, count: int) -> float:
    """``Revocation.check`` alone, on fresh certificate objects as in a request."""
    checker = verifier.revocation
    assert checker is not None
    inter_der = leaf.chain_der[0]
    fresh = [
        [x509.load_der_x509_certificate(leaf.der), x509.load_der_x509_certificate(inter_der)]
        for _ in range(count)
    ]
    at = datetime.now(UTC)
    start = time.perf_counter()
    for leaf_cert, inter_cert in fresh:
        checker.check([leaf_cert, inter_cert, root.cert], at)
    return (time.perf_counter() - start) / len(fresh)


def drive_pyhanko(verifier: Verifier, leaf: Any, rounds: int, calls: int) -> dict[str, float]:
    """How to drive pyhanko's async API: a private loop thread vs ``asyncio.run``."""
    from originverify.chain.certvalidator import CertvalidatorEngine, _validate

    engine = verifier.engine
    assert isinstance(engine, CertvalidatorEngine)
    prepared = engine._prepare(engine.trust.snapshot)
    ders = [leaf.der, *leaf.chain_der]
    at = datetime.now(UTC)
    runs: dict[str, list[float]] = {"loop thread": [], "asyncio.run": []}
    for _ in range(max(3, rounds // 3)):
        runs["loop thread"].append(
            per_call(
                lambda: engine._runner.run(_validate(prepared, ders, at, engine.policy), 10),
                calls,
            )
        )
        runs["asyncio.run"].append(
            per_call(lambda: asyncio.run(_validate(prepared, ders, at, engine.policy)), calls)
        )
    return {name: statistics.median(values) for name, values in runs.items()}


def print_report(
    args: argparse.Namespace,
    samples: dict[str, list[float]],
    alone: float,
    memory: dict[str, float],
    crl: tuple[int, float],
    drive: dict[str, float],
) -> None:
    med = {name: statistics.median(values) for name, values in samples.items()}
    best = {name: min(values) for name, values in samples.items()}
    print("## Revocation and engine cost, 3-certificate ECDSA P-256 chain, cache off\n")
    print(f"{args.rounds} interleaved rounds, median per-round mean.\n")
    print(
        "| variant | µs per request, median (this machine) | ratio to off, median "
        "| ratio to off, best round |"
    )
    print("|---|---:|---:|---:|")
    labels = {
        "off": "revocation off (cryptography engine)",
        "crl-leaf": f"CRL of {args.entries // 1000}k entries loaded, scope=leaf",
        "crl-chain": f"CRL of {args.entries // 1000}k entries + root CRL, scope=chain",
        "certvalidator": "engine=certvalidator, revocation off",
        "both": "engine=both, revocation off",
    }
    for name in samples:
        print(
            f"| {labels[name]} | {med[name] * 1e6:.1f} | {med[name] / med['off']:.3f} "
            f"| {best[name] / best['off']:.3f} |"
        )
    overhead = (med["crl-leaf"] / med["off"] - 1) * 100
    print(
        f"\nRevocation overhead (scope=leaf): {overhead:+.1f}% "
        f"({'meets' if overhead <= 10 else 'MISSES'} the <= 10% target); "
        f"scope=chain: {(med['crl-chain'] / med['off'] - 1) * 100:+.1f}%. "
        f"`Revocation.check` alone (scope=leaf, fresh certificate objects): "
        f"{alone * 1e6:.1f} µs = {alone / med['off'] * 100:.1f}% of a request."
    )
    size, build_s = crl
    print(f"\n## One CRL of {args.entries} entries ({size / 1e6:.1f} MB DER)\n")
    print("| measure | value |")
    print("|---|---:|")
    print(f"| build + sign (test only) | {build_s:.1f} s |")
    print(f"| parse + index (start-up / background) | {memory['load_s'] * 1e3:.0f} ms |")
    print(f"| Python heap after load (tracemalloc) | {memory['traced'] / 1e6:.1f} MB |")
    print(f"| RSS delta after load | {memory['rss_delta']:.1f} MB |")
    if drive:
        print("\n## Driving pyhanko-certvalidator's async API (one validation)\n")
        print("| how | µs per validation |")
        print("|---|---:|")
        for name, value in drive.items():
            print(f"| {name} | {value * 1e6:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=200, help="requests per variant per round")
    args = parser.parse_args()

    root = CertificateAuthority.root_ca()
    inter = root.intermediate()
    leaf = inter.issue("bench-client", emails=["bench@example.com"])
    headers = HeaderList(
        [
            ("X-Origin-Verify", SECRET),
            ("Client-Cert", serialize_item(leaf.der)),
            ("Client-Cert-Chain", serialize_list(leaf.chain_der)),
        ]
    )
    start = time.perf_counter()
    crl_der = big_crl(inter, args.entries, leaf.cert.serial_number)
    build_s = time.perf_counter() - start
    root_crl = big_crl(root, 10, inter.cert.serial_number)
    memory = crl_memory(crl_der, args.entries)
    variants = variants_for(root, crl_der, root_crl)
    for name, verifier in variants.items():
        assert verifier.verify_request(headers) is not None, name
    samples = interleave(variants, headers, args.rounds, args.calls)
    alone = check_alone(variants["crl-leaf"], leaf, root, args.calls * args.rounds)
    drive: dict[str, float] = {}
    if "certvalidator" in variants:
        drive = drive_pyhanko(
            variants["certvalidator"], leaf, args.rounds, max(10, args.calls // 5)
        )
    print_report(args, samples, alone, memory, (len(crl_der), build_s), drive)


if __name__ == "__main__":
    main()
