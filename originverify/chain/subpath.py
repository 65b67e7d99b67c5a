"""Validated sub-path reuse: a new leaf under an intermediate the engine already validated
costs one signature check instead of a full path build.

The fleet case: thousands of devices, each with its own leaf under a few issuing CAs. Once
pyca's engine has validated ``leaf → intermediate(s) → anchor`` for one leaf, the
intermediate → anchor part is the same for every sibling leaf forwarded with the same
chain. What pyca would still check for a sibling, and this module checks instead:

* the leaf as pyca's ``permits_basic`` sees it: X.509 v3, the outer and inner signature
  algorithms byte-identical, a positive serial of 1..21 octets, a non-empty issuer,
  GeneralizedTime only outside 1950..2049, and under ``webpki`` a subjectAltName critical
  exactly when the subject is empty (the leaf profile, run before, did the rest: CA flag,
  key usage, EKU, critical extensions, key policy, validity);
* the leaf's signature algorithm among the ones we verify here (ECDSA and RSA PKCS#1 v1.5
  with SHA-256/384/512; pyca permits exactly those plus RSA-PSS, which goes to the engine)
  and the signature itself, with the intermediate's public key loaded once;
* every certificate of the cached sub-path valid at the instant the engine would use, and
  the whole path's common window (``clock.check_window``).

Why the cached path is the one pyca would build: an entry is made only when, at every level
of the path, exactly one distinct certificate (anchors, extra intermediates and the
presented chain) has the issuer's name, so pyca's depth-first search has no other branch to
take; when no CA on the path carries name constraints (the only path check that reads the
leaf's names); and it is keyed by the trust snapshot's digest, the leaf's issuer name as
encoded and every presented chain certificate's DER. A leaf that is itself an anchor is left
to the engine. The policy is the verifier's own (one cache per verifier).

The fast path only ever *accepts*: whatever it cannot prove (no entry, an unusual
encoding, a bad signature, a CA out of its validity) goes to the full engine, which gives
the verdict and the reason. ``tests/fastpath`` proves the verdicts equal.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtensionOID

from ..trust import TrustSnapshot
from .der import GENERALIZED_TIME, CertFields, cert_fields
from .leaf import LEAF_FACTS
from .policy import ValidationPolicy
from .pyca import CryptographyEngine

_RSA = "300d06092a864886f70d0101{:02x}0500"
_ECDSA = "300a06082a8648ce3d04{:04x}"
#: Signature AlgorithmIdentifier (exact DER, as pyca compares them) → (key kind, hash).
SIGNATURES: dict[bytes, tuple[str, type[hashes.HashAlgorithm]]] = {
    bytes.fromhex(_RSA.format(0x0B)): ("rsa", hashes.SHA256),
    bytes.fromhex(_RSA.format(0x0C)): ("rsa", hashes.SHA384),
    bytes.fromhex(_RSA.format(0x0D)): ("rsa", hashes.SHA512),
    bytes.fromhex(_ECDSA.format(0x0302)): ("ec", hashes.SHA256),
    bytes.fromhex(_ECDSA.format(0x0303)): ("ec", hashes.SHA384),
    bytes.fromhex(_ECDSA.format(0x0304)): ("ec", hashes.SHA512),
}
_PKCS1 = padding.PKCS1v15()
#: Rough bytes an entry holds besides the certificates' DER (objects, key, dict slot).
ENTRY_OVERHEAD = 600
REFUSED_COST = 200


@dataclass(frozen=True, slots=True)
class SubPath:
    """A validated ``intermediate → … → anchor`` tail and what checking a leaf needs."""

    tail: tuple[x509.Certificate, ...]
    public_key: Any  # the issuing certificate's key, loaded once
    valid_from: datetime  # latest notBefore on the tail
    valid_until: datetime  # earliest notAfter on the tail (the entry's life)
    size: int


class Probe(NamedTuple):
    """One request's lookup: the leaf's raw fields, the key, the entry found (``None``:
    none, or known not reusable) and whether the key is known at all."""

    fields: CertFields | None
    key: bytes
    entry: SubPath | None
    known: bool


class _SnapshotIndex:
    """Per trust snapshot: anchor digests and who bears which subject name (raw DER)."""

    def __init__(self, snapshot: TrustSnapshot) -> None:
        from cryptography.hazmat.primitives.serialization import Encoding

        self.digest = snapshot.digest
        self.anchors: set[bytes] = set()
        self.subjects: dict[bytes, set[bytes]] = {}
        for role, certs in (("anchor", snapshot.anchors), ("extra", snapshot.extra_intermediates)):
            for cert in certs:
                der = cert.public_bytes(Encoding.DER)
                digest = hashlib.sha256(der).digest()
                if role == "anchor":
                    self.anchors.add(digest)
                fields = cert_fields(der)
                subject = fields.subject if fields is not None else b"?" + digest
                self.subjects.setdefault(subject, set()).add(digest)


class SubpathCache:
    """Validated sub-paths by (trust digest, leaf issuer name, presented chain), bounded in
    bytes (least recently used out). Thread-safe; one per verifier."""

    def __init__(self, policy: ValidationPolicy, max_bytes: int = 1 << 20) -> None:
        self.clock_skew = policy.clock_skew
        self.webpki = policy.profile == "webpki"
        self.max_bytes = max_bytes
        self.hits = self.declined = 0  # decided here / entry found, left to the engine
        self._entries: OrderedDict[bytes, SubPath | None] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._index: _SnapshotIndex | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._index = None

    # -- the request path ------------------------------------------------------------------

    def probe(self, leaf_der: bytes, chain_ders: Sequence[bytes], digest: bytes) -> Probe:
        """Look the request's sub-path up (trust snapshot ``digest``); ``check`` and
        ``learn`` take the result, so the leaf is walked and the key hashed once."""
        fields = cert_fields(leaf_der)
        if fields is None:
            return Probe(None, b"", None, True)
        key = _key(digest, fields.issuer, chain_ders)
        with self._lock:
            known = key in self._entries
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        return Probe(fields, key, entry, known)

    def check(
        self,
        probe: Probe,
        leaf: x509.Certificate,
        leaf_der: bytes,
        snapshot: TrustSnapshot,
        now: datetime,
    ) -> list[x509.Certificate] | None:
        """The validated path for ``leaf`` (leaf first), or ``None``: ask the engine."""
        if probe.entry is None or probe.fields is None:
            return None
        path = self._checked(leaf, leaf_der, probe.fields, probe.entry, snapshot, now)
        if path is None:
            self.declined += 1
        else:
            self.hits += 1
        return path

    def path_for(
        self,
        leaf: x509.Certificate,
        leaf_der: bytes,
        chain_ders: Sequence[bytes],
        snapshot: TrustSnapshot,
        now: datetime,
    ) -> list[x509.Certificate] | None:
        """``probe`` then ``check``, in one call."""
        probe = self.probe(leaf_der, chain_ders, snapshot.digest)
        return self.check(probe, leaf, leaf_der, snapshot, now)

    def _checked(
        self,
        leaf: x509.Certificate,
        leaf_der: bytes,
        fields: CertFields,
        entry: SubPath,
        snapshot: TrustSnapshot,
        now: datetime,
    ) -> list[x509.Certificate] | None:
        if not _leaf_basics(fields) or (
            self.webpki and not _san_criticality_ok(leaf, leaf_der, fields)
        ):
            return None
        if hashlib.sha256(leaf_der).digest() in self._snapshot_index(snapshot).anchors:
            return None  # pyca ends the path at a leaf that is itself an anchor
        leaf_start, leaf_end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
        # The engine's instant (clock.first_instant): every CA must be valid there.
        instant = min(max(now, leaf_start), leaf_end).replace(microsecond=0)
        if not entry.valid_from <= instant <= entry.valid_until:
            return None
        # clock.check_window on the whole path, from the tail's cached bounds.
        start, end = max(entry.valid_from, leaf_start), min(entry.valid_until, leaf_end)
        skew = self.clock_skew
        if end < now - skew or end < start or start > now + skew:
            return None
        if not _signed_by(fields, entry.public_key):
            return None
        return [leaf, *entry.tail]

    def learn(
        self,
        probe: Probe,
        chain_ders: Sequence[bytes],
        path: Sequence[x509.Certificate],
        snapshot: TrustSnapshot,
    ) -> None:
        """Remember the tail of ``path``, a path pyca's engine just validated for the
        probed leaf and presented chain (or remember that it cannot be reused)."""
        if probe.known or probe.fields is None or len(path) < 2:
            return
        entry = self._reusable(probe.fields, chain_ders, path, snapshot)
        size = entry.size if entry is not None else REFUSED_COST
        with self._lock:
            if probe.key in self._entries:
                return
            self._entries[probe.key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.size if dropped is not None else REFUSED_COST

    # -- helpers ---------------------------------------------------------------------------

    def _snapshot_index(self, snapshot: TrustSnapshot) -> _SnapshotIndex:
        index = self._index
        if index is None or index.digest != snapshot.digest:
            index = _SnapshotIndex(snapshot)
            self._index = index
        return index

    def _reusable(
        self,
        leaf: CertFields,
        chain_ders: Sequence[bytes],
        path: Sequence[x509.Certificate],
        snapshot: TrustSnapshot,
    ) -> SubPath | None:
        tail = tuple(path[1:])
        if any(_name_constrained(ca) for ca in tail):
            return None
        index = self._snapshot_index(snapshot)
        presented: dict[bytes, set[bytes]] = {}
        for der in chain_ders:
            fields = cert_fields(der)
            if fields is None:
                return None
            presented.setdefault(fields.subject, set()).add(hashlib.sha256(der).digest())
        issuers = [leaf.issuer]
        from cryptography.hazmat.primitives.serialization import Encoding

        ders = [ca.public_bytes(Encoding.DER) for ca in tail]
        for der in ders[:-1]:
            fields = cert_fields(der)
            if fields is None:
                return None
            issuers.append(fields.issuer)
        for issuer in issuers:  # one candidate at every level: pyca had no other branch
            candidates = index.subjects.get(issuer, set()) | presented.get(issuer, set())
            if len(candidates) != 1:
                return None
        try:
            public_key = tail[0].public_key()
        except Exception:
            return None
        return SubPath(
            tail=tail,
            public_key=public_key,
            valid_from=max(ca.not_valid_before_utc for ca in tail),
            valid_until=min(ca.not_valid_after_utc for ca in tail),
            size=ENTRY_OVERHEAD + sum(len(der) for der in ders),
        )


def subpath_cache(engine: object, policy: ValidationPolicy) -> SubpathCache | None:
    """A sub-path cache for ``engine``: pyca's only (the cached path is the one its search
    would build; another engine's proof would not carry over)."""
    if type(engine) is not CryptographyEngine:
        return None
    return SubpathCache(policy)


def _key(trust_digest: bytes, issuer: bytes, chain_ders: Sequence[bytes]) -> bytes:
    digest = hashlib.sha256(trust_digest)
    digest.update(len(issuer).to_bytes(4, "big"))
    digest.update(issuer)
    for der in chain_ders:
        digest.update(len(der).to_bytes(4, "big"))
        digest.update(der)
    return digest.digest()


def _leaf_basics(fields: CertFields) -> bool:
    """pyca's ``permits_basic`` for the leaf, minus validity (the leaf profile did it)."""
    serial = fields.serial
    return (
        fields.version_3
        and fields.signature_algorithm == fields.tbs_signature_algorithm
        and 1 <= len(serial) <= 21
        and not serial[0] & 0x80
        and len(fields.issuer) > 2
        and _time_encoding_ok(fields.not_before)
        and _time_encoding_ok(fields.not_after)
    )


def _san_criticality_ok(leaf: x509.Certificate, leaf_der: bytes, fields: CertFields) -> bool:
    """pyca's web-PKI end-entity rule: subjectAltName is critical exactly when the subject
    is empty (RFC 5280 4.2.1.6); the leaf profile checked that it is present. Read from the
    leaf profile's memo (``leaf.extensions`` would pin ~2 KB of objects on the leaf)."""
    facts = LEAF_FACTS(leaf_der, leaf)
    if isinstance(facts, tuple):
        return False
    san = ExtensionOID.SUBJECT_ALTERNATIVE_NAME
    return san in facts.present and (san in facts.critical) == (fields.subject == b"\x30\x00")


def _time_encoding_ok(time: tuple[int, bytes]) -> bool:
    """RFC 5280 4.1.2.5: dates in 1950..2049 are UTCTime (pyca refuses them otherwise)."""
    tag, content = time
    if tag != GENERALIZED_TIME:
        return True
    try:
        year = int(content[:4])
    except ValueError:
        return False
    return not 1950 <= year < 2050


def _signed_by(fields: CertFields, public_key: Any) -> bool:
    known = SIGNATURES.get(fields.signature_algorithm)
    if known is None:
        return False
    kind, hash_type = known
    try:
        if kind == "ec" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(fields.signature, fields.tbs, ec.ECDSA(hash_type()))
            return True
        if kind == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(fields.signature, fields.tbs, _PKCS1, hash_type())
            return True
    except Exception:
        return False
    return False


def _name_constrained(ca: x509.Certificate) -> bool:
    try:
        ca.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return False
    except Exception:
        return True
    return True
