"""CRLs end to end: real CRLs signed by the test CAs, from files and a real HTTP server,
checked through ``Verifier.verify_request``."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from originverify import (
    ConfigurationError,
    EdgeSecret,
    Reason,
    VerificationError,
    Verifier,
)
from originverify.devpki import CertificateAuthority
from originverify.revocation import LoadedCRL, Revocation, load_crls
from tests.conftest import EDGE_SECRET, passthrough_headers
from tests.revocation.conftest import RevPKI, verifier
from tests.revocation.pkitools import (
    DAY,
    NOW,
    der,
    make_crl,
    pem,
)


def refused(v: object, headers: list[tuple[str, str]]) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)  # type: ignore[attr-defined]
    return info.value


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- good and revoked ---------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_leaf_not_listed_is_good(rev: RevPKI, tmp_path: Path, encoding: str) -> None:
    crl = make_crl(rev.intermediate, [rev.other_leaf.cert.serial_number])
    path = write(tmp_path, f"inter.{encoding}", pem(crl) if encoding == "pem" else der(crl))
    v = verifier(rev, Revocation(crls=path))
    assert v.verify_request(passthrough_headers(rev.leaf)) is not None
    report = v.explain(passthrough_headers(rev.leaf))
    assert report.accepted
    [step] = [s for s in report.steps if s.name == "revocation"]
    assert step.detail.startswith("leaf: good (CRL")
    assert "revocation:hard:leaf" in report.identity.checks  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_revoked_leaf_is_refused_in_both_modes(rev: RevPKI, tmp_path: Path, mode: str) -> None:
    crl = make_crl(rev.intermediate, [rev.leaf.cert.serial_number])
    v = verifier(rev, Revocation(crls=write(tmp_path, "i.crl", pem(crl)), mode=mode))  # type: ignore[arg-type]
    err = refused(v, passthrough_headers(rev.leaf))
    assert err.reason is Reason.REVOKED
    assert f"{rev.leaf.cert.serial_number:x}" in err.detail
    assert err.http_status == 403
    # The other certificate from the same CA still gets in.
    assert v.verify_request(passthrough_headers(rev.other_leaf)) is not None


def test_revoked_intermediate_needs_chain_scope(rev: RevPKI, tmp_path: Path) -> None:
    root_crl = make_crl(rev.root, [rev.intermediate.cert.serial_number])
    inter_crl = make_crl(rev.intermediate, [])
    files = [write(tmp_path, "root.crl", pem(root_crl)), write(tmp_path, "i.crl", pem(inter_crl))]
    leaf_only = verifier(rev, Revocation(crls=files, scope="leaf"))
    assert leaf_only.verify_request(passthrough_headers(rev.leaf)) is not None
    chain = verifier(rev, Revocation(crls=files, scope="chain"))
    err = refused(chain, passthrough_headers(rev.leaf))
    assert err.reason is Reason.REVOKED
    assert err.detail.startswith("chain[0] 'CN=revocation intermediate")


def test_chain_scope_needs_a_crl_for_every_level(rev: RevPKI, tmp_path: Path) -> None:
    inter_crl = write(tmp_path, "i.crl", pem(make_crl(rev.intermediate, [])))
    err = refused(
        verifier(rev, Revocation(crls=inter_crl, scope="chain")), passthrough_headers(rev.leaf)
    )
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert err.detail.startswith("chain[0]:")
    assert "no CRL for issuer 'CN=revocation root" in err.detail


def test_crls_over_http(rev: RevPKI) -> None:
    url = rev.server.serve("/i.crl", der(make_crl(rev.intermediate, [rev.leaf.cert.serial_number])))
    revocation = Revocation(crl_urls=[url])
    v = verifier(rev, revocation)
    assert refused(v, passthrough_headers(rev.leaf)).reason is Reason.REVOKED
    assert v.verify_request(passthrough_headers(rev.other_leaf)) is not None
    assert rev.server.hits["/i.crl"] == 1  # fetched once, at start-up: none per request


def test_two_level_pki_leaf_issued_by_the_root(tmp_path: Path) -> None:
    root = CertificateAuthority.root_ca("two-level root")
    leaf, other = root.issue("a"), root.issue("b")
    crl = write(tmp_path, "root.crl", pem(make_crl(root, [leaf.cert.serial_number])))
    v = verifier(root, Revocation(crls=crl, scope="chain"))
    assert refused(v, passthrough_headers(leaf)).reason is Reason.REVOKED
    assert v.verify_request(passthrough_headers(other)) is not None


# -- CRLs that must not say "good" --------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("expired", "expired at"),
        ("not_yet_valid", "not valid before"),
        ("wrong_key_same_aki", "signature does not verify"),
        ("wrong_key_no_aki", "signature does not verify"),
        ("wrong_key_own_aki", "no certificate of its issuer with the key that signed it"),
        ("other_issuer", "no CRL for issuer"),
        ("only_ca_certs", "covers CA certificates only"),
        ("only_some_reasons", "cover only some revocation reasons"),
    ],
)
def test_unusable_crl_is_unknown_hard_and_passes_soft(
    rev: RevPKI, tmp_path: Path, case: str, expected: str
) -> None:
    inter = rev.intermediate
    forger = CertificateAuthority.root_ca("revocation intermediate")  # same name, other key
    crl = {
        "expired": lambda: make_crl(inter, [], this_update=NOW - 2 * DAY, next_update=NOW - DAY),
        "not_yet_valid": lambda: make_crl(
            inter, [], this_update=NOW + DAY, next_update=NOW + 2 * DAY
        ),
        "wrong_key_same_aki": lambda: _forged_with_inter_aki(inter, forger),
        "wrong_key_no_aki": lambda: make_crl(inter, [], signing_key=forger.key, aki=False),
        "wrong_key_own_aki": lambda: make_crl(inter, [], signing_key=forger.key),
        "other_issuer": lambda: make_crl(CertificateAuthority.root_ca("someone else"), []),
        "only_ca_certs": lambda: make_crl(inter, [], extensions=[(_idp(only_ca=True), True)]),
        "only_some_reasons": lambda: make_crl(
            inter,
            [],
            extensions=[(_idp(reasons=frozenset({x509.ReasonFlags.key_compromise})), True)],
        ),
    }[case]()
    path = write(tmp_path, "i.crl", pem(crl))
    err = refused(verifier(rev, Revocation(crls=path, mode="hard")), passthrough_headers(rev.leaf))
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert expected in err.detail
    soft = verifier(rev, Revocation(crls=path, mode="soft"))
    report = soft.explain(passthrough_headers(rev.leaf))
    assert report.accepted
    assert (
        "unknown, accepted (soft-fail"
        in next(s for s in report.steps if s.name == "revocation").detail
    )


def _forged_with_inter_aki(
    inter: CertificateAuthority, forger: CertificateAuthority
) -> x509.CertificateRevocationList:
    """Claims to be from the intermediate (name and key id) but is signed by another key."""
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(inter.key.public_key())  # type: ignore[arg-type]
    return make_crl(inter, [], signing_key=forger.key, aki=False, extensions=[(aki, False)])


def _idp(
    only_ca: bool = False, reasons: frozenset[x509.ReasonFlags] | None = None
) -> x509.IssuingDistributionPoint:
    return x509.IssuingDistributionPoint(
        full_name=None,
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=only_ca,
        only_some_reasons=reasons,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )


def test_forged_crl_cannot_revoke_either(rev: RevPKI, tmp_path: Path) -> None:
    forger = CertificateAuthority.root_ca("revocation intermediate")
    forged = _forged_with_inter_aki(rev.intermediate, forger)
    forged_listing = make_crl(
        rev.intermediate, [rev.leaf.cert.serial_number], signing_key=forger.key, aki=False
    )
    files = [write(tmp_path, "a.crl", pem(forged)), write(tmp_path, "b.crl", pem(forged_listing))]
    report = verifier(rev, Revocation(crls=files, mode="soft")).explain(
        passthrough_headers(rev.leaf)
    )
    assert report.accepted, report.error
    assert (
        "signature does not verify"
        in next(s for s in report.steps if s.name == "revocation").detail
    )


def test_stale_crl_still_proves_a_revocation(rev: RevPKI, tmp_path: Path) -> None:
    stale = make_crl(
        rev.intermediate,
        [rev.leaf.cert.serial_number],
        this_update=NOW - 3 * DAY,
        next_update=NOW - DAY,
    )
    v = verifier(rev, Revocation(crls=write(tmp_path, "i.crl", pem(stale)), mode="soft"))
    assert refused(v, passthrough_headers(rev.leaf)).reason is Reason.REVOKED


def test_fresh_crl_wins_over_a_stale_one_from_another_source(rev: RevPKI, tmp_path: Path) -> None:
    stale = make_crl(
        rev.intermediate, [], this_update=NOW - 3 * DAY, next_update=NOW - DAY, number=1
    )
    fresh = make_crl(rev.intermediate, [], number=2)
    files = [write(tmp_path, "old.crl", pem(stale)), write(tmp_path, "new.crl", pem(fresh))]
    assert verifier(rev, Revocation(crls=files)).verify_request(passthrough_headers(rev.leaf))


def test_no_crl_at_all_hard_and_soft(rev: RevPKI) -> None:
    hard = Revocation(crls=(), mode="hard")
    err = refused(verifier(rev, hard), passthrough_headers(rev.leaf))
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert verifier(rev, Revocation(mode="soft")).verify_request(passthrough_headers(rev.leaf))


def test_pinned_self_signed_leaf_has_nothing_to_check() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pinned device")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    v = Verifier(
        trust=cert, source=EdgeSecret(secrets=[EDGE_SECRET]), revocation=Revocation(mode="hard")
    )
    report = v.explain(passthrough_headers(cert.public_bytes(Encoding.DER), chain=()))
    assert report.accepted, report.error
    assert "nothing to check" in next(s for s in report.steps if s.name == "revocation").detail


# -- refused at load time -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        (x509.DeltaCRLIndicator(1), "delta CRL #1 for a base not older than it"),
        (
            x509.IssuingDistributionPoint(None, None, True, False, None, False, False),
            None,  # issuingDistributionPoint: accepted when critical; see below
        ),
        (
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"),
            "unsupported critical CRL extension",
        ),
    ],
)
def test_unsupported_crls_are_refused_at_start_up(
    rev: RevPKI, tmp_path: Path, extension: x509.ExtensionType, message: str | None
) -> None:
    if message is None:  # a critical IDP is fine; a non-critical one breaks RFC 5280 §5.2.5
        Revocation(crls=der(make_crl(rev.intermediate, [], extensions=[(extension, True)])))
        extension, message = extension, "issuingDistributionPoint must be critical"
        crl = make_crl(rev.intermediate, [], extensions=[(extension, False)])
    else:
        crl = make_crl(rev.intermediate, [], extensions=[(extension, True)])
    with pytest.raises(ConfigurationError, match=message):
        Revocation(crls=write(tmp_path, "bad.crl", pem(crl)))
    with pytest.raises(ConfigurationError, match=message):
        Revocation(crls=der(crl))


def test_garbage_and_missing_files_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a PEM or DER CRL"):
        Revocation(crls=write(tmp_path, "junk.crl", b"\x30\x03junk"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        Revocation(crls=tmp_path / "missing.crl")
    with pytest.raises(ConfigurationError, match="mode"):
        Revocation(mode="strict")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="scope"):
        Revocation(scope="all")  # type: ignore[arg-type]


def test_serial_lookup_is_a_set(rev: RevPKI) -> None:
    serials = list(range(1, 5001))
    [loaded] = load_crls(der(make_crl(rev.intermediate, serials)), "mem")
    assert isinstance(loaded, LoadedCRL)
    assert isinstance(loaded.serials, frozenset)
    assert loaded.entries == 5000 and 4242 in loaded.serials and 5001 not in loaded.serials


# -- settings -----------------------------------------------------------------------------


def test_from_settings(rev: RevPKI, tmp_path: Path) -> None:
    assert Revocation.from_settings({}) is None
    assert Revocation.from_settings({"revocation": "off"}) is None
    path = write(tmp_path, "i.crl", pem(make_crl(rev.intermediate, [rev.leaf.cert.serial_number])))
    revocation = Revocation.from_settings(
        {"revocation": "hard", "crl_files": str(path), "revocation_scope": "leaf"}
    )
    assert revocation is not None and revocation.running
    try:
        assert (
            refused(verifier(rev, revocation), passthrough_headers(rev.leaf)).reason
            is Reason.REVOKED
        )
    finally:
        revocation.close()
    with pytest.raises(ConfigurationError, match="no source"):
        Revocation.from_settings({"revocation": "soft"})
    with pytest.raises(ConfigurationError, match="'off', 'soft' or 'hard'"):
        Revocation.from_settings({"revocation": "on"})


def test_mutated_crls_only_ever_raise_crl_error(rev: RevPKI) -> None:
    """Byte flips anywhere in a rich CRL (IDP, delta, indirect entries): parsing either
    succeeds or raises ``CRLError`` (a ``ConfigurationError`` at start-up), nothing else."""
    import random

    from originverify.revocation import CRLError
    from tests.revocation.pkitools import entry, idp

    base = der(
        make_crl(
            rev.intermediate,
            [1, 2, 3],
            extensions=[idp([x509.UniformResourceIdentifier(rev.leaf_crl_url)], indirect=True)],
            entries=[entry(9, x509.ReasonFlags.key_compromise, rev.root.cert.subject)],
        )
    )
    path = [rev.leaf.cert, rev.intermediate.cert, rev.root.cert]
    assert "good" in str(Revocation(crls=base).check(path, NOW))
    rng = random.Random(5280)  # fixed seed: the same 400 mutants each run
    outcomes = {"parsed": 0, "refused": 0, "good": 0}
    for _ in range(400):
        data = bytearray(base)
        for index in rng.sample(range(len(data)), rng.randint(1, 3)):
            data[index] ^= rng.randrange(1, 256)  # always a different byte
        try:
            load_crls(bytes(data), "mutant")
        except CRLError:
            outcomes["refused"] += 1
            continue
        outcomes["parsed"] += 1
        try:  # and evaluating it never raises anything but a verdict
            status = Revocation(crls=bytes(data), mode="soft").check(path, NOW)
            outcomes["good"] += "leaf: good" in str(status)
        except VerificationError as exc:
            assert exc.reason is Reason.REVOKED
    assert outcomes["refused"] > 0 and outcomes["parsed"] > 0, outcomes
    assert outcomes["good"] == 0, outcomes  # a changed CRL never verifies
