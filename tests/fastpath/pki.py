"""Test PKIs and the differential harness for the validated sub-path fast path.

``compare`` runs one request through two verifiers built alike, one with the fast path
(``Verifier.subpaths``) and one without (``subpaths = None``: pyca's engine for every
request), and returns both verdicts as ``(reason or None, path fingerprints)``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from originverify import InsecureNoSourceProof, ValidationPolicy, Verifier
from originverify.chain.subpath import SubpathCache
from originverify.devpki import CertificateAuthority, KeyType, cert_der, cert_pem, new_key

__all__ = ["CertificateAuthority", "KeyType", "Verifier", "cert_der", "cert_pem", "new_key"]
from originverify.formats.sfbinary import serialize_item, serialize_list
from originverify.outcome import Outcome
from originverify.source import RequestContext

NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
START = NOW - dt.timedelta(days=30)
SOON = NOW + dt.timedelta(hours=1)
FAR = NOW + dt.timedelta(days=3650)

Verdict = tuple[str | None, tuple[str, ...]]


@dataclass(frozen=True)
class World:
    """A root and issuing CAs under it, of one key type."""

    name: str
    key_type: KeyType
    root: CertificateAuthority
    issuers: dict[str, CertificateAuthority]  # plain, constrained, expiring, pathlen0, ...

    @property
    def anchors(self) -> bytes:
        return cert_pem(self.root.cert)


@cache
def world(key_type: KeyType) -> World:
    """One root; issuing CAs of every kind the fast path must get right."""
    root = CertificateAuthority.root_ca(
        f"fastpath root {key_type}", key_type=key_type, not_before=START, not_after=FAR
    )
    plain = root.intermediate(
        "fastpath issuing CA", key_type=key_type, not_before=START, not_after=FAR
    )
    issuers = {
        "plain": plain,
        "constrained": root.intermediate(
            "fastpath constrained CA",
            key_type=key_type,
            not_before=START,
            not_after=FAR,
            permitted_dns=["devices.example.com"],
            excluded_dns=["bad.devices.example.com"],
        ),
        "expiring": root.intermediate(
            "fastpath expiring CA", key_type=key_type, not_before=START, not_after=SOON
        ),
        "future": root.intermediate(
            "fastpath future CA",
            key_type=key_type,
            not_before=NOW - dt.timedelta(minutes=1),
            not_after=FAR,
        ),
        "pathlen0": root.intermediate(
            "fastpath pathlen0 CA",
            key_type=key_type,
            not_before=START,
            not_after=FAR,
            path_length=0,
        ),
        "serverauth": root.intermediate(
            "fastpath serverAuth CA",
            key_type=key_type,
            not_before=START,
            not_after=FAR,
            eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        ),
        # Same subject as "plain", another key: a leaf it signs must not pass as plain's.
        "impostor": CertificateAuthority.root_ca(
            "fastpath issuing CA", key_type=key_type, not_before=START, not_after=FAR
        ),
        "deep": plain.intermediate(
            "fastpath second-level CA", key_type=key_type, not_before=START, not_after=FAR
        ),
    }
    return World(f"{key_type}", key_type, root, issuers)


@cache
def leaf_key(key_type: KeyType) -> object:
    return new_key(key_type)


def request(leaf_der: bytes, chain: Sequence[bytes]) -> RequestContext:
    pairs = [("Client-Cert", serialize_item(leaf_der))]
    if chain:
        pairs.append(("Client-Cert-Chain", serialize_list(list(chain))))
    from originverify import HeaderList

    return RequestContext(HeaderList(pairs), None, None, None, None, None)


def verdict(outcome: Outcome) -> Verdict:
    if outcome.error is not None:
        return outcome.error.reason.value, ()
    identity = outcome.identity
    assert identity is not None
    path = (identity.certificate, *identity.chain)
    return None, tuple(hashlib.sha256(cert_der(c)).hexdigest()[:16] for c in path)


class Pair:
    """Two verifiers alike but for the fast path; the fast one's sub-path cache is shared
    by every ``Pair`` of the same key (validated once, reused at other instants)."""

    _shared: ClassVar[dict[tuple[object, ...], SubpathCache]] = {}

    def __init__(self, anchors: bytes | list[bytes], policy: ValidationPolicy, **kw: object):
        options = dict(trust=anchors, source=InsecureNoSourceProof(), policy=policy, cache=None)
        options.update(kw)
        self.policy = policy
        self.fast = Verifier(**options)  # type: ignore[arg-type]
        self.full = Verifier(**options)  # type: ignore[arg-type]
        self.full.subpaths = None
        key = (
            hashlib.sha256(repr(anchors).encode()).digest(),
            policy.profile,
            policy.require_eku,
            policy.clock_skew,
            policy.extended_key_usage,
            policy.max_chain_depth,
        )
        if self.fast.subpaths is not None:
            shared = self._shared.setdefault(key, self.fast.subpaths)
            self.fast.subpaths = shared

    def compare(self, req: RequestContext, counts: Counter[str]) -> tuple[Verdict, Verdict]:
        logging.disable(logging.WARNING)
        try:
            before = self.fast.subpaths.declined if self.fast.subpaths is not None else 0
            fast, full = self.fast.check(req), self.full.check(req)
        finally:
            logging.disable(logging.NOTSET)
        counts["compared"] += 1
        if self.fast.subpaths is not None and self.fast.subpaths.declined > before:
            counts["fast path declined (engine decided)"] += 1
        counts[f"via:{fast.via}"] += 1
        if verdict(fast) != verdict(full):
            counts["disagreements"] += 1
        return verdict(fast), verdict(full)


def policy(
    at: dt.datetime = NOW,
    profile: str = "private",
    require_eku: bool = False,
    skew: dt.timedelta = dt.timedelta(0),
) -> ValidationPolicy:
    return ValidationPolicy(
        profile=profile,  # type: ignore[arg-type]
        require_eku=require_eku,
        validation_time=at,
        clock_skew=skew,
    )


def outer_algorithm_swapped(der: bytes) -> bytes:
    """The certificate with its *outer* signature algorithm changed (SHA-256 → SHA-384),
    the one inside the signed part left alone: pyca refuses the mismatch."""
    for old, new in (
        (bytes.fromhex("2a8648ce3d040302"), bytes.fromhex("2a8648ce3d040303")),
        (bytes.fromhex("2a864886f70d01010b"), bytes.fromhex("2a864886f70d01010c")),
    ):
        at = der.rfind(old)
        if at > 0:
            return der[:at] + new + der[at + len(old) :]
    return der


def corrupt_signature(der: bytes) -> bytes:
    return der[:-3] + bytes([der[-3] ^ 0x01]) + der[-2:]


def leaf_extensions(cert: x509.Certificate) -> list[str]:
    return [ext.oid.dotted_string for ext in cert.extensions]
