"""Edge formats under attack: each reads only the headers it names (so they are guarded,
stripped and in the cache key), XFCC element and claim tricks, ALB chains carrying a forged
root."""

from __future__ import annotations

import contextlib
import hashlib
import urllib.parse

import pytest
from cryptography import x509

from originverify import Reason, VerificationError, Verifier
from originverify.devpki import CertificateAuthority, Issued, cert_pem
from originverify.errors import VerificationError as _VE
from originverify.formats import PRESETS, Limits, envoy_xfcc
from originverify.headers import HeaderList

from .kit import SECRET, SECRET_HEADER, RedPKI, make_pki, verifier


@pytest.fixture(scope="module")
def pki() -> RedPKI:
    return make_pki()


def refused(v: Verifier, headers: object) -> Reason:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)  # type: ignore[arg-type]
    return info.value.reason


class _Spy(HeaderList):
    """Records every header name a format asks for."""

    __slots__ = ("asked", "value")

    def __init__(self, value: str | None) -> None:
        super().__init__([])
        self.asked: set[str] = set()
        self.value = value

    def get_all(self, name: str) -> list[str]:
        self.asked.add(name.lower())
        return [] if self.value is None else [self.value]


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("value", [None, "x", ":AAAA:", "1"])
def test_every_format_reads_only_what_it_names(name: str, value: str | None) -> None:
    fmt = PRESETS[name]
    spy = _Spy(value)
    with contextlib.suppress(_VE):
        fmt.decode(spy, Limits())
    assert spy.asked <= {h.lower() for h in fmt.header_names}


def _url_pem(*issued: Issued | x509.Certificate | bytes) -> str:
    text = b"".join(
        i if isinstance(i, bytes) else cert_pem(i.cert if isinstance(i, Issued) else i)
        for i in issued
    )
    return urllib.parse.quote(text.decode(), safe="")


def _xfcc(pki: RedPKI, element: str, **options: object) -> Verifier:
    return verifier(pki, format=envoy_xfcc(element=element, **options))  # type: ignore[arg-type]


def test_xfcc_second_element_refused_when_only_one_is_allowed(pki: RedPKI) -> None:
    value = f"By=spiffe://e/a;Cert={_url_pem(pki.alice)},By=spiffe://e/b;Cert={_url_pem(pki.bob)}"
    headers = [(SECRET_HEADER, SECRET), ("x-forwarded-client-cert", value)]
    assert refused(_xfcc(pki, "only"), headers) is Reason.MALFORMED_HEADER


def test_xfcc_element_for_another_proxy(pki: RedPKI) -> None:
    value = f"By=spiffe://evil/proxy;Cert={_url_pem(pki.alice)}"
    headers = [(SECRET_HEADER, SECRET), ("x-forwarded-client-cert", value)]
    v = _xfcc(pki, "last", expected_by=("spiffe://example.org/origin",))
    assert refused(v, headers) is Reason.EDGE_MISMATCH


def test_xfcc_hash_of_another_certificate(pki: RedPKI) -> None:
    value = f"Hash={hashlib.sha256(pki.bob.der).hexdigest()};Cert={_url_pem(pki.alice)}"
    chain = f";Chain={_url_pem(pki.alice, *pki.alice.intermediates)}"
    headers = [(SECRET_HEADER, SECRET), ("x-forwarded-client-cert", value + chain)]
    assert refused(_xfcc(pki, "only"), headers) is Reason.EDGE_MISMATCH


def test_xfcc_uri_claim_the_certificate_lacks(pki: RedPKI) -> None:
    chain = _url_pem(pki.alice, *pki.alice.intermediates)
    value = f'URI=spiffe://example.org/admin/root;Chain="{chain}"'
    headers = [(SECRET_HEADER, SECRET), ("x-forwarded-client-cert", value)]
    assert refused(_xfcc(pki, "only"), headers) is Reason.EDGE_MISMATCH


def test_xfcc_chain_not_starting_with_cert(pki: RedPKI) -> None:
    value = f"Cert={_url_pem(pki.alice)};Chain={_url_pem(pki.bob, *pki.bob.intermediates)}"
    headers = [(SECRET_HEADER, SECRET), ("x-forwarded-client-cert", value)]
    assert refused(_xfcc(pki, "only"), headers) is Reason.EDGE_MISMATCH


def test_xfcc_duplicate_key_in_one_element(pki: RedPKI) -> None:
    value = f"Cert={_url_pem(pki.alice)};Cert={_url_pem(pki.bob)}"
    headers = [(SECRET_HEADER, SECRET), ("x-forwarded-client-cert", value)]
    assert refused(_xfcc(pki, "only"), headers) is Reason.MALFORMED_HEADER


def test_alb_chain_ending_in_a_forged_root(pki: RedPKI) -> None:
    """ALB forwards leaf→root as presented; a root the client made is never an anchor."""
    fake_root = CertificateAuthority.root_ca("redteam root")
    fake = fake_root.intermediate("redteam intermediate").issue("alice")
    value = _url_pem(fake, *fake.intermediates, cert_pem(fake_root.cert))
    headers = [(SECRET_HEADER, SECRET), ("X-Amzn-Mtls-Clientcert", value)]
    assert refused(verifier(pki, format="alb-passthrough"), headers) is Reason.UNTRUSTED_CHAIN


def test_alb_chain_with_our_root_appended_still_validates_only_to_our_anchor(pki: RedPKI) -> None:
    value = _url_pem(pki.alice, *pki.alice.intermediates, cert_pem(pki.root.cert))
    headers = [(SECRET_HEADER, SECRET), ("X-Amzn-Mtls-Clientcert", value)]
    identity = verifier(pki, format="alb-passthrough").verify_request(headers)
    assert identity is not None and identity.common_name == "alice"
