"""Frankencert-style chains: a seeded generator of root → intermediates → leaf with random
mutations of extensions, flags, names, validity, keys, signatures and presentation.

Every chain carries the labels of its mutations, so a disagreement between engines can be
triaged by what was done to the chain (see ``triage.py``).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from originverify.devpki import PrivateKey, cert_der

T0 = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CLIENT, SERVER = ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH
ANY = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
UNKNOWN = x509.ObjectIdentifier("1.3.6.1.4.1.99999.7")

CA_MUTATIONS = (
    "expired", "not_yet_valid", "no_bc", "bc_false", "bc_noncritical", "pathlen0", "no_ku",
    "ku_no_certsign", "ku_noncritical", "eku_server", "eku_client", "eku_any", "nc_permit",
    "nc_exclude", "no_aki", "no_ski", "wrong_issuer_name", "bad_sig", "issuer_case",
    "unknown_critical", "unknown_noncritical", "policy_constraints", "key_ed25519",
    "key_rsa", "key_p384",
)  # fmt: skip
LEAF_MUTATIONS = (
    "expired", "not_yet_valid", "ca_true", "no_bc", "ku_no_ds", "ku_certsign", "no_ku",
    "eku_none", "eku_server", "eku_any", "eku_critical", "eku_client_server", "san_none",
    "san_uri", "san_email", "san_critical", "empty_subject", "empty_subject_noncritical_san",
    "no_aki", "unknown_critical", "unknown_noncritical", "cert_policies", "bad_sig",
    "wrong_issuer_name", "key_ed25519", "key_rsa", "key_p384", "key_rsa1024", "key_rsa_e3",
    "dns_outside_nc",
)  # fmt: skip
PRESENT_MUTATIONS = ("reversed", "missing_one", "with_root", "duplicate", "junk_ca")


class KeyPool:
    """Keys generated once per run (RSA key generation would dominate the run otherwise)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ec = [ec.generate_private_key(ec.SECP256R1()) for _ in range(10)]
        self.kinds: dict[str, list[PrivateKey]] = {
            "p384": [ec.generate_private_key(ec.SECP384R1()) for _ in range(3)],
            "rsa": [rsa.generate_private_key(65537, 2048) for _ in range(3)],
            "ed25519": [ed25519.Ed25519PrivateKey.generate() for _ in range(3)],
            "rsa1024": [rsa.generate_private_key(65537, 1024)],
            "rsa_e3": [rsa.generate_private_key(3, 2048)],
        }

    def take(self, kind: str, used: set[int]) -> PrivateKey:
        pool: list[PrivateKey] = self.kinds.get(kind, self.ec)  # type: ignore[assignment]
        free = [k for k in pool if id(k) not in used] or pool
        key = self.rng.choice(free)
        used.add(id(key))
        return key


@dataclass
class Chain:
    """One generated case: what the client presents, what the origin trusts, the labels."""

    seed: int
    leaf: bytes
    presented: list[bytes]
    anchor: x509.Certificate
    labels: list[str] = field(default_factory=list)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "frankencert"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ku(ds: bool, cert_sign: bool, crl: bool) -> x509.KeyUsage:
    return x509.KeyUsage(ds, False, False, False, False, cert_sign, crl, False, False)


def _hash(key: PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _key_kind(muts: set[str]) -> str:
    for kind in ("ed25519", "rsa1024", "rsa_e3", "rsa", "p384"):
        if f"key_{kind}" in muts:
            return kind
    return "ec"


@dataclass
class Issuer:
    cert: x509.Certificate
    key: PrivateKey


class Generator:
    """``generate(seed)`` → one ``Chain``; deterministic for a seed and a key pool."""

    def __init__(self, pool: KeyPool, roots: list[Issuer]) -> None:
        self.pool = pool
        self.roots = roots

    def generate(self, seed: int) -> Chain:
        rng = random.Random(seed)
        root = rng.choice(self.roots)
        used = {id(root.key)}
        depth = rng.choice((0, 1, 1, 1, 2, 2, 3))
        labels: list[str] = []
        issuer, cas = root, []
        for level in range(depth):
            muts = _pick(rng, CA_MUTATIONS, rng.choice((0, 0, 1, 1, 2)))
            labels += [f"ca{level}.{m}" for m in sorted(muts)]
            key = self.pool.take(_key_kind(muts), used)
            cert = _build_ca(rng, f"CA {seed}-{level}", issuer, key, muts, self.pool, used)
            cas.append(cert)
            issuer = Issuer(cert, key)
        muts = _pick(rng, LEAF_MUTATIONS, rng.choice((0, 0, 1, 1, 2, 3)))
        labels += [f"leaf.{m}" for m in sorted(muts)]
        nc = any(f"ca{i}.nc_permit" in labels or f"ca{i}.nc_exclude" in labels for i in range(3))
        leaf = _build_leaf(rng, f"device {seed}", issuer, muts, self.pool, used, nc)
        presented = [cert_der(c) for c in reversed(cas)]  # issuer first
        present = _pick(rng, PRESENT_MUTATIONS, rng.choice((0, 0, 0, 1)))
        labels += [f"present.{m}" for m in sorted(present)]
        presented = _present(rng, presented, present, root, self.pool, used)
        return Chain(seed, cert_der(leaf), presented, root.cert, labels)


_OVERRIDES = {
    "no_bc": ("ca_true", "bc_false", "bc_noncritical", "pathlen0"),
    "bc_false": ("pathlen0",),
    "no_ku": ("ku_no_ds", "ku_certsign", "ku_no_certsign", "ku_noncritical"),
    "eku_none": ("eku_server", "eku_any", "eku_client_server", "eku_critical"),
    "eku_server": ("eku_any", "eku_client_server", "eku_client"),
    "eku_any": ("eku_client_server", "eku_client"),
    "expired": ("not_yet_valid",),
    "wrong_issuer_name": ("issuer_case",),
}
_KEYS = ("key_ed25519", "key_rsa1024", "key_rsa_e3", "key_rsa", "key_p384")


def _pick(rng: random.Random, choices: tuple[str, ...], count: int) -> set[str]:
    """``count`` mutations, without the ones another of them overrides (labels stay true)."""
    muts = set(rng.sample(choices, count))
    for winner, losers in _OVERRIDES.items():
        if winner in muts:
            muts.difference_update(losers)
    keys = [k for k in _KEYS if k in muts]
    muts.difference_update(keys[1:])
    return muts


def _window(muts: set[str], long: bool) -> tuple[dt.datetime, dt.datetime]:
    if "expired" in muts:
        return T0 - 60 * DAY, T0 - DAY
    if "not_yet_valid" in muts:
        return T0 + DAY, T0 + 60 * DAY
    return T0 - 30 * DAY, T0 + (900 if long else 365) * DAY


def _base(
    subject: x509.Name, issuer: Issuer, key: PrivateKey, muts: set[str], long: bool
) -> x509.CertificateBuilder:
    issuer_name = issuer.cert.subject
    if "wrong_issuer_name" in muts:
        issuer_name = _name("somebody else")
    elif "issuer_case" in muts:
        issuer_name = x509.Name(
            [x509.NameAttribute(a.oid, str(a.value).upper()) for a in issuer.cert.subject]
        )
    start, end = _window(muts, long)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _sign(
    builder: x509.CertificateBuilder, issuer: Issuer, muts: set[str], pool: KeyPool, used: set[int]
) -> x509.Certificate:
    key = issuer.key
    if "bad_sig" in muts:
        key = pool.take("ec", set(used))
    return builder.sign(key, _hash(key))  # type: ignore[arg-type]


def _common(
    b: x509.CertificateBuilder, muts: set[str], key: PrivateKey, issuer: Issuer
) -> x509.CertificateBuilder:
    if "no_ski" not in muts:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)  # type: ignore[arg-type]
    if "no_aki" not in muts:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())  # type: ignore[arg-type]
        b = b.add_extension(aki, False)
    if "unknown_critical" in muts or "unknown_noncritical" in muts:
        ext = x509.UnrecognizedExtension(UNKNOWN, b"\x05\x00")
        b = b.add_extension(ext, "unknown_critical" in muts)
    return b


def _build_ca(
    rng: random.Random,
    cn: str,
    issuer: Issuer,
    key: PrivateKey,
    muts: set[str],
    pool: KeyPool,
    used: set[int],
) -> x509.Certificate:
    b = _common(_base(_name(cn), issuer, key, muts, long=True), muts, key, issuer)
    if "no_bc" not in muts:
        pathlen = 0 if "pathlen0" in muts and "bc_false" not in muts else None
        bc = x509.BasicConstraints("bc_false" not in muts, pathlen)
        b = b.add_extension(bc, "bc_noncritical" not in muts)
    if "no_ku" not in muts:
        ku = _ku(True, "ku_no_certsign" not in muts, True)
        b = b.add_extension(ku, "ku_noncritical" not in muts)
    eku = {"eku_server": [SERVER], "eku_client": [CLIENT], "eku_any": [ANY]}
    for mut, purposes in eku.items():
        if mut in muts:
            b = b.add_extension(x509.ExtendedKeyUsage(purposes), False)
            break
    if "nc_permit" in muts or "nc_exclude" in muts:
        names = [x509.DNSName("allowed.example")]
        permitted = names if "nc_permit" in muts else None
        excluded = [x509.DNSName("denied.example")] if "nc_exclude" in muts else None
        b = b.add_extension(x509.NameConstraints(permitted, excluded), True)
    if "policy_constraints" in muts:
        b = b.add_extension(x509.PolicyConstraints(0, None), False)
    return _sign(b, issuer, muts, pool, used)


def _build_leaf(
    rng: random.Random,
    cn: str,
    issuer: Issuer,
    muts: set[str],
    pool: KeyPool,
    used: set[int],
    constrained: bool,
) -> x509.Certificate:
    key = pool.take(_key_kind(muts), used)
    empty = "empty_subject" in muts or "empty_subject_noncritical_san" in muts
    subject = x509.Name([]) if empty else _name(cn)
    b = _common(_base(subject, issuer, key, muts, long=False), muts, key, issuer)
    if "no_bc" not in muts:
        b = b.add_extension(x509.BasicConstraints("ca_true" in muts, None), True)
    if "no_ku" not in muts:
        ku = _ku("ku_no_ds" not in muts, "ku_certsign" in muts, False)
        b = b.add_extension(ku, True)
    b = _leaf_eku(b, muts)
    return _sign(_leaf_san(rng, b, muts, constrained), issuer, muts, pool, used)


def _leaf_eku(b: x509.CertificateBuilder, muts: set[str]) -> x509.CertificateBuilder:
    if "eku_none" in muts:
        return b
    purposes = [CLIENT]
    if "eku_server" in muts:
        purposes = [SERVER]
    elif "eku_any" in muts:
        purposes = [ANY]
    elif "eku_client_server" in muts:
        purposes = [SERVER, CLIENT]
    return b.add_extension(x509.ExtendedKeyUsage(purposes), "eku_critical" in muts)


def _leaf_san(
    rng: random.Random, b: x509.CertificateBuilder, muts: set[str], constrained: bool
) -> x509.CertificateBuilder:
    if "san_none" in muts and not (
        "empty_subject" in muts or "empty_subject_noncritical_san" in muts
    ):
        return b
    host = "x.denied.example" if "dns_outside_nc" in muts else "x.allowed.example"
    if not constrained and "dns_outside_nc" not in muts:
        host = rng.choice(("device.example", "x.allowed.example"))
    names: list[x509.GeneralName] = [x509.DNSName(host)]
    if "san_uri" in muts:
        names.append(x509.UniformResourceIdentifier("spiffe://example.org/device/1"))
    if "san_email" in muts:
        names.append(x509.RFC822Name("device@example.org"))
    critical = "san_critical" in muts or "empty_subject" in muts
    return b.add_extension(x509.SubjectAlternativeName(names), critical)


def _present(
    rng: random.Random,
    presented: list[bytes],
    muts: set[str],
    root: Issuer,
    pool: KeyPool,
    used: set[int],
) -> list[bytes]:
    out = list(presented)
    if "reversed" in muts:
        out.reverse()
    if "missing_one" in muts and out:
        out.pop(rng.randrange(len(out)))
    if "with_root" in muts:
        out.append(cert_der(root.cert))
    if "duplicate" in muts and out:
        out.append(out[0])
    if "junk_ca" in muts:
        key = pool.take("ec", used)
        junk = _build_ca(rng, "junk", Issuer(root.cert, key), key, set(), pool, used)
        out.insert(0, cert_der(junk))
    return out


def make_roots(pool: KeyPool) -> list[Issuer]:
    """Three valid roots (P-256, P-384, RSA-2048), the anchors of every generated chain."""
    roots = []
    for index, kind in enumerate(("ec", "p384", "rsa")):
        key = pool.take(kind, set())
        subject = _name(f"frankencert root {index}")
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(T0 - 3650 * DAY)
            .not_valid_after(T0 + 3650 * DAY)
            .add_extension(x509.BasicConstraints(True, None), True)
            .add_extension(_ku(True, True, True), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)  # type: ignore[arg-type]
        )
        roots.append(Issuer(builder.sign(key, _hash(key)), key))  # type: ignore[arg-type]
    return roots


Factory = Callable[[int], Chain]
