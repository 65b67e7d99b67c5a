"""One leaf profile for every engine: each leaf defect gets the same reason from
``cryptography``, ``certvalidator`` and ``both``, through ``Verifier.verify_request``.

Left alone the engines disagreed on most of these (pyhanko accepted a CA:TRUE leaf,
keyCertSign on an end-entity, a duplicated SAN; both accepted a keyUsage without
digitalSignature). ``chain.leaf.check_presented`` now judges them before any engine runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

pytest.importorskip("pyhanko_certvalidator")

from originverify import EdgeSecret, Reason, VerificationError, Verifier
from originverify.chain import ValidationPolicy
from originverify.chain.leaf import LEAF_FACTS
from originverify.devpki import CertificateAuthority, PrivateKey, cert_der, new_key
from tests.conftest import EDGE_SECRET, passthrough_headers
from tests.differential import forge

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
ENGINES = ("cryptography", "certvalidator", "both")


def _ku(ds: bool = True, cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(ds, False, False, False, False, cert_sign, crl_sign, False, False)


Ext = tuple[x509.ExtensionType, bool]


class Maker:
    """Leaves from one intermediate, with exactly the extensions a case asks for."""

    def __init__(self) -> None:
        self.root = CertificateAuthority.root_ca("profile root")
        self.inter = self.root.intermediate("profile intermediate")

    def build(
        self,
        extensions: list[Ext],
        *,
        key: PrivateKey | dsa.DSAPrivateKey | None = None,
        cn: str = "device",
        not_before: dt.datetime = NOW - DAY,
        not_after: dt.datetime = NOW + DAY,
    ) -> x509.Certificate:
        key = key or new_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.inter.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        for ext, critical in extensions:
            builder = builder.add_extension(ext, critical=critical)
        return builder.sign(self.inter.key, hashes.SHA256())  # type: ignore[arg-type]

    def aki(self) -> x509.AuthorityKeyIdentifier:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.inter.key.public_key())  # type: ignore[arg-type]


SAN = x509.SubjectAlternativeName([x509.DNSName("device.example")])
EKU_CLIENT = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])


def _good(m: Maker) -> list[Ext]:
    return [
        (x509.BasicConstraints(False, None), True),
        (_ku(), True),
        (EKU_CLIENT, False),
        (SAN, False),
        (m.aki(), False),
    ]


def _replace(m: Maker, oid: x509.ObjectIdentifier, ext: Ext | None) -> list[Ext]:
    kept = [e for e in _good(m) if e[0].oid != oid]
    return [*kept, ext] if ext is not None else kept


def _dup(m: Maker, value: x509.ExtensionType) -> bytes:
    """The good leaf plus a second copy of ``value``'s extension."""
    raw = value.public_bytes()
    placeholder = x509.UnrecognizedExtension(forge.PLACEHOLDER_A, raw)
    cert = m.build([*_good(m), (placeholder, False)])
    return forge.patch(cert, m.inter.key, forge.rename(forge.PLACEHOLDER_A, value.oid))


def _garbled_ku(m: Maker) -> bytes:
    garbage = x509.UnrecognizedExtension(forge.PLACEHOLDER_A, b"\x04\x01\xff")
    cert = m.build([*_replace(m, ExtensionOID.KEY_USAGE, None), (garbage, True)])
    return forge.patch(cert, m.inter.key, forge.rename(forge.PLACEHOLDER_A, ExtensionOID.KEY_USAGE))


Case = Callable[[Maker], x509.Certificate | bytes]
UNKNOWN = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
POLICIES = x509.CertificatePolicies(
    [x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.1"), None)]
)
AIA = x509.AuthorityInformationAccess(
    [
        x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP,
            x509.UniformResourceIdentifier("http://ocsp.example"),
        )
    ]
)

#: defect → (leaf, policy, reason). Every row runs through every engine.
MATRIX: dict[str, tuple[Case, ValidationPolicy, Reason]] = {
    "ca_true": (
        lambda m: m.build(
            _replace(m, ExtensionOID.BASIC_CONSTRAINTS, (x509.BasicConstraints(True, None), True))
        ),
        ValidationPolicy(),
        Reason.INVALID_CERTIFICATE,
    ),
    "name_constraints_on_leaf": (
        lambda m: m.build(
            [*_good(m), (x509.NameConstraints([x509.DNSName("example")], None), True)]
        ),
        ValidationPolicy(),
        Reason.INVALID_CERTIFICATE,
    ),
    "ku_without_digital_signature": (
        lambda m: m.build(_replace(m, ExtensionOID.KEY_USAGE, (_ku(ds=False), True))),
        ValidationPolicy(),
        Reason.BAD_USAGE,
    ),
    "ku_key_cert_sign": (
        lambda m: m.build(_replace(m, ExtensionOID.KEY_USAGE, (_ku(cert_sign=True), True))),
        ValidationPolicy(),
        Reason.BAD_USAGE,
    ),
    "ku_crl_sign": (
        lambda m: m.build(_replace(m, ExtensionOID.KEY_USAGE, (_ku(crl_sign=True), True))),
        ValidationPolicy(),
        Reason.BAD_USAGE,
    ),
    "duplicate_san": (lambda m: _dup(m, SAN), ValidationPolicy(), Reason.MALFORMED_CERTIFICATE),
    "duplicate_eku": (
        lambda m: _dup(m, EKU_CLIENT),
        ValidationPolicy(),
        Reason.MALFORMED_CERTIFICATE,
    ),
    "undecodable_key_usage": (_garbled_ku, ValidationPolicy(), Reason.MALFORMED_CERTIFICATE),
    "unknown_critical": (
        lambda m: m.build([*_good(m), (UNKNOWN, True)]),
        ValidationPolicy(),
        Reason.INVALID_CERTIFICATE,
    ),
    "critical_certificate_policies": (
        lambda m: m.build([*_good(m), (POLICIES, True)]),
        ValidationPolicy(),
        Reason.INVALID_CERTIFICATE,
    ),
    "critical_aia": (
        lambda m: m.build([*_good(m), (AIA, True)]),
        ValidationPolicy(),
        Reason.INVALID_CERTIFICATE,
    ),
    "eku_server_only": (
        lambda m: m.build(
            _replace(
                m,
                ExtensionOID.EXTENDED_KEY_USAGE,
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            )
        ),
        ValidationPolicy(),
        Reason.BAD_USAGE,
    ),
    "eku_missing_required": (
        lambda m: m.build(_replace(m, ExtensionOID.EXTENDED_KEY_USAGE, None)),
        ValidationPolicy(require_eku=True),
        Reason.BAD_USAGE,
    ),
    "rsa_1024": (
        lambda m: m.build(_good(m), key=rsa.generate_private_key(65537, 1024)),
        ValidationPolicy(),
        Reason.UNSUPPORTED_KEY,
    ),
    "rsa_exponent_3": (
        lambda m: m.build(_good(m), key=rsa.generate_private_key(3, 2048)),
        ValidationPolicy(),
        Reason.UNSUPPORTED_KEY,
    ),
    "dsa": (
        lambda m: m.build(_good(m), key=dsa.generate_private_key(2048)),
        ValidationPolicy(),
        Reason.UNSUPPORTED_KEY,
    ),
    "expired": (
        lambda m: m.build(_good(m), not_before=NOW - 3 * DAY, not_after=NOW - DAY),
        ValidationPolicy(),
        Reason.EXPIRED,
    ),
    "not_yet_valid": (
        lambda m: m.build(_good(m), not_before=NOW + DAY, not_after=NOW + 3 * DAY),
        ValidationPolicy(),
        Reason.NOT_YET_VALID,
    ),
    "webpki_without_san": (
        lambda m: m.build(_replace(m, ExtensionOID.SUBJECT_ALTERNATIVE_NAME, None)),
        ValidationPolicy(profile="webpki"),
        Reason.INVALID_CERTIFICATE,
    ),
    "webpki_without_aki": (
        lambda m: m.build(_replace(m, ExtensionOID.AUTHORITY_KEY_IDENTIFIER, None)),
        ValidationPolicy(profile="webpki"),
        Reason.INVALID_CERTIFICATE,
    ),
    "webpki_critical_eku": (
        lambda m: m.build(_replace(m, ExtensionOID.EXTENDED_KEY_USAGE, (EKU_CLIENT, True))),
        ValidationPolicy(profile="webpki"),
        Reason.INVALID_CERTIFICATE,
    ),
}


@pytest.fixture(scope="module")
def maker() -> Maker:
    return Maker()


def _der(value: x509.Certificate | bytes) -> bytes:
    return value if isinstance(value, bytes) else cert_der(value)


def _verifier(m: Maker, engine: str, policy: ValidationPolicy) -> Verifier:
    return Verifier(
        trust=m.root.pem,
        source=EdgeSecret(secrets=[EDGE_SECRET]),
        engine=engine,
        policy=policy,
        cache=None,
    )


def _outcome(v: Verifier, leaf_der: bytes, chain: list[bytes]) -> Reason | None:
    try:
        v.verify_request(passthrough_headers(leaf_der, chain))
    except VerificationError as exc:
        return exc.reason
    return None


@pytest.mark.parametrize("defect", sorted(MATRIX))
def test_every_engine_gives_the_same_reason(maker: Maker, defect: str) -> None:
    build, policy, reason = MATRIX[defect]
    leaf = _der(build(maker))
    chain = [cert_der(maker.inter.cert)]
    got = {e: _outcome(_verifier(maker, e, policy), leaf, chain) for e in ENGINES}
    assert got == dict.fromkeys(ENGINES, reason)


@pytest.mark.parametrize("profile", ["private", "webpki"])
def test_the_good_leaf_passes_every_engine(maker: Maker, profile: str) -> None:
    leaf = cert_der(maker.build(_good(maker)))
    chain = [cert_der(maker.inter.cert)]
    policy = ValidationPolicy(profile=profile)  # type: ignore[arg-type]
    for engine in ENGINES:
        assert _outcome(_verifier(maker, engine, policy), leaf, chain) is None, engine


def test_oversized_rsa_intermediate_is_refused_before_signature_work() -> None:
    root = CertificateAuthority.root_ca("big root")
    big = root.intermediate("big", key_type="rsa", rsa_bits=8192)
    leaf = big.issue("device")
    for engine in ENGINES:
        v = Verifier(
            trust=root.pem, source=EdgeSecret(secrets=[EDGE_SECRET]), engine=engine, cache=None
        )
        assert _outcome(v, leaf.der, list(leaf.chain_der)) is Reason.UNSUPPORTED_KEY


def test_invalid_utf8_name_outside_validity_is_described_not_raised(maker: Maker) -> None:
    """The message of an expired leaf renders its subject; invalid UTF-8 there used to
    raise ``ValueError`` out of the request path. A leaf whose names cannot be decoded is
    now refused as malformed when it is parsed, before any other check, by every engine."""
    cert = maker.build(
        _good(maker), cn=forge.INVALID_UTF8_CN, not_before=NOW - 3 * DAY, not_after=NOW - DAY
    )
    der = forge.patch(cert, maker.inter.key, forge.invalid_utf8())
    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(der).subject.rfc4514_string()
    for engine in ENGINES:
        v = _verifier(maker, engine, ValidationPolicy())
        assert _outcome(v, der, [cert_der(maker.inter.cert)]) is Reason.MALFORMED_CERTIFICATE


def test_leaf_facts_are_memoised_by_digest_and_bounded(maker: Maker) -> None:
    LEAF_FACTS.clear()
    leaf = cert_der(maker.build(_good(maker)))
    v = _verifier(maker, "cryptography", ValidationPolicy())
    for _ in range(3):
        assert _outcome(v, leaf, [cert_der(maker.inter.cert)]) is None
    assert len(LEAF_FACTS) == 1
    assert all(len(key) == 32 for key in LEAF_FACTS._facts)  # digests, not DERs
