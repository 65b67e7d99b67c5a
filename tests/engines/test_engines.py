"""The pyhanko-certvalidator engine and the "both engines must agree" mode.

Same inputs, same ``ClientIdentity``, same reason codes; a real disagreement between the two
engines is refused with ``engine_disagreement`` and logged with both verdicts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from collections.abc import Sequence
from datetime import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

pytest.importorskip("pyhanko_certvalidator")

from originverify import (
    ConfigurationError,
    EdgeSecret,
    Reason,
    TrustStore,
    VerificationError,
    Verifier,
)
from originverify.chain import (
    CryptographyEngine,
    ValidationPolicy,
    build_engine,
    check_presented,
)
from originverify.chain.both import BothEngines
from originverify.chain.certvalidator import CertvalidatorEngine, certvalidator_reason
from originverify.devpki import SERVER_AUTH, CertificateAuthority, Issued
from originverify.revocation import Revocation
from originverify.trust import TrustSnapshot
from tests.conftest import EDGE_SECRET, passthrough_headers
from tests.revocation.pkitools import make_crl

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)


def verifier(root: CertificateAuthority, engine: str | object, **kwargs: object) -> Verifier:
    kwargs.setdefault("cache", None)
    return Verifier(
        trust=root.pem,
        source=EdgeSecret(secrets=[EDGE_SECRET]),
        engine=engine,  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return CertificateAuthority.root_ca("engines root")


@pytest.fixture(scope="module")
def inter(root: CertificateAuthority) -> CertificateAuthority:
    return root.intermediate("engines intermediate")


# -- accepted: identical identities -------------------------------------------------------


@pytest.mark.parametrize("key_type", ["ec", "rsa", "p384"])
@pytest.mark.parametrize("levels", [2, 3, 4])
def test_same_identity_from_every_engine(key_type: str, levels: int) -> None:
    root = CertificateAuthority.root_ca(key_type=key_type)  # type: ignore[arg-type]
    issuer = root
    for depth in range(levels - 2):
        issuer = issuer.intermediate(f"level {depth}", key_type=key_type)  # type: ignore[arg-type]
    leaf = issuer.issue("device", dns=["device.example"], key_type=key_type)  # type: ignore[arg-type]
    identities = {}
    for engine in ("cryptography", "certvalidator", "both"):
        identity = verifier(root, engine).verify_request(passthrough_headers(leaf))
        assert identity is not None
        identities[engine] = identity
    reference = identities["cryptography"]
    for engine, identity in identities.items():
        assert identity.certificate == reference.certificate, engine
        assert identity.chain == reference.chain, engine  # same objects: same path
        assert identity.anchor == root.cert, engine
        data, ref = identity.as_dict(), reference.as_dict()
        data.pop("checks"), ref.pop("checks")
        assert data == ref, engine
    assert "chain:private:certvalidator" in identities["certvalidator"].checks
    assert "chain:private:both" in identities["both"].checks


def test_extra_intermediates_and_client_sent_roots(
    root: CertificateAuthority, inter: CertificateAuthority
) -> None:
    leaf = inter.issue("leaf-only")
    impostor = CertificateAuthority.root_ca("engines root")  # same name as ours, other key
    for engine in ("certvalidator", "both"):
        v = verifier(root, engine, extra_intermediates=inter.pem)
        assert v.verify_request(passthrough_headers(leaf, chain=())) is not None
        # A root the client sends is never an anchor, even with our root's name.
        sent = [leaf.chain_der[0], impostor.cert.public_bytes(Encoding.DER)]
        identity = verifier(root, engine).verify_request(passthrough_headers(leaf, chain=sent))
        assert identity is not None and identity.anchor == root.cert
        mallory = impostor.issue("mallory")
        err = refused(
            verifier(root, engine),
            passthrough_headers(mallory, chain=[impostor.cert.public_bytes(Encoding.DER)]),
        )
        assert err.reason is Reason.UNTRUSTED_CHAIN


# -- refused: the same reason codes -------------------------------------------------------


def _case(
    name: str, root: CertificateAuthority, inter: CertificateAuthority
) -> tuple[CertificateAuthority, Issued, ValidationPolicy]:
    policy = ValidationPolicy()
    if name == "untrusted":
        return CertificateAuthority.root_ca("someone else"), inter.issue("a"), policy
    if name == "expired_leaf":
        return root, inter.issue("a", not_before=NOW - 3 * DAY, not_after=NOW - DAY), policy
    if name == "expired_intermediate":
        old = root.intermediate("old", not_before=NOW - 9 * DAY, not_after=NOW - DAY)
        return root, old.issue("a", not_before=NOW - 3 * DAY), policy
    if name == "expired_anchor":
        old_root = CertificateAuthority.root_ca(
            "old root", not_before=NOW - 9 * DAY, not_after=NOW - DAY
        )
        sub = old_root.intermediate("sub", not_before=NOW - 5 * DAY)
        return old_root, sub.issue("a", not_before=NOW - 5 * DAY), policy
    if name == "server_auth_leaf":
        return root, inter.issue("a", eku=[SERVER_AUTH]), policy
    if name == "missing_eku_required":
        return root, inter.issue("a", eku=None), ValidationPolicy(require_eku=True)
    if name == "name_constraints":
        constrained = root.intermediate("nc", permitted_dns=["example.com"])
        return root, constrained.issue("a", dns=["evil.example.org"]), policy
    if name == "anchor_name_constraints":
        nc_root = CertificateAuthority.root_ca("nc root", permitted_dns=["example.com"])
        return nc_root, nc_root.intermediate("x").issue("a", dns=["evil.example.org"]), policy
    if name == "path_length":
        capped = root.intermediate("capped", path_length=0)
        return root, capped.intermediate("below").issue("a"), policy
    if name == "too_deep":
        return root, inter.intermediate("deeper").issue("a"), ValidationPolicy(max_chain_depth=1)
    if name == "webpki_without_san":
        return root, inter.issue("a"), ValidationPolicy(profile="webpki")
    if name == "bad_signature":
        other = CertificateAuthority.root_ca("x").intermediate("engines intermediate")
        return root, other.issue("a"), policy  # presents a look-alike intermediate
    raise AssertionError(name)


REFUSALS = {
    "untrusted": Reason.UNTRUSTED_CHAIN,
    "expired_leaf": Reason.EXPIRED,
    "expired_intermediate": Reason.EXPIRED,
    "expired_anchor": Reason.EXPIRED,
    "server_auth_leaf": Reason.BAD_USAGE,
    "missing_eku_required": Reason.BAD_USAGE,
    "name_constraints": Reason.NAME_CONSTRAINTS,
    "anchor_name_constraints": Reason.NAME_CONSTRAINTS,
    "path_length": Reason.INVALID_CERTIFICATE,
    "too_deep": Reason.CHAIN_TOO_DEEP,
    "webpki_without_san": Reason.INVALID_CERTIFICATE,
    "bad_signature": Reason.UNTRUSTED_CHAIN,
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_engines_refuse_with_the_same_reason(
    name: str, root: CertificateAuthority, inter: CertificateAuthority
) -> None:
    anchor, leaf, policy = _case(name, root, inter)
    trust = TrustStore(anchor.cert)
    reasons = {}
    for engine in (CryptographyEngine(trust, policy), CertvalidatorEngine(trust, policy)):
        with pytest.raises(VerificationError) as info:
            judge(engine, leaf, policy, trust)
        reasons[engine.name] = info.value.reason
    assert reasons == {"cryptography": REFUSALS[name], "certvalidator": REFUSALS[name]}


@pytest.mark.parametrize(
    "name", ["untrusted", "expired_intermediate", "server_auth_leaf", "name_constraints"]
)
def test_same_reason_through_the_verifier(
    name: str, root: CertificateAuthority, inter: CertificateAuthority
) -> None:
    anchor, leaf, _ = _case(name, root, inter)
    reasons = {
        refused(verifier(anchor, e), passthrough_headers(leaf)).reason
        for e in ("cryptography", "certvalidator", "both")
    }
    assert reasons == {REFUSALS[name]}


def test_certvalidator_reason_mapping() -> None:
    cases = [
        ("is not valid for the purpose of client auth", Reason.BAD_USAGE),
        ("intermediate certificate 1 is not allowed to sign certificates", Reason.BAD_USAGE),
        ("not all names of X are in the permitted namespace", Reason.NAME_CONSTRAINTS),
        ("some names of X are excluded from the namespace", Reason.NAME_CONSTRAINTS),
        ("because it exceeds the maximum path length", Reason.INVALID_CERTIFICATE),
        ('The X.509 certificate provided is self-signed - "x"', Reason.UNTRUSTED_CHAIN),
        ("because intermediate certificate 1 is not a CA", Reason.UNTRUSTED_CHAIN),
        (
            "the signature of the end-entity certificate could not be verified",
            Reason.UNTRUSTED_CHAIN,
        ),
        ("intermediate certificate 1 issuer name could not be matched", Reason.UNTRUSTED_CHAIN),
        ("the following unsupported critical extension: 1.2.3", Reason.INVALID_CERTIFICATE),
    ]
    for message, reason in cases:
        assert certvalidator_reason(message) is reason, message


# -- both engines -------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["server_auth_ca", "ed25519", "policy_constraints"])
def test_real_disagreement_is_refused_and_logged(
    root: CertificateAuthority, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    """Chains the engines really judge differently, in both directions.

    ``server_auth_ca``: an intermediate whose EKU excludes clientAuth; pyca refuses (EKU
    constrains CAs, CA/B style), pyhanko-certvalidator checks EKU on the leaf only.
    ``ed25519``: pyca's web-PKI algorithm policy forbids Ed25519 signatures, pyhanko
    accepts them. ``policy_constraints``: a non-critical requireExplicitPolicy=0 on the
    intermediate and a leaf without certificatePolicies; pyca does no policy processing
    and accepts, pyhanko (RFC 5280 6.1 policy processing) refuses.
    """
    if case == "server_auth_ca":
        anchor = root
        leaf = root.intermediate("server-only CA", eku=[SERVER_AUTH]).issue("device")
        verdicts = (Reason.BAD_USAGE, None)
    elif case == "ed25519":
        anchor = CertificateAuthority.root_ca("ed root", key_type="ed25519")
        leaf = anchor.intermediate("ed ca", key_type="ed25519").issue("device", key_type="ed25519")
        verdicts = (Reason.INVALID_CERTIFICATE, None)
    else:
        anchor = root
        leaf = _policy_constrained(root).issue("device")
        verdicts = (None, Reason.INVALID_CERTIFICATE)
    for engine, verdict in zip(("cryptography", "certvalidator"), verdicts, strict=True):
        if verdict is None:
            assert verifier(anchor, engine).verify_request(passthrough_headers(leaf)) is not None
        else:
            assert refused(verifier(anchor, engine), passthrough_headers(leaf)).reason is verdict
    caplog.set_level(logging.WARNING, logger="originverify")
    err = refused(verifier(anchor, "both"), passthrough_headers(leaf))
    assert err.reason is Reason.ENGINE_DISAGREEMENT
    assert err.http_status == 403
    [record] = [r for r in caplog.records if "engines disagree" in r.getMessage()]
    message = record.getMessage()
    for name, verdict in zip(("cryptography", "certvalidator"), verdicts, strict=True):
        expected = "accept (3 certificates" if verdict is None else f"reject ({verdict.value}"
        assert f"{name} says {expected}" in message


def _policy_constrained(root: CertificateAuthority) -> CertificateAuthority:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "policy CA")]))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()),  # type: ignore[arg-type]
            False,
        )
        .add_extension(
            x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None), False
        )
        .sign(root.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return CertificateAuthority(cert, key, (root.cert,))


class _Fixed:
    """A stand-in engine with a fixed verdict, to drive every branch of ``BothEngines``."""

    def __init__(self, name: str, verdict: Reason | None) -> None:
        self.name = name
        self.verdict = verdict
        self.calls = 0

    def validate(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        self.calls += 1
        if self.verdict is not None:
            raise VerificationError(self.verdict, f"{self.name} says no")
        return [leaf, *presented, *snapshot.anchors]


def test_both_engines_branches(
    root: CertificateAuthority, inter: CertificateAuthority, caplog: pytest.LogCaptureFixture
) -> None:
    leaf = inter.issue("x")
    trust = TrustStore(root.cert)
    args = (leaf.cert, list(leaf.intermediates), NOW, trust.snapshot)
    accept, expired, untrusted = (
        _Fixed("a", None),
        _Fixed("b", Reason.EXPIRED),
        _Fixed("c", Reason.UNTRUSTED_CHAIN),
    )
    path = BothEngines(accept, _Fixed("a2", None)).validate(*args)
    assert path[0] == leaf.cert and path[-1] == root.cert
    with pytest.raises(VerificationError) as info:
        BothEngines(expired, untrusted).validate(*args)
    assert info.value.reason is Reason.EXPIRED  # both refuse: the first engine's reason
    caplog.set_level(logging.WARNING, logger="originverify")
    with pytest.raises(VerificationError) as info:
        BothEngines(accept, untrusted).validate(*args)  # first accepts, second refuses
    assert info.value.reason is Reason.ENGINE_DISAGREEMENT
    assert "c: reject (untrusted_chain: c says no)" in info.value.detail
    assert any("engines disagree" in r.getMessage() for r in caplog.records)
    assert untrusted.calls == 2  # both engines always run


def test_both_engines_then_revocation(
    root: CertificateAuthority, inter: CertificateAuthority
) -> None:
    leaf, other = inter.issue("revoked"), inter.issue("fine")
    revocation = Revocation(crls=make_crl(inter, [leaf.cert.serial_number]))
    for engine in ("certvalidator", "both"):
        v = verifier(root, engine, revocation=revocation)
        assert refused(v, passthrough_headers(leaf)).reason is Reason.REVOKED
        assert v.verify_request(passthrough_headers(other)) is not None


# -- plumbing -----------------------------------------------------------------------------


def test_certvalidator_works_inside_a_running_event_loop(
    root: CertificateAuthority, inter: CertificateAuthority
) -> None:
    """ASGI servers call the verifier on their event loop thread, where ``asyncio.run``
    is refused: the engine's private loop thread makes that a non-issue."""
    v = verifier(root, "certvalidator")
    leaf = inter.issue("asgi")

    async def handler() -> object:
        return v.verify_request(passthrough_headers(leaf))

    assert asyncio.run(handler()) is not None


def test_close_and_restart(root: CertificateAuthority, inter: CertificateAuthority) -> None:
    trust = TrustStore(root.cert)
    engine = CertvalidatorEngine(trust, ValidationPolicy())
    leaf = inter.issue("restart")
    assert engine.validate(leaf.cert, list(leaf.intermediates), NOW, trust.snapshot)
    thread = engine._runner._thread
    assert thread is not None and thread.is_alive()
    engine.close()
    assert not thread.is_alive()
    assert engine.validate(leaf.cert, list(leaf.intermediates), NOW, trust.snapshot)  # restarted
    engine.close()


def test_trust_reload_is_seen_by_certvalidator(
    root: CertificateAuthority, inter: CertificateAuthority, tmp_path: object
) -> None:
    from pathlib import Path

    anchors = Path(str(tmp_path)) / "anchors.pem"
    other = CertificateAuthority.root_ca("other root")
    anchors.write_bytes(other.pem)
    v = Verifier(
        trust=TrustStore(anchors),
        source=EdgeSecret(secrets=[EDGE_SECRET]),
        engine="certvalidator",
        cache=None,
    )
    leaf = inter.issue("reload")
    assert refused(v, passthrough_headers(leaf)).reason is Reason.UNTRUSTED_CHAIN
    anchors.write_bytes(root.pem)
    v.reload_trust()
    assert v.verify_request(passthrough_headers(leaf)) is not None


def test_missing_extra_is_a_configuration_error(
    root: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyhanko_certvalidator", None)
    for choice in ("certvalidator", "both"):
        with pytest.raises(ConfigurationError, match=r"originverify\[certvalidator\]"):
            build_engine(choice, TrustStore(root.cert), ValidationPolicy())
    assert (
        build_engine("cryptography", TrustStore(root.cert), ValidationPolicy()).name
        == "cryptography"
    )


def test_any_eku_leaf_counts_as_client_auth_in_both(
    root: CertificateAuthority, inter: CertificateAuthority
) -> None:
    leaf = inter.issue("any", eku=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])
    for engine in ("cryptography", "certvalidator", "both"):
        assert verifier(root, engine).verify_request(passthrough_headers(leaf)) is not None, engine


def judge(
    engine: CryptographyEngine | CertvalidatorEngine,
    leaf: Issued,
    policy: ValidationPolicy,
    trust: TrustStore,
    at: datetime = NOW,
) -> list[x509.Certificate]:
    """What the verifier does: the leaf profile, then the engine."""
    chain = list(leaf.intermediates)
    at = check_presented(leaf.cert, chain, leaf.der, leaf.chain_der, policy, at)
    return engine.validate(leaf.cert, chain, at, trust.snapshot)


def refused(v: Verifier, headers: list[tuple[str, str]]) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)
    return info.value
