"""RFC 5280 §6.3.3, rule by rule: each test builds its own PKI, serves its CRLs from a real
local HTTP server (``crl_urls``) and checks a positive and a negative case through
``Verifier.verify_request``. Hard mode throughout: "not provably covered" must be refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from originverify import ConfigurationError, Reason, VerificationError, Verifier
from originverify.devpki import CertificateAuthority, Issued, cert_pem
from originverify.revocation import Revocation
from tests.conftest import passthrough_headers
from tests.revocation.conftest import verifier
from tests.revocation.pkitools import (
    DAY,
    HOUR,
    NOW,
    RevocationServer,
    crl_signer,
    delta,
    der,
    entry,
    idp,
    issue,
    make_crl,
    point,
)

R = x509.ReasonFlags
URI = x509.UniformResourceIdentifier


@dataclass
class PKI:
    root: CertificateAuthority
    ca: CertificateAuthority
    server: RevocationServer

    def revocation(self, *crls: x509.CertificateRevocationList, **kwargs: object) -> Revocation:
        """A hard-mode checker fetching ``crls`` from the HTTP server."""
        urls = [self.server.serve(f"/{n}.crl", der(crl)) for n, crl in enumerate(crls)]
        return Revocation(crl_urls=urls, **kwargs)  # type: ignore[arg-type]

    def verifier(self, revocation: Revocation) -> Verifier:
        return verifier(self.root, revocation)


@pytest.fixture
def pki(server: RevocationServer) -> PKI:
    root = CertificateAuthority.root_ca("rfc5280 root")
    return PKI(root, root.intermediate("rfc5280 ca"), server)


def accepted(v: Verifier, cert: Issued) -> bool:
    return v.verify_request(passthrough_headers(cert)) is not None


def refused(v: Verifier, cert: Issued) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        v.verify_request(passthrough_headers(cert))
    return info.value


def dn(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def rdn(text: str) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, text)])


# -- (b)(2)(i): distribution point names, every GeneralName form --------------------------


def test_uri_partition_covers_only_its_uri(pki: PKI) -> None:
    mine = issue(pki.ca, "mine", points=[point([URI("http://ca.example/p1.crl")])])
    other = issue(pki.ca, "other", points=[point([URI("HTTP://CA.example/p1.crl")])])
    crl = make_crl(
        pki.ca, [other.cert.serial_number], extensions=[idp([URI("http://ca.example/p1.crl")])]
    )
    v = pki.verifier(pki.revocation(crl))
    assert accepted(v, mine)  # positive: same URI
    assert refused(v, other).reason is Reason.REVOKED  # scheme/host compare case-insensitively
    stranger = issue(pki.ca, "stranger", points=[point([URI("http://ca.example/p2.crl")])])
    err = refused(v, stranger)  # negative: another partition
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "a partition for another distribution point" in err.detail


def test_directory_name_partition_is_not_a_complete_crl(pki: PKI) -> None:
    """Fail-open from the review: a directoryName partition counted as a complete CRL."""
    p1, p2 = x509.DirectoryName(dn("partition 1")), x509.DirectoryName(dn("partition 2"))
    in_p1 = issue(pki.ca, "in p1", points=[point([p1])])
    in_p2 = issue(pki.ca, "in p2", points=[point([p2])])
    crl = make_crl(pki.ca, [], extensions=[idp([p1])])
    v = pki.verifier(pki.revocation(crl))
    assert accepted(v, in_p1)
    err = refused(v, in_p2)
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "a partition for another distribution point" in err.detail


def test_other_general_name_forms_match_exactly(pki: PKI) -> None:
    name = x509.RFC822Name("crl@ca.example")
    mine = issue(pki.ca, "mine", points=[point([name])])
    other = issue(pki.ca, "other", points=[point([x509.RFC822Name("crl2@ca.example")])])
    v = pki.verifier(pki.revocation(make_crl(pki.ca, [], extensions=[idp([name])])))
    assert accepted(v, mine)
    assert refused(v, other).reason is Reason.REVOCATION_UNKNOWN


def test_name_relative_to_crl_issuer(pki: PKI) -> None:
    """nameRelativeToCRLIssuer on either side stands for (CRL issuer name + RDN)."""
    relative = issue(pki.ca, "relative", points=[point(relative=rdn("part 1"))])
    absolute_name = x509.DirectoryName(x509.Name([*pki.ca.cert.subject.rdns, rdn("part 1")]))
    absolute = issue(pki.ca, "absolute", points=[point([absolute_name])])
    elsewhere = issue(pki.ca, "elsewhere", points=[point(relative=rdn("part 2"))])
    v = pki.verifier(pki.revocation(make_crl(pki.ca, [], extensions=[idp(relative=rdn("part 1"))])))
    assert accepted(v, relative)
    assert accepted(v, absolute)  # same name, written in full in the certificate
    assert refused(v, elsewhere).reason is Reason.REVOCATION_UNKNOWN
    v2 = pki.verifier(pki.revocation(make_crl(pki.ca, [], extensions=[idp([absolute_name])])))
    assert accepted(v2, relative)  # and the other way round


def test_certificate_without_distribution_point_needs_a_complete_crl(pki: PKI) -> None:
    """Fail-open from the review: a certificate naming no distribution point was taken as
    covered by any partition (RFC 5280 §6.3.3 (b)(2)(i): it is not)."""
    plain = issue(pki.ca, "no dp")
    partition = make_crl(pki.ca, [], extensions=[idp([URI("http://ca.example/p1.crl")])])
    err = refused(pki.verifier(pki.revocation(partition)), plain)
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "the certificate names no distribution point" in err.detail
    assert accepted(pki.verifier(pki.revocation(make_crl(pki.ca, []))), plain)


def test_unverifiable_listing_crl_does_not_fall_back_to_another_partition(pki: PKI) -> None:
    """Fail-open from the review: the partition that lists the certificate is signed with a
    key we cannot verify (the CA's new key); an unrelated, valid partition must not vouch."""
    p1, p2 = URI("http://ca.example/p1.crl"), URI("http://ca.example/p2.crl")
    cert = issue(pki.ca, "in p1", points=[point([p1])])
    new_ca = pki.root.intermediate(subject=pki.ca.cert.subject)  # key rollover: same name
    listing = make_crl(
        pki.ca, [cert.cert.serial_number], signing_key=new_ca.key, extensions=[idp([p1])]
    )
    unrelated = make_crl(pki.ca, [], extensions=[idp([p2])])
    err = refused(pki.verifier(pki.revocation(listing, unrelated)), cert)
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "no certificate of its issuer with the key that signed it" in err.detail
    # Positive: once the new CA certificate is configured, the listing CRL counts.
    v = pki.verifier(pki.revocation(listing, unrelated, crl_signers=[new_ca.cert]))
    assert refused(v, cert).reason is Reason.REVOKED


# -- (b)(2)(ii)-(iv): only user / CA / attribute certificates -----------------------------


def test_only_user_certs(pki: PKI) -> None:
    leaf = issue(pki.ca, "leaf")
    user_only = make_crl(pki.ca, [], extensions=[idp(only_user=True)])
    root_user_only = make_crl(pki.root, [], extensions=[idp(only_user=True)])
    assert accepted(pki.verifier(pki.revocation(user_only)), leaf)
    # chain scope: the intermediate is a CA certificate, outside a user-only CRL of the root
    err = refused(pki.verifier(pki.revocation(user_only, root_user_only, scope="chain")), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert err.detail.startswith("chain[0]") and "end-entity certificates only" in err.detail


def test_only_ca_certs(pki: PKI) -> None:
    leaf = issue(pki.ca, "leaf")
    ca_only_root = make_crl(pki.root, [], extensions=[idp(only_ca=True)])
    complete = make_crl(pki.ca, [])
    assert accepted(pki.verifier(pki.revocation(complete, ca_only_root, scope="chain")), leaf)
    ca_only = make_crl(pki.ca, [], extensions=[idp(only_ca=True)])
    err = refused(pki.verifier(pki.revocation(ca_only)), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN and "CA certificates only" in err.detail


def test_only_attribute_certs_never_covers_a_certificate(pki: PKI) -> None:
    leaf = issue(pki.ca, "leaf")
    attr = make_crl(pki.ca, [], extensions=[idp(only_attr=True)])
    err = refused(pki.verifier(pki.revocation(attr)), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN and "attribute certificates only" in err.detail
    assert accepted(pki.verifier(pki.revocation(attr, make_crl(pki.ca, [], number=2))), leaf)


# -- (c)-(d), (l): reason masks accumulated across CRLs ------------------------------------


SOME = frozenset({R.key_compromise, R.ca_compromise})
REST = frozenset(
    {
        R.affiliation_changed,
        R.superseded,
        R.cessation_of_operation,
        R.certificate_hold,
        R.privilege_withdrawn,
        R.aa_compromise,
    }
)


def test_reasons_must_add_up_to_all_reasons(pki: PKI) -> None:
    leaf, other = issue(pki.ca, "leaf"), issue(pki.ca, "other")
    some = make_crl(pki.ca, [], number=1, extensions=[idp(reasons=SOME)])
    rest = make_crl(pki.ca, [other.cert.serial_number], number=2, extensions=[idp(reasons=REST)])
    err = refused(pki.verifier(pki.revocation(some)), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "cover only some revocation reasons" in err.detail
    v = pki.verifier(pki.revocation(some, rest))
    assert accepted(v, leaf)  # two CRLs, every reason between them
    assert refused(v, other).reason is Reason.REVOKED


def test_distribution_point_reasons_narrow_the_mask(pki: PKI) -> None:
    """A DP limited to some reasons contributes only those: a second DP must cover the rest."""
    uri = URI("http://ca.example/all.crl")
    narrow = issue(pki.ca, "narrow", points=[point([uri], reasons=SOME)])
    both = issue(
        pki.ca,
        "both",
        points=[
            point([uri], reasons=SOME),
            point(reasons=REST, crl_issuer=None, names=[URI("http://ca.example/rest.crl")]),
        ],
    )
    full = make_crl(pki.ca, [], number=1, extensions=[idp([uri])])
    rest = make_crl(pki.ca, [], number=2, extensions=[idp([URI("http://ca.example/rest.crl")])])
    err = refused(pki.verifier(pki.revocation(full)), narrow)
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert accepted(pki.verifier(pki.revocation(full, rest)), both)


# -- (b)(1), §5.3.3: indirect CRLs ---------------------------------------------------------


def test_indirect_crl_from_a_dedicated_crl_issuer(pki: PKI) -> None:
    signer = crl_signer(pki.root, "indirect crl issuer")
    dp = [point([URI("http://ca.example/indirect.crl")], crl_issuer=signer.cert.subject)]
    leaf, revoked = issue(pki.ca, "leaf", points=dp), issue(pki.ca, "revoked", points=dp)
    other_ca = pki.root.intermediate("another ca")
    crl = make_crl(
        pki.ca,
        issuer_name=signer.cert.subject,
        signing_key=signer.key,
        extensions=[idp([URI("http://ca.example/indirect.crl")], indirect=True)],
        entries=[
            # the leaf's serial, but for another CA: must not revoke our leaf
            entry(leaf.cert.serial_number, certificate_issuer=other_ca.cert.subject),
            entry(revoked.cert.serial_number, certificate_issuer=pki.ca.cert.subject),
        ],
    )
    v = pki.verifier(pki.revocation(crl, crl_signers=[signer.cert]))
    assert accepted(v, leaf)
    assert refused(v, revoked).reason is Reason.REVOKED
    # Negative: without the signer certificate, nothing is proven.
    err = refused(pki.verifier(pki.revocation(crl)), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN


def test_indirect_crl_needs_the_indirect_flag_and_a_crl_issuer_in_the_dp(pki: PKI) -> None:
    signer = crl_signer(pki.root, "indirect crl issuer")
    plain_dp = issue(pki.ca, "plain", points=[point([URI("http://ca.example/indirect.crl")])])
    named = [point([URI("http://ca.example/indirect.crl")], crl_issuer=signer.cert.subject)]
    leaf = issue(pki.ca, "leaf", points=named)
    indirect = make_crl(
        pki.ca,
        issuer_name=signer.cert.subject,
        signing_key=signer.key,
        extensions=[idp([URI("http://ca.example/indirect.crl")], indirect=True)],
    )
    direct = make_crl(
        pki.ca,
        issuer_name=signer.cert.subject,
        signing_key=signer.key,
        extensions=[idp([URI("http://ca.example/indirect.crl")])],
    )
    v = pki.verifier(pki.revocation(indirect, crl_signers=[signer.cert]))
    assert accepted(v, leaf)
    assert refused(v, plain_dp).reason is Reason.REVOCATION_UNKNOWN  # DP names no cRLIssuer
    err = refused(pki.verifier(pki.revocation(direct, crl_signers=[signer.cert])), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN and "not indirect" in err.detail


# -- (f)-(g): the CRL issuer's own path ----------------------------------------------------


def test_key_rollover_crl_signed_with_the_new_key(pki: PKI) -> None:
    leaf, revoked = issue(pki.ca, "leaf"), issue(pki.ca, "revoked")
    new_ca = pki.root.intermediate(subject=pki.ca.cert.subject)
    crl = make_crl(pki.ca, [revoked.cert.serial_number], signing_key=new_ca.key)
    v = pki.verifier(pki.revocation(crl, crl_signers=[new_ca.cert]))
    assert accepted(v, leaf)
    assert refused(v, revoked).reason is Reason.REVOKED
    err = refused(pki.verifier(pki.revocation(crl)), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN


def test_crl_signer_must_chain_to_the_same_anchor(pki: PKI) -> None:
    leaf = issue(pki.ca, "leaf")
    elsewhere = CertificateAuthority.root_ca("rfc5280 root")  # same name, other key
    impostor = elsewhere.intermediate(subject=pki.ca.cert.subject)
    crl = make_crl(pki.ca, [], signing_key=impostor.key)
    err = refused(pki.verifier(pki.revocation(crl, crl_signers=[impostor.cert])), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "does not chain to the path's trust anchor" in err.detail


def test_crl_signer_needs_crl_sign(pki: PKI) -> None:
    leaf = issue(pki.ca, "leaf")
    for crl_sign, ok in ((True, True), (False, False)):
        signer = crl_signer(pki.ca, pki.ca.cert.subject, crl_sign=crl_sign)
        crl = make_crl(pki.ca, [], signing_key=signer.key)
        v = pki.verifier(pki.revocation(crl, crl_signers=[signer.cert]))
        if ok:
            assert accepted(v, leaf)
        else:
            err = refused(v, leaf)
            assert err.reason is Reason.REVOCATION_UNKNOWN and "cRLSign" in err.detail


def test_revoked_crl_signer_voids_its_crls(pki: PKI) -> None:
    leaf = issue(pki.ca, "leaf")
    signer = crl_signer(pki.ca, pki.ca.cert.subject)
    by_signer = make_crl(pki.ca, [], number=2, signing_key=signer.key)
    # The CA's own CRL lists the signer; it covers only some reasons, so it cannot vouch for
    # the leaf by itself.
    by_ca = make_crl(pki.ca, [signer.cert.serial_number], number=1, extensions=[idp(reasons=SOME)])
    root_crl = make_crl(pki.root, [])
    assert accepted(pki.verifier(pki.revocation(by_signer, crl_signers=[signer.cert])), leaf)
    err = refused(pki.verifier(pki.revocation(by_signer, by_ca, crl_signers=[signer.cert])), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "CRL signer certificate revoked" in err.detail
    # Chain scope: the signer's own status must be established, like an intermediate's.
    v = pki.verifier(pki.revocation(by_signer, root_crl, crl_signers=[signer.cert], scope="chain"))
    err = refused(v, leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "CRL signer certificate's revocation status unknown" in err.detail


# -- (a), §5.2.4: freshness and delta CRLs -------------------------------------------------


def test_delta_crl_adds_revocations_to_its_base(pki: PKI) -> None:
    leaf, revoked = issue(pki.ca, "leaf"), issue(pki.ca, "revoked")
    base = make_crl(pki.ca, [], number=10)
    d = make_crl(pki.ca, [revoked.cert.serial_number], number=11, extensions=[delta(10)])
    v = pki.verifier(pki.revocation(base, d))
    assert accepted(v, leaf)
    assert refused(v, revoked).reason is Reason.REVOKED
    # Negative: a delta for a newer base than the complete CRL we hold does not apply.
    newer = make_crl(pki.ca, [revoked.cert.serial_number], number=13, extensions=[delta(12)])
    assert accepted(pki.verifier(pki.revocation(base, newer)), revoked)


def test_delta_remove_from_crl_releases_a_hold(pki: PKI) -> None:
    held = issue(pki.ca, "held")
    base = make_crl(pki.ca, number=20, entries=[entry(held.cert.serial_number, R.certificate_hold)])
    release = make_crl(
        pki.ca,
        number=21,
        extensions=[delta(20)],
        entries=[entry(held.cert.serial_number, R.remove_from_crl)],
    )
    assert refused(pki.verifier(pki.revocation(base)), held).reason is Reason.REVOKED
    assert accepted(pki.verifier(pki.revocation(base, release)), held)


def test_current_delta_keeps_a_stale_base_usable(pki: PKI) -> None:
    leaf = issue(pki.ca, "leaf")
    stale = make_crl(pki.ca, [], number=30, this_update=NOW - 3 * DAY, next_update=NOW - DAY)
    current = make_crl(pki.ca, [], number=31, extensions=[delta(30)])
    assert accepted(pki.verifier(pki.revocation(stale, current)), leaf)
    err = refused(pki.verifier(pki.revocation(stale)), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN and "expired at" in err.detail
    alone = refused(pki.verifier(pki.revocation(current)), leaf)  # a delta without its base
    assert alone.reason is Reason.REVOCATION_UNKNOWN


def test_delta_signed_by_another_key_is_ignored(pki: PKI) -> None:
    revoked = issue(pki.ca, "revoked")
    base = make_crl(pki.ca, [], number=40)
    forged = make_crl(
        pki.ca,
        [revoked.cert.serial_number],
        number=41,
        extensions=[delta(40)],
        signing_key=CertificateAuthority.root_ca("x").key,
        aki=False,
    )
    assert accepted(pki.verifier(pki.revocation(base, forged)), revoked)


def test_this_update_within_clock_skew(pki: PKI) -> None:
    leaf = issue(pki.ca, "leaf")
    soon = make_crl(pki.ca, [], this_update=NOW + 0.5 * HOUR, next_update=NOW + DAY)
    assert accepted(pki.verifier(pki.revocation(soon, clock_skew=3600)), leaf)
    err = refused(pki.verifier(pki.revocation(soon, clock_skew=60)), leaf)
    assert err.reason is Reason.REVOCATION_UNKNOWN and "not valid before" in err.detail


def test_crl_signers_from_settings(pki: PKI, tmp_path: Path) -> None:
    leaf = issue(pki.ca, "leaf")
    new_ca = pki.root.intermediate(subject=pki.ca.cert.subject)
    signer_file = tmp_path / "signers.pem"
    signer_file.write_bytes(cert_pem(new_ca.cert))
    crl_url = pki.server.serve("/rolled.crl", der(make_crl(pki.ca, [], signing_key=new_ca.key)))
    settings = {"revocation": "hard", "crl_urls": crl_url, "crl_signers": str(signer_file)}
    revocation = Revocation.from_settings(settings)
    assert revocation is not None
    try:
        assert accepted(pki.verifier(revocation), leaf)
    finally:
        revocation.close()
    for bad, message in ((tmp_path / "missing.pem", "No such file"), (tmp_path, "Is a directory")):
        with pytest.raises(ConfigurationError, match=message):
            Revocation(crl_signers=[bad])
    with pytest.raises(ConfigurationError, match="no certificate in it"):
        Revocation(crl_signers=[b"-----BEGIN NOTHING-----"])
