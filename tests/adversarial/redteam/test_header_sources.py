"""Header hygiene through every explicit header source: the request never chooses its own
parser, and every field line a mapping still holds stays visible (duplicates refused)."""

from __future__ import annotations

import pytest
from django.http.request import HttpHeaders
from multidict import CIMultiDict, CIMultiDictProxy
from starlette.datastructures import Headers as StarletteHeaders
from werkzeug.datastructures import Headers as WerkzeugHeaders

from originverify import Reason, TrustedProxies, VerificationError, Verifier
from originverify.formats import cloudfront_passthrough
from originverify.formats.sfbinary import serialize_item, serialize_list
from originverify.headers import from_environ, from_mapping, from_pairs

from .kit import SECRET, SECRET_HEADER, RedPKI, make_pki, pairs, verifier


@pytest.fixture(scope="module")
def pki() -> RedPKI:
    return make_pki()


def refused(v: Verifier, headers: object, peer: str | None = None) -> Reason:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers, peer)  # type: ignore[arg-type]
    return info.value.reason


def _forged(pki: RedPKI) -> str:
    return serialize_item(pki.bob.der)


def test_aiohttp_multidict_duplicate_client_cert(pki: RedPKI) -> None:
    md = CIMultiDict(pairs(pki.alice))
    md.add("client-cert", _forged(pki))
    assert refused(verifier(pki), from_mapping(CIMultiDictProxy(md))) is Reason.DUPLICATE_HEADER


def test_multidict_passed_bare_keeps_duplicates(pki: RedPKI) -> None:
    md = CIMultiDict(pairs(pki.alice))
    md.add("Client-Cert", _forged(pki))
    assert refused(verifier(pki), CIMultiDictProxy(md)) is Reason.DUPLICATE_HEADER


def test_multidict_duplicate_secret(pki: RedPKI) -> None:
    md = CIMultiDict(pairs(pki.alice))
    md.add(SECRET_HEADER.upper(), SECRET)
    assert refused(verifier(pki), md) is Reason.DUPLICATE_HEADER


def test_werkzeug_headers_duplicate(pki: RedPKI) -> None:
    headers = WerkzeugHeaders(pairs(pki.alice))
    headers.add("Client-Cert", _forged(pki))
    assert refused(verifier(pki), from_mapping(headers)) is Reason.DUPLICATE_HEADER


def test_starlette_headers_duplicate(pki: RedPKI) -> None:
    raw = [(n.lower().encode(), v.encode()) for n, v in pairs(pki.alice)]
    raw.append((b"client-cert", _forged(pki).encode()))
    assert (
        refused(verifier(pki), from_mapping(StarletteHeaders(raw=raw))) is Reason.DUPLICATE_HEADER
    )


def test_dict_with_list_value(pki: RedPKI) -> None:
    headers = dict(pairs(pki.alice))
    headers["Client-Cert"] = [headers["Client-Cert"], _forged(pki)]  # type: ignore[assignment]
    assert refused(verifier(pki), headers) is Reason.DUPLICATE_HEADER


def test_dict_with_two_case_spellings(pki: RedPKI) -> None:
    headers = dict(pairs(pki.alice))
    headers["client-cert"] = _forged(pki)
    assert refused(verifier(pki), headers) is Reason.DUPLICATE_HEADER


def test_django_headers_comma_joined_duplicate(pki: RedPKI) -> None:
    meta = {
        "HTTP_X_ORIGIN_VERIFY": SECRET,
        "HTTP_CLIENT_CERT": f"{serialize_item(pki.alice.der)}, {_forged(pki)}",
    }
    assert refused(verifier(pki), from_mapping(HttpHeaders(meta))) is Reason.MALFORMED_HEADER


def test_environ_key_in_a_mapping_is_not_a_header(pki: RedPKI) -> None:
    """The old sniffing defect: an ``HTTP_CLIENT_CERT`` key chose the environ parser."""
    v = verifier(pki, source=TrustedProxies(["127.0.0.1/32"]), mode="required")
    headers = {"HTTP_CLIENT_CERT": serialize_item(pki.alice.der)}
    assert refused(v, headers, "127.0.0.1") is Reason.MISSING_CERTIFICATE


def test_environ_style_key_cannot_replace_the_edge_header(pki: RedPKI) -> None:
    v = verifier(pki, source=TrustedProxies(["127.0.0.1/32"]))
    headers = dict(pairs(pki.alice, secret=None))
    headers["HTTP_CLIENT_CERT"] = _forged(pki)
    identity = v.verify_request(CIMultiDict(headers), "127.0.0.1")
    assert identity is not None and identity.common_name == "alice"


def test_environ_dict_passed_without_from_environ_is_not_read(pki: RedPKI) -> None:
    environ = {"HTTP_X_ORIGIN_VERIFY": SECRET, "HTTP_CLIENT_CERT": serialize_item(pki.alice.der)}
    assert refused(verifier(pki), environ) is Reason.EDGE_SECRET_MISSING


def test_underscore_claim_header(pki: RedPKI) -> None:
    v = verifier(pki, format=cloudfront_passthrough())
    lines = pairs(pki.alice, extra=[("CloudFront_Viewer_Cert_Present", "1")])
    assert refused(v, from_pairs(lines)) is Reason.AMBIGUOUS_HEADER_NAME


def test_underscore_chain_header(pki: RedPKI) -> None:
    lines = pairs(pki.alice, extra=[("Client_Cert_Chain", serialize_list(list(pki.bob.chain_der)))])
    assert refused(verifier(pki), lines) is Reason.AMBIGUOUS_HEADER_NAME


def test_underscore_secret_beside_the_real_one(pki: RedPKI) -> None:
    lines = pairs(pki.alice, extra=[("X_Origin_Verify", "forged-secret-0123456789")])
    assert refused(verifier(pki), lines) is Reason.AMBIGUOUS_HEADER_NAME


def test_mixed_underscore_and_dash(pki: RedPKI) -> None:
    lines = pairs(pki.alice, extra=[("client_cert-chain", "x")])
    assert refused(verifier(pki), lines) is Reason.AMBIGUOUS_HEADER_NAME


@pytest.mark.parametrize(
    "value",
    ["\u2028:AAAA:", ":AAAA:\x00", ":AA\u00ffAA:", "", "   ", ":" * 3, "?1", ":AAAA:, :BBBB:"],
)
def test_hostile_client_cert_values_under_every_source(pki: RedPKI, value: str) -> None:
    v = verifier(pki)
    environ = {"HTTP_X_ORIGIN_VERIFY": SECRET, "HTTP_CLIENT_CERT": value}
    for headers in (
        from_environ(environ),
        from_pairs([(SECRET_HEADER, SECRET), ("Client-Cert", value)]),
        from_pairs(
            [(SECRET_HEADER.encode(), SECRET.encode()), (b"client-cert", value.encode("utf-8"))]
        ),
        from_mapping({SECRET_HEADER: SECRET, "Client-Cert": value}),
    ):
        assert refused(v, headers) is Reason.MALFORMED_HEADER


@pytest.mark.parametrize("value", [None, 12345, b"\xff\xfe"])
def test_non_text_values_in_a_mapping(pki: RedPKI, value: object) -> None:
    headers = {SECRET_HEADER: SECRET, "Client-Cert": value}
    assert refused(verifier(pki), headers) is Reason.MALFORMED_HEADER


def test_chain_lines_stuffed_past_the_cap(pki: RedPKI) -> None:
    member = serialize_item(pki.alice.chain_der[0])
    lines = pairs(pki.alice, ()) + [("Client-Cert-Chain", member)] * 6
    assert refused(verifier(pki), lines) is Reason.CHAIN_TOO_LONG


def test_chain_with_empty_member(pki: RedPKI) -> None:
    member = serialize_item(pki.alice.chain_der[0])
    lines = pairs(pki.alice, ()) + [("Client-Cert-Chain", f"{member},,{member}")]
    assert refused(verifier(pki), lines) is Reason.MALFORMED_HEADER


def test_secret_with_control_character_suffix(pki: RedPKI) -> None:
    assert refused(verifier(pki), pairs(pki.alice, secret=SECRET + "\x00")) is (
        Reason.EDGE_SECRET_MISMATCH
    )


def test_secret_not_latin1(pki: RedPKI) -> None:
    assert refused(verifier(pki), pairs(pki.alice, secret=SECRET + "\u2603")) is (
        Reason.EDGE_SECRET_MISMATCH
    )


def test_trusted_proxy_peer_spellings(pki: RedPKI) -> None:
    v = verifier(pki, source=TrustedProxies(["10.0.0.0/8"]))
    lines = pairs(pki.alice, secret=None)
    for peer in ("10.0.0.1%eth0x", "::ffff:11.0.0.1", "10.0.0.1 ", "0x0a000001", "", "[::1]"):
        assert refused(v, lines, peer) is Reason.PROXY_NOT_TRUSTED, peer
    assert v.verify_request(lines, "::ffff:10.1.2.3") is not None
