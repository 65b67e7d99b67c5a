"""Building blocks shared by the presets: percent decoding, PEM splitting with a block limit,
the claims table's absent values and composite claims, and the claim parsers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from originverify.errors import Reason, VerificationError
from originverify.formats import claims as c
from originverify.formats.base import Limits
from originverify.formats.claims import ClaimHeaders
from originverify.formats.encodings import (
    BASE64_DER_LIST,
    URL_PEM,
    URL_PEM_CHAIN,
    EncodedCertificate,
)
from originverify.formats.pem import percent_decode, split_pem
from tests.formats.edgewire import client, headers, pem

_VALID_ESCAPES = re.compile(r"[^%]*(?:%[0-9A-Fa-f]{2}[^%]*)*")


@given(st.text(alphabet=st.characters(max_codepoint=0xFF)))
def test_percent_decode_matches_a_path_decoder(text: str) -> None:
    encoded = quote(text.encode("latin-1"), safe="+/=")
    assert percent_decode(encoded, "x") == text
    assert "+" not in text or "+" in percent_decode(encoded, "x")


@given(st.text(alphabet="%0aAfFgG+ x2", max_size=20))
def test_percent_decode_valid_iff_every_percent_starts_an_escape(text: str) -> None:
    if _VALID_ESCAPES.fullmatch(text):
        assert percent_decode(text, "x") == unquote(text, encoding="latin-1")
    else:
        with pytest.raises(VerificationError) as info:
            percent_decode(text, "x")
        assert info.value.reason is Reason.MALFORMED_HEADER


def test_percent_decode_keeps_plus_and_decodes_once() -> None:
    assert percent_decode("a+b%2Bc", "x") == "a+b+c"
    assert percent_decode("%2541", "x") == "%41"


def test_split_pem_block_limit() -> None:
    one = pem(client().leaf)
    assert len(split_pem(one * 3, "x", max_blocks=3)) == 3
    with pytest.raises(VerificationError) as info:
        split_pem(one * 4, "x", max_blocks=3)
    assert info.value.reason is Reason.CHAIN_TOO_LONG
    # Counted before decoding: a broken extra block is never reached.
    with pytest.raises(VerificationError) as info:
        split_pem(one * 3 + one.replace("MII", "***"), "x", max_blocks=3)
    assert info.value.reason is Reason.CHAIN_TOO_LONG


def test_single_certificate_encodings_call_an_extra_block_malformed() -> None:
    """Even with one chain slot left, a second block in a leaf-only header is malformed,
    and a several-certificate header over the limit is too long (not malformed)."""
    one = quote(pem(client().leaf), safe="")
    with pytest.raises(VerificationError) as info:
        URL_PEM.decode(one + one.replace("MII", "~~~"), "x", 5)
    assert info.value.reason is Reason.MALFORMED_HEADER
    assert "one certificate" in info.value.detail
    with pytest.raises(VerificationError) as info:
        URL_PEM_CHAIN.decode(one * 2, "x", 1)
    assert info.value.reason is Reason.CHAIN_TOO_LONG


def test_encodings_name_what_they_saw() -> None:
    with pytest.raises(VerificationError, match="looks like an RFC 8941"):
        URL_PEM.decode(":AAAA:", "x", 1)
    with pytest.raises(VerificationError, match="cannot appear unescaped"):
        URL_PEM_CHAIN.decode("-----BEGIN%20CERTIFICATE-----%0A\x00", "x", 3)
    with pytest.raises(VerificationError, match="PEM"):
        BASE64_DER_LIST.decode("-----BEGIN CERTIFICATE-----", "x", 3)


def test_generic_format_chain_headers_share_the_count() -> None:
    c1 = client()
    fmt = EncodedCertificate(
        name="test",
        cert_header="A",
        encoding=URL_PEM_CHAIN,
        chain_headers=("B",),
        chain_encoding=URL_PEM_CHAIN,
    )
    leaf_and_one = quote(pem(c1.leaf) + pem(c1.chain[0]), safe="")
    rest = quote(pem(c1.chain[1]) + pem(c1.root), safe="")
    got = fmt.decode(headers(("A", leaf_and_one), ("B", rest)), Limits())
    assert got.chain == (c1.chain[0], c1.chain[1], c1.root)
    with pytest.raises(VerificationError) as info:
        fmt.decode(headers(("A", leaf_and_one), ("B", rest)), Limits(max_chain_certs=2))
    assert info.value.reason is Reason.CHAIN_TOO_LONG


# -- claims table ------------------------------------------------------------------------------


def _verdict(value: str) -> Mapping[str, bool]:
    return {"verified": value == "ok", "present": True}


def test_composite_claims_apply_after_direct_ones() -> None:
    table = ClaimHeaders(
        {"verdict": ("X-Verdict", _verdict), "verified": ("X-Verified", c.flag_true_false)}
    )
    claims = table.read(headers(("X-Verified", "true"), ("X-Verdict", "bad")), Limits())
    assert claims.verified is False
    assert claims.present is True
    assert claims.raw == (("X-Verdict", "bad"), ("X-Verified", "true"))


def test_absent_values_are_not_claims() -> None:
    table = ClaimHeaders({"serial": ("X-Serial", c.serial_hex)}, absent=frozenset({"(null)"}))
    assert not table.read(headers(("X-Serial", "(null)")), Limits())
    assert table.read(headers(("X-Serial", "0A")), Limits()).serial == 10
    assert table.renamed({"serial": "X-S"}).absent == frozenset({"(null)"})


def test_parser_errors_become_malformed_header() -> None:
    table = ClaimHeaders({"not_before": ("X-NB", c.unix_seconds)})
    with pytest.raises(VerificationError) as info:
        table.read(headers(("X-NB", "999999999999")), Limits())
    assert info.value.reason is Reason.MALFORMED_HEADER


@pytest.mark.parametrize(
    ("parser", "value", "expected"),
    [
        (c.openssl_time, "Sep 21 01:50:17 2023 GMT", datetime(2023, 9, 21, 1, 50, 17, tzinfo=UTC)),
        (c.openssl_time, "Sep  1 01:50:17 2023 GMT", datetime(2023, 9, 1, 1, 50, 17, tzinfo=UTC)),
        (c.rfc3339, "2022-07-01T18:05:09Z", datetime(2022, 7, 1, 18, 5, 9, tzinfo=UTC)),
        (
            c.rfc3339,
            "2022-07-01T18:05:09.123456789-01:00",
            datetime(2022, 7, 1, 19, 5, 9, tzinfo=UTC),
        ),
        (c.unix_seconds, "0", datetime(1970, 1, 1, tzinfo=UTC)),
        (c.serial_decimal, "0", 0),
        (c.serial_decimal, "340282366920938463463374607431768211455", 2**128 - 1),
        (c.sha256_hex_or_base64, "00" * 32, bytes(32)),
        (c.sha256_hex_or_base64, "A" * 43 + "=", bytes(32)),
    ],
)
def test_parsers_accept(parser: Callable[[str], object], value: str, expected: object) -> None:
    assert parser(value) == expected


@pytest.mark.parametrize(
    ("parser", "value"),
    [
        (c.openssl_time, "Sep 21 01:50:17 2023 UTC"),
        (c.openssl_time, "Sep 31 01:50:17 2023 GMT"),
        (c.openssl_time, "Sep 21 1:50:17 2023 GMT"),
        (c.rfc3339, "2022-07-01T18:05:09"),
        (c.rfc3339, "2022-07-01 18:05:09Z"),
        (c.rfc3339, "2022-13-01T18:05:09Z"),
        (c.unix_seconds, "-1"),
        (c.unix_seconds, "01"),
        (c.serial_decimal, "012"),
        (c.serial_decimal, "1e3"),
        (c.serial_decimal, "١٢"),
        (c.sha256_hex_or_base64, "00" * 31),
        (c.iso8601_z, "2024-01-01T00:00:00+01:00Z"),
    ],
)
def test_parsers_refuse(parser: Callable[[str], object], value: str) -> None:
    with pytest.raises(ValueError):
        parser(value)
