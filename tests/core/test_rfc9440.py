"""RFC 9440 / RFC 8941 decoding: strict, with a reason for every refusal."""

from __future__ import annotations

import base64
import contextlib

import http_sf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from originverify import HeaderList, Limits, Reason, VerificationError, WSGIHeaders, formats
from originverify.formats.sfbinary import parse_item, parse_list, serialize_item, serialize_list
from tests.conftest import PKI

FMT = formats.CLOUDFRONT_PASSTHROUGH
LIMITS = Limits()


def decode(pairs: list[tuple[str, str]], limits: Limits = LIMITS) -> formats.ForwardedCertificate:
    return FMT.decode(HeaderList(pairs), limits)


def reason_of(pairs: list[tuple[str, str]], limits: Limits = LIMITS) -> Reason:
    with pytest.raises(VerificationError) as info:
        decode(pairs, limits)
    return info.value.reason


def test_leaf_and_chain_decode_to_der(pki: PKI) -> None:
    got = decode(
        [
            ("Client-Cert", serialize_item(pki.leaf.der)),
            ("Client-Cert-Chain", serialize_list(pki.leaf.chain_der)),
        ]
    )
    assert got.leaf == pki.leaf.der
    assert got.chain == pki.leaf.chain_der


def test_chain_split_over_field_lines_keeps_order(pki: PKI) -> None:
    a, b = b"first-der", b"second-der"
    got = decode(
        [
            ("Client-Cert", serialize_item(pki.leaf.der)),
            ("Client-Cert-Chain", serialize_item(a)),
            ("Client-Cert-Chain", serialize_item(b)),
        ]
    )
    assert got.chain == (a, b)


def test_no_headers_means_no_certificate() -> None:
    assert decode([]).leaf is None


def test_missing_padding_is_synthesised() -> None:
    unpadded = base64.b64encode(b"ab").decode().rstrip("=")
    assert parse_item(f":{unpadded}:", "x") == b"ab"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("YWJj", "must start with ':'"),
        (":YWJj", "missing closing ':'"),
        ("YWJj:", "must start with ':'"),
        (":YW Jj:", "not standard base64"),
        (":YW\tJj:", "not standard base64"),
        (":YW-j:", "not standard base64"),
        (":YW_j:", "not standard base64"),
        (":YWJj:garbage", "trailing data"),
        (":YWJj:;a=1", "parameters"),
        (":YWJj:, :YWJj:", "a list where one certificate is allowed"),
        ("::", "empty byte sequence"),
        ("", "empty value"),
        (":Y:", "truncated"),
        (":YW=j:", "padding in the middle"),
        ("-----BEGIN CERTIFICATE-----", "looks like PEM"),
    ],
)
def test_malformed_leaf_is_refused_with_a_reason(value: str, fragment: str) -> None:
    with pytest.raises(VerificationError) as info:
        decode([("Client-Cert", value)])
    assert info.value.reason is Reason.MALFORMED_HEADER
    assert fragment in info.value.detail


def test_duplicate_client_cert_is_refused(pki: PKI) -> None:
    item = serialize_item(pki.leaf.der)
    assert reason_of([("Client-Cert", item), ("Client-Cert", item)]) is Reason.DUPLICATE_HEADER


def test_comma_joined_duplicate_from_wsgi_is_refused(pki: PKI) -> None:
    item = serialize_item(pki.leaf.der)
    environ = {"HTTP_CLIENT_CERT": f"{item},{item}"}  # how gunicorn/wsgiref join duplicates
    with pytest.raises(VerificationError) as info:
        FMT.decode(WSGIHeaders(environ), LIMITS)
    assert info.value.reason is Reason.MALFORMED_HEADER


def test_chain_without_leaf_is_refused(pki: PKI) -> None:
    pairs = [("Client-Cert-Chain", serialize_list(pki.leaf.chain_der))]
    assert reason_of(pairs) is Reason.CHAIN_WITHOUT_LEAF


def test_oversized_leaf_is_refused_before_decoding() -> None:
    big = ":" + "A" * 20000 + ":"
    assert reason_of([("Client-Cert", big)]) is Reason.HEADER_TOO_LARGE


def test_oversized_chain_is_refused(pki: PKI) -> None:
    item = serialize_item(pki.leaf.der)
    limits = Limits(max_chain_bytes=100)
    pairs = [("Client-Cert", item), ("Client-Cert-Chain", serialize_list(pki.leaf.chain_der))]
    assert reason_of(pairs, limits) is Reason.HEADER_TOO_LARGE


def test_too_many_chain_members_refused_before_decoding(pki: PKI) -> None:
    item = serialize_item(pki.leaf.der)
    chain = ", ".join([":AAAA:"] * 6)
    assert reason_of([("Client-Cert", item), ("Client-Cert-Chain", chain)]) is Reason.CHAIN_TOO_LONG


@pytest.mark.parametrize("chain", [":AAAA:,", ",:AAAA:", ":AAAA:,,:AAAA:", ":AAAA: :AAAA:"])
def test_malformed_chain_lists_are_refused(pki: PKI, chain: str) -> None:
    pairs = [("Client-Cert", serialize_item(pki.leaf.der)), ("Client-Cert-Chain", chain)]
    assert reason_of(pairs) is Reason.MALFORMED_HEADER


def test_empty_chain_header_is_an_empty_list(pki: PKI) -> None:
    got = decode([("Client-Cert", serialize_item(pki.leaf.der)), ("Client-Cert-Chain", "")])
    assert got.chain == ()


def test_renamed_headers_are_read_and_defaults_ignored(pki: PKI) -> None:
    fmt = formats.cloudfront_passthrough(cert="X-Client-Cert", chain="X-Client-Chain")
    headers = HeaderList(
        [("X-Client-Cert", serialize_item(pki.leaf.der)), ("Client-Cert", ":AAAA:")]
    )
    assert fmt.decode(headers, LIMITS).leaf == pki.leaf.der
    assert "x-client-cert" in [h.lower() for h in fmt.header_names]


def test_cloudfront_claims_are_decoded(pki: PKI) -> None:
    serial = pki.leaf.cert.serial_number
    colon_serial = ":".join(f"{b:02x}" for b in serial.to_bytes((serial.bit_length() + 7) // 8))
    got = decode(
        [
            ("Client-Cert", serialize_item(pki.leaf.der)),
            ("CloudFront-Viewer-Cert-Present", "1"),
            ("CloudFront-Viewer-Cert-Sha256", "ab" * 32),
            ("CloudFront-Viewer-Cert-Serial-Number", colon_serial),
            (
                "CloudFront-Viewer-Cert-Validity",
                "NotBefore=2023-09-21T01:50:17Z;NotAfter=2024-09-20T01:50:17Z",
            ),
        ]
    )
    assert got.claims.present is True
    assert got.claims.sha256 == bytes.fromhex("ab" * 32)
    assert got.claims.serial == serial
    assert got.claims.not_after is not None and got.claims.not_after.year == 2024


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("CloudFront-Viewer-Cert-Present", "yes"),
        ("CloudFront-Viewer-Cert-Sha256", "abc"),
        ("CloudFront-Viewer-Cert-Serial-Number", "zz:11"),
        ("CloudFront-Viewer-Cert-Validity", "NotBefore=x"),
    ],
)
def test_malformed_claims_are_refused(pki: PKI, header: str, value: str) -> None:
    pairs = [("Client-Cert", serialize_item(pki.leaf.der)), (header, value)]
    assert reason_of(pairs) is Reason.MALFORMED_HEADER


# -- the oracle: http-sf, an independent RFC 8941 implementation ------------------------------

sf_text = st.text(alphabet=st.sampled_from(list(':=+/ ,;\tAaZz09-_"?*')), max_size=40)


def _oracle_item(value: str) -> bytes | None:
    try:
        parsed = http_sf.parse(value.encode("latin-1"), tltype="item")
    except Exception:
        return None
    item, params = parsed
    return item if isinstance(item, bytes) and not params else None


@settings(max_examples=600, deadline=None)
@given(st.one_of(sf_text, st.binary(max_size=60).map(lambda b: serialize_item(b))))
def test_item_parser_accepts_only_what_http_sf_accepts(value: str) -> None:
    try:
        ours = parse_item(value.strip(" \t"), "x")
    except VerificationError as exc:
        assert exc.reason is Reason.MALFORMED_HEADER
        return
    assert _oracle_item(value) == ours


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
def test_list_round_trip_matches_http_sf(members: list[bytes]) -> None:
    text = serialize_list(members)
    assert parse_list(text, "x") == members
    oracle = http_sf.parse(text.encode(), tltype="list") if text else []
    assert [m[0] for m in oracle] == members


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "Client-Cert",
                    "Client-Cert-Chain",
                    "client_cert",
                    "CloudFront-Viewer-Cert-Present",
                    "X",
                ]
            ),
            st.text(max_size=80),
        ),
        max_size=6,
    )
)
def test_decoder_never_raises_anything_but_our_error(pairs: list[tuple[str, str]]) -> None:
    with contextlib.suppress(VerificationError):
        decode(pairs)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_valid_headers_yield_a_verdict_or_our_error(pki: PKI, data: st.DataObject) -> None:
    value = serialize_item(pki.leaf.der)
    position = data.draw(st.integers(0, len(value) - 1))
    replacement = data.draw(st.text(max_size=3))
    mutated = value[:position] + replacement + value[position + 1 :]
    try:
        got = decode([("Client-Cert", mutated)])
    except VerificationError:
        return
    assert got.leaf is not None
