"""The classes behind the review's three fail-opens, exhaustively over small matrices:

* scope: for every form of distribution point in the certificate and every form of
  issuingDistributionPoint in the CRL, the certificate is accepted (hard mode) exactly when
  RFC 5280 §6.3.3 (b)(2)(i) says the CRL covers it;
* fall-back: whatever makes the covering CRL unusable, another valid CRL that does not
  cover the certificate (another partition, other reasons, CA-only) never vouches for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from originverify import Reason, VerificationError
from originverify.devpki import CertificateAuthority
from originverify.revocation import Revocation
from tests.conftest import passthrough_headers
from tests.revocation.conftest import verifier
from tests.revocation.pkitools import (
    DAY,
    NOW,
    RevocationServer,
    der,
    idp,
    issue,
    make_crl,
    point,
)

ROOT = CertificateAuthority.root_ca("class root")
CA = ROOT.intermediate("class ca")
URI = x509.UniformResourceIdentifier


def _rdn(text: str) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _under_ca(text: str) -> x509.DirectoryName:
    return x509.DirectoryName(x509.Name([*CA.cert.subject.rdns, _rdn(text)]))


# name forms: (label, DP for the certificate, IDP extension for the CRL); the "key" says
# which forms denote the same name (a relative name is CA subject + RDN).
FORMS: list[tuple[str, str, x509.DistributionPoint | None, object]] = [
    ("uri-a", "A", point([URI("http://ca.example/a.crl")]), idp([URI("http://ca.example/a.crl")])),
    ("uri-b", "B", point([URI("http://ca.example/b.crl")]), idp([URI("http://ca.example/b.crl")])),
    ("dn-a", "DA", point([_under_ca("a")]), idp([_under_ca("a")])),
    ("relative-a", "DA", point(relative=_rdn("a")), idp(relative=_rdn("a"))),
    ("relative-b", "DB", point(relative=_rdn("b")), idp(relative=_rdn("b"))),
    (
        "email",
        "E",
        point([x509.RFC822Name("crl@ca.example")]),
        idp([x509.RFC822Name("crl@ca.example")]),
    ),
    ("dns", "N", point([x509.DNSName("crl.ca.example")]), idp([x509.DNSName("crl.ca.example")])),
    ("none", "-", None, None),  # no CRLDP in the certificate / a complete CRL
]


@pytest.fixture(scope="module")
def http() -> Iterator[RevocationServer]:
    server = RevocationServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("cert_form", FORMS, ids=[f[0] for f in FORMS])
@pytest.mark.parametrize("crl_form", FORMS, ids=[f[0] for f in FORMS])
def test_scope_matrix(http: RevocationServer, cert_form: tuple, crl_form: tuple) -> None:  # type: ignore[type-arg]
    cert_label, cert_key, dp, _ = cert_form
    crl_label, crl_key, _, ext = crl_form
    leaf = issue(CA, f"{cert_label} vs {crl_label}", points=None if dp is None else [dp])
    crl = make_crl(CA, [], extensions=[] if ext is None else [ext])  # type: ignore[list-item]
    url = http.serve(f"/{cert_label}-{crl_label}.crl", der(crl))
    v = verifier(ROOT, Revocation(crl_urls=[url]))
    covered = crl_key == "-" or crl_key == cert_key  # complete CRL, or the same name
    if covered:
        assert v.verify_request(passthrough_headers(leaf)) is not None
    else:
        with pytest.raises(VerificationError) as info:
            v.verify_request(passthrough_headers(leaf))
        assert info.value.reason is Reason.REVOCATION_UNKNOWN


OTHER_KEY = CertificateAuthority.root_ca("class ca")  # same name as CA, another key
P1, P2 = URI("http://ca.example/p1.crl"), URI("http://ca.example/p2.crl")
Breaker = Callable[[int], x509.CertificateRevocationList]
BROKEN: dict[str, Breaker] = {
    "new key, no signer": lambda serial: make_crl(
        CA, [serial], signing_key=OTHER_KEY.key, extensions=[idp([P1])]
    ),
    "forged, issuer's AKI": lambda serial: make_crl(
        CA, [serial], signing_key=OTHER_KEY.key, aki=False, extensions=[idp([P1])]
    ),
    "expired": lambda serial: make_crl(
        CA, [], extensions=[idp([P1])], this_update=NOW - 3 * DAY, next_update=NOW - DAY
    ),
    "absent": lambda serial: make_crl(
        CA, [], extensions=[idp([URI("http://ca.example/unrelated.crl")])]
    ),
}
UNRELATED: dict[str, x509.CertificateRevocationList] = {
    "other partition": make_crl(CA, [], number=5, extensions=[idp([P2])]),
    "some reasons only": make_crl(
        CA,
        [],
        number=6,
        extensions=[idp([P1], reasons=frozenset({x509.ReasonFlags.key_compromise}))],
    ),
    "CA certificates only": make_crl(CA, [], number=7, extensions=[idp([P1], only_ca=True)]),
    "another CA's complete CRL": make_crl(ROOT, [], number=8),
}


@pytest.mark.parametrize("broken", BROKEN, ids=list(BROKEN))
@pytest.mark.parametrize("unrelated", UNRELATED, ids=list(UNRELATED))
def test_no_fall_back_to_a_crl_that_does_not_cover(
    http: RevocationServer, broken: str, unrelated: str
) -> None:
    leaf = issue(CA, "p1 device", points=[point([P1])])
    urls = [
        http.serve(
            f"/b-{broken}-{unrelated}.crl".replace(" ", "_"),
            der(BROKEN[broken](leaf.cert.serial_number)),
        ),
        http.serve(f"/u-{broken}-{unrelated}.crl".replace(" ", "_"), der(UNRELATED[unrelated])),
    ]
    for mode in ("hard", "soft"):
        v = verifier(ROOT, Revocation(crl_urls=urls, mode=mode))  # type: ignore[arg-type]
        if mode == "hard":
            with pytest.raises(VerificationError) as info:
                v.verify_request(passthrough_headers(leaf))
            assert info.value.reason is Reason.REVOCATION_UNKNOWN
        else:
            report = v.explain(passthrough_headers(leaf))
            step = next(s for s in report.steps if s.name == "revocation")
            assert "unknown, accepted (soft-fail" in step.detail
