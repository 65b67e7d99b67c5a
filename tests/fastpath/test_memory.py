"""Hostile memory: many distinct large certificates must not grow a worker without bound.

Every in-process cache and memo on the request path is bounded in bytes or keyed by
digests of bounded size: the leaf-facts and key-facts memos (digest keys, bounded count),
the interner and the sub-path cache (only validated certificates, bounded bytes), and the
result cache (bounded count and bytes: big leaves evict sooner). These tests drive a
verifier with ~40 KB certificates and check both the tracked sizes and the process RSS.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from originverify import ResultCache
from originverify.chain.keys import KEY_FACTS
from originverify.chain.leaf import LEAF_FACTS
from originverify.devpki import CertificateAuthority, new_key
from tests.fastpath import pki

JUNK = 40_000
BIG_LIMITS = {"max_leaf_bytes": 64_000, "max_chain_bytes": 1 << 20}


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def big_leaf(ca: CertificateAuthority, index: int, key: object) -> bytes:
    """A valid client leaf from ``ca`` carrying a 40 KB non-critical private extension."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"big-{index}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(index + 1)
        .not_valid_before(pki.START)
        .not_valid_after(pki.FAR)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"),
                b"\x04\x82" + JUNK.to_bytes(2, "big") + bytes([index % 251]) * JUNK,
            ),
            False,
        )
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert.public_bytes(Encoding.DER)


def bogus_variants(template: bytes, count: int) -> list[bytes]:
    """Distinct DER (one byte of the junk changed, signature left stale): parses, never
    validates."""
    at = len(template) // 2
    return [template[:at] + (i + 1).to_bytes(3, "big") + template[at + 3 :] for i in range(count)]


def verifier(ca: CertificateAuthority, cache: ResultCache | None) -> pki.Verifier:
    from originverify import InsecureNoSourceProof, Limits

    return pki.Verifier(
        trust=pki.cert_pem(ca.root),
        source=InsecureNoSourceProof(),
        policy=pki.policy(),
        cache=cache,
        limits=Limits(**BIG_LIMITS),  # type: ignore[arg-type]
    )


def test_distinct_bogus_large_certificates_do_not_grow_the_worker() -> None:
    world = pki.world("ec")
    ca = world.issuers["plain"]
    v = verifier(ca, ResultCache(1024))
    chain = [pki.cert_der(ca.cert)]
    requests = [
        pki.request(der, chain) for der in bogus_variants(big_leaf(ca, 0, new_key("ec")), 3000)
    ]
    logging.disable(logging.WARNING)
    try:
        for request in requests[:200]:  # warm-up: allocator arenas, memo tables
            assert v.check(request).error is not None
        gc.collect()
        before = rss()
        for request in requests[200:]:
            assert v.check(request).error is not None
        gc.collect()
        grown = rss() - before
    finally:
        logging.disable(logging.NOTSET)
    # 2800 distinct 40 KB certificates (112 MB had any of them been kept).
    assert grown < 24 << 20, f"RSS grew {grown / 2**20:.1f} MiB"
    assert len(LEAF_FACTS) <= 4096 and len(KEY_FACTS) <= 4096
    assert v.cache is not None and len(v.cache) == 0
    assert len(v.interned) <= 1 and v.subpaths is not None and len(v.subpaths) <= 1


def many_extensions_leaf(ca: CertificateAuthority, count: int = 2000) -> bytes:
    """A ~30 KB leaf of ``count`` tiny non-critical extensions: every one an OID to
    remember, had the leaf-facts memo kept them all (~230 KB per entry)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "many")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.cert.subject)
        .public_key(new_key("ec").public_key())  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(pki.START)
        .not_valid_after(pki.FAR)
    )
    for index in range(count):
        oid = x509.ObjectIdentifier(f"1.3.6.1.4.1.55555.{index}")
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, b"\x05\x00"), False)
    cert = builder.sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    return cert.public_bytes(Encoding.DER)


def test_leaves_with_thousands_of_extensions_keep_small_facts() -> None:
    world = pki.world("ec")
    ca = world.issuers["plain"]
    v = verifier(ca, ResultCache(1024))
    chain = [pki.cert_der(ca.cert)]
    variants = bogus_variants(many_extensions_leaf(ca), 900)
    requests = [pki.request(der, chain) for der in variants]
    logging.disable(logging.WARNING)
    try:
        for request in requests[:100]:
            v.check(request)
        gc.collect()
        before = rss()
        for request in requests[100:]:
            v.check(request)
        gc.collect()
        grown = rss() - before
    finally:
        logging.disable(logging.NOTSET)
    # 800 memo entries: ~180 MB if each kept its 2000 OIDs.
    assert grown < 24 << 20, f"RSS grew {grown / 2**20:.1f} MiB"


def test_valid_large_leaves_evict_by_bytes() -> None:
    world = pki.world("ec")
    ca = world.issuers["plain"]
    cache = ResultCache(1024)
    v = verifier(ca, cache)
    chain = [pki.cert_der(ca.cert)]
    key = new_key("ec")
    logging.disable(logging.WARNING)
    try:
        for index in range(400):
            outcome = v.check(pki.request(big_leaf(ca, index, key), chain))
            assert outcome.error is None, outcome.error
    finally:
        logging.disable(logging.NOTSET)
    assert cache.size_bytes <= cache.max_bytes == 1024 * 8192
    assert len(cache) < 400 and cache.stats.evictions > 0
    assert v.subpaths is not None and v.subpaths.size_bytes <= v.subpaths.max_bytes
    assert dt.datetime.now(dt.UTC) > pki.START


def test_cached_identities_keep_no_parsed_names_on_their_certificate() -> None:
    """pyca keeps every Name and extension object it builds on a certificate object, and
    the result cache keeps each client's leaf: reading names from the cached leaf itself
    (the decodability check, ``identity.subject``, SANs) cost ~2 KB more per entry. Names
    are read from throwaway parses; what an entry holds stays near its DER."""
    import tracemalloc

    world = pki.world("ec")
    ca = world.issuers["plain"]
    v = verifier(ca, ResultCache(100_000))
    chain = [pki.cert_der(ca.cert)]
    key = new_key("ec")
    leaves = [
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"device-{i:05d}")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(i + 1)
        .not_valid_before(pki.START)
        .not_valid_after(pki.FAR)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"d{i}.example")]), False)
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
        .public_bytes(Encoding.DER)
        for i in range(1600)
    ]
    requests = [pki.request(der, chain) for der in leaves]
    for request in requests[:100]:  # warm-up: memo tables, interned intermediate
        assert v.check(request).error is None
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for request in requests[100:]:
            identity = v.check(request).identity
            assert identity is not None
            # What an application reads: every group of names, rendered and kept.
            assert identity.common_name and identity.subject and identity.issuer
            assert identity.dns_names
        gc.collect()
        per_entry = (tracemalloc.get_traced_memory()[0] - before) / 1500
    finally:
        tracemalloc.stop()
    assert v.cache is not None and len(v.cache) == 1600
    # Measured: ~2.8 KB (DER, the entry, and every rendered name group); with pyca's Name
    # and extension objects kept on the cached leaf: ~6 KB.
    assert per_entry < 3_600, f"{per_entry:.0f} B per cache entry"
