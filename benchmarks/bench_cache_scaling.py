#!/usr/bin/env python3
"""Scaling: many distinct clients through the result cache, and chains of 2..6 certificates.

Cache (ECDSA P-256, leaf + intermediate under one root; one process per size so memory
figures start from a clean heap):

* N distinct client certificates (1k, 10k, 100k by default) go once each through
  ``Verifier.verify_request`` with a real ``ResultCache`` sized to hold them all; header
  strings are made fresh per request, as a server would, so the cache owns its keys.
* memory per entry: ``tracemalloc`` (Python heap) and the RSS growth (also sees what
  cryptography's Rust side allocates for the parsed certificates an entry keeps), both over
  the fill, after ``gc.collect()``, divided by N;
* lookup cost: ``verify_request`` on a hit (random clients among the N, fresh header
  objects) and ``ResultCache.get`` alone; flat in N means the cache scales;
* hit rate: measured in the lookup phase, and simulated with the real ``ResultCache`` at its
  default size (1024) under uniform and Zipf(1) client popularity.

The N leaves share one key pair and are made from one template by changing the serial and
the name only (same lengths), then signed by the intermediate: key generation and the
certificate builder would dominate otherwise (~250 µs vs ~50 µs per certificate).

Chain length: root → 0..4 intermediates → leaf (2..6 certificates), RSA-2048 and ECDSA
P-256: originverify uncached and cached, pyca bare (pre-parsed / from DER), pyhanko and the
signature floor, rounds interleaved.

Run alone: ``python benchmarks/bench_cache_scaling.py [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    SECRET,
    interleaved,
    make_chain,
    paired_ratio,
    per_call,
    rfc9440_headers,
    summarize,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from originverify import EdgeSecret, HeaderList, ResultCache, Verifier
from originverify.devpki import CertificateAuthority
from originverify.formats.sfbinary import serialize_item, serialize_list

DEFAULT_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (500, 2_000, 5_000)
DEFAULT_CACHE_SIZE = 1024  # ResultCache's default

# ---------------------------------------------------------------------------------------------
# Many distinct leaves, fast
# ---------------------------------------------------------------------------------------------


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _tlv_end(data: bytes, pos: int) -> int:
    """End offset of the DER element starting at ``pos``."""
    first = data[pos + 1]
    if first < 0x80:
        return pos + 2 + first
    octets = first & 0x7F
    return pos + 2 + octets + int.from_bytes(data[pos + 2 : pos + 2 + octets], "big")


class LeafFactory:
    """Distinct, validly signed client certificates that differ in serial and name only."""

    SERIAL = 0x5A5A5A5A5A5A5A5A  # 8 bytes, high bit clear: fixed DER length
    NAME = "client-0000000"

    def __init__(self, ca: CertificateAuthority) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.NAME)]))
            .issuer_name(ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(self.SERIAL)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca.key.public_key()  # type: ignore[arg-type]
                ),
                False,
            )
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(self.NAME + "@example.com")]),
                False,
            )
        )
        template = builder.sign(ca.key, hashes.SHA256()).public_bytes(Encoding.DER)  # type: ignore[arg-type]
        header_end = 2 + (template[1] & 0x7F if template[1] & 0x80 else 0)
        tbs_end = _tlv_end(template, header_end)
        self.tbs = template[header_end:tbs_end]
        self.algorithm = template[tbs_end : _tlv_end(template, tbs_end)]
        serial = self.SERIAL.to_bytes(8, "big")
        assert self.tbs.count(serial) == 1
        self.serial_at = self.tbs.index(serial)
        self.name_at = [
            i for i in range(len(self.tbs)) if self.tbs.startswith(self.NAME.encode(), i)
        ]
        assert len(self.name_at) == 2, "name in subject and SAN"
        self.key = ca.key

    def make(self, index: int) -> bytes:
        tbs = bytearray(self.tbs)
        tbs[self.serial_at : self.serial_at + 8] = (0x1000_0000_0000_0000 + index).to_bytes(
            8, "big"
        )
        name = f"client-{index:07d}".encode()
        for at in self.name_at:
            tbs[at : at + len(name)] = name
        signature = self.key.sign(bytes(tbs), ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg,union-attr]
        bits = b"\x03" + _der_length(len(signature) + 1) + b"\x00" + signature
        body = bytes(tbs) + self.algorithm + bits
        return b"\x30" + _der_length(len(body)) + body


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
    """Fill a cache with ``clients`` distinct clients; memory, lookup cost, hit rates."""
    rng = random.Random(seed)
    root = CertificateAuthority.root_ca("bench root")
    ca = root.intermediate("bench intermediate")
    factory = LeafFactory(ca)
    start = time.perf_counter()
    ders = [factory.make(i) for i in range(clients)]
    generate_s = time.perf_counter() - start
    chain_der = [ca.cert.public_bytes(Encoding.DER)]
    verifier = Verifier(
        trust=root.pem,
        source=EdgeSecret(secrets=[SECRET]),
        cache=ResultCache(clients, max_age=3600),
    )
    cache = verifier.cache
    assert cache is not None

    def headers(der: bytes) -> HeaderList:
        # New strings per request, as a server makes them: the cache keeps its own.
        return HeaderList(
            [
                ("X-Origin-Verify", SECRET),
                ("Client-Cert", serialize_item(der)),
                ("Client-Cert-Chain", serialize_list(chain_der)),
            ]
        )

    assert verifier.verify_request(headers(ders[0])) is not None, "leaf factory is broken"
    cache.clear()

    def fill(part: list[bytes]) -> None:
        for der in part:
            if verifier.verify_request(headers(der)) is None:
                raise RuntimeError("a generated client failed verification")

    # tracemalloc roughly doubles the cost of a verification, so it traces only the last
    # insertions (at most half, into a cache already holding the others); the untraced part
    # gives the cost of a miss; RSS covers them all.
    traced_count = min(clients // 2, trace_last)
    gc.collect()
    rss_before = rss_bytes()
    start = time.perf_counter()
    fill(ders[: clients - traced_count])
    untraced_s = time.perf_counter() - start
    gc.collect()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    fill(ders[clients - traced_count :])
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    gc.collect()
    rss = rss_bytes() - rss_before
    assert len(cache) == clients, (len(cache), clients)
    fill_us = untraced_s / (clients - traced_count) * 1e6

    # Lookups: random clients, fresh header objects; ResultCache.get alone on the same keys.
    picks = [rng.randrange(clients) for _ in range(lookups)]
    requests = [headers(ders[i]) for i in picks]
    generation = verifier.trust.snapshot.generation  # type: ignore[union-attr]
    keys = [(generation, r.values_of(verifier._cert_headers)) for r in requests]
    position = {"hit": 0, "get": 0}

    def hit() -> object:
        i = position["hit"] = (position["hit"] + 1) % lookups
        return verifier.verify_request(requests[i])

    def get() -> object:
        i = position["get"] = (position["get"] + 1) % lookups
        return cache.get(keys[i], 0.0)

    # The same lookups against a 16-entry cache in the same process, interleaved: the
    # ratio says whether the cost grows with N, whatever the machine's load does meanwhile.
    small = Verifier(
        trust=root.pem, source=EdgeSecret(secrets=[SECRET]), cache=ResultCache(16, max_age=3600)
    )
    small_requests = [headers(ders[i % 16]) for i in range(lookups)]
    for request in small_requests[:16]:
        small.verify_request(request)

    def hit_small() -> object:
        i = position["small"] = (position["small"] + 1) % lookups
        return small.verify_request(small_requests[i])

    position["small"] = 0
    hits0, misses0 = cache.stats.hits, cache.stats.misses
    cases = (("hit", hit), ("get", get), ("hit_small", hit_small))
    samples: dict[str, list[float]] = {name: [] for name, _ in cases}
    for index in range(rounds):
        shift = index % len(cases)
        for name, fn in cases[shift:] + cases[:shift]:
            samples[name].append(per_call(fn, lookups))
    hits, misses = cache.stats.hits - hits0, cache.stats.misses - misses0
    # cache.get on pre-made keys counts as hits too; both paths must hit every time.
    measured_hit_rate = hits / max(1, hits + misses)
    simulated = {
        "uniform": simulate_hit_rate(clients, DEFAULT_CACHE_SIZE, False, 100_000, seed),
        "zipf": simulate_hit_rate(clients, DEFAULT_CACHE_SIZE, True, 100_000, seed),
    }
    return {
        "clients": clients,
        "generate_us_per_cert": generate_s / clients * 1e6,
        "fill_us_per_request": fill_us,
        "traced_entries": traced_count,
        "traced_bytes_per_entry": traced / traced_count,
        "rss_bytes_per_entry": rss / clients,
        "hit_us": summarize(samples["hit"]),
        "get_us": summarize(samples["get"]),
        "hit_small_us": summarize(samples["hit_small"]),
        "hit_growth_vs_16": paired_ratio(samples["hit"], samples["hit_small"]),
        "measured_hit_rate": measured_hit_rate,
        "simulated_hit_rate_default_size": simulated,
        "cert_der_bytes": len(ders[0]),
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
_load = x509.load_der_x509_certificate
CHAIN_CASES = {
    "uncached": "originverify, cache off",
    "cached": "originverify, cache hit",
    "bare": "pyca, pre-parsed",
    "bare_der": "pyca, from DER",
    "pyhanko": "pyhanko-certvalidator",
    "floor": "verify_directly_issued_by floor",
}


def run_chain_length(rounds: int, target_s: float, pyhanko: bool = True) -> dict[str, Any]:
    from bench_engines import bare_verifier, floor_case, pyhanko_case

    out: dict[str, Any] = {"rounds": rounds, "lengths": list(LENGTHS), "cases": CHAIN_CASES}
    for key_type in ("rsa", "ec"):
        cases: dict[str, Callable[[], object]] = {}
        closers = []
        label = ""
        for length in LENGTHS:
            chain = make_chain(key_type, length)
            label = chain.label
            headers = rfc9440_headers(chain)
            source = EdgeSecret(secrets=[SECRET])
            unc = Verifier(trust=chain.anchors_pem, source=source, cache=None)
            cac = Verifier(trust=chain.anchors_pem, source=source, cache=16)
            assert unc.verify_request(headers) is not None, length
            bare = bare_verifier(chain.root)
            leaf, inters = chain.leaf, chain.intermediates
            ld, cd = chain.leaf_der, chain.chain_der
            cases[f"uncached:{length}"] = lambda v=unc, h=headers: v.verify_request(h)
            cases[f"cached:{length}"] = lambda v=cac, h=headers: v.verify_request(h)
            cases[f"bare:{length}"] = lambda b=bare, lf=leaf, i=inters: b.verify(lf, i)
            cases[f"bare_der:{length}"] = lambda b=bare, lf=ld, i=cd: b.verify(
                _load(lf), [_load(d) for d in i]
            )
            cases[f"floor:{length}"] = floor_case(chain)
            if pyhanko:
                validate, close = pyhanko_case(chain)
                cases[f"pyhanko:{length}"] = validate
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
                    "ratio_to_uncached": paired_ratio(
                        samples[f"{name}:{n}"], samples[f"uncached:{n}"]
                    ),
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
    from report import render_scaling

    print(render_scaling(result))


if __name__ == "__main__":
    main()
