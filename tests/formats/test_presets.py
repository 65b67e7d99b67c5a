"""Properties every preset must have, whatever its edge.

* round trip: what the edge encodes, the preset decodes to the same DER, chain order kept;
* only ``VerificationError`` escapes ``decode``, on garbage and on mutations of valid headers;
* ``decode`` reads no header outside ``header_names`` (the verifier guards exactly those
  against underscore aliases, the adapters strip exactly those);
* every preset is reachable by name (``originverify check --format NAME``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from originverify import formats
from originverify.errors import VerificationError
from originverify.formats import PRESETS, CertificateFormat, ForwardedCertificate, Limits
from originverify.headers import HeaderList
from tests.formats.edgewire import CHAIN_CAPABLE, ENCODERS, METADATA_ONLY, client, rsa_client

LIMITS = Limits()
NAMES = sorted(PRESETS)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    if size < 0x100:
        return bytes([0x81, size])
    return bytes([0x82, size >> 8, size & 0xFF])


#: Stand-ins for certificates: any SEQUENCE. Decoders never parse DER beyond framing, so
#: arbitrary content exercises every byte value in every encoding.
der_blobs = st.binary(min_size=0, max_size=700).map(lambda p: b"\x30" + _der_length(len(p)) + p)


class RecordingHeaders:
    """A ``Headers`` view that remembers every name a decoder asked for."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._inner = HeaderList(list(pairs))
        self.asked: set[str] = set()

    def get_all(self, name: str) -> list[str]:
        self.asked.add(name.lower())
        return self._inner.get_all(name)

    def has_underscore_alias(self, name: str) -> bool:
        self.asked.add(name.lower())
        return self._inner.has_underscore_alias(name)

    def underscored_names(self) -> frozenset[str]:
        return self._inner.underscored_names()


def _decode_or_refuse(fmt: CertificateFormat, pairs: Sequence[tuple[str, str]]) -> None:
    """Decode; a ``VerificationError`` is fine, anything else fails the test."""
    recording = RecordingHeaders(pairs)
    try:
        got = fmt.decode(recording, LIMITS)
    except VerificationError:
        pass
    else:
        assert isinstance(got, ForwardedCertificate)
        assert got.leaf is None or isinstance(got.leaf, bytes)
        assert len(got.chain) <= LIMITS.max_chain_certs
    allowed = {h.lower() for h in fmt.header_names}
    assert recording.asked <= allowed, recording.asked - allowed


# -- registry ----------------------------------------------------------------------------------


def test_every_edge_has_a_preset() -> None:
    assert set(NAMES) >= {
        "alb-passthrough",
        "alb-verify",
        "apache",
        "azure-app-service",
        "caddy",
        "cloudflare",
        "cloudflare-access",
        "cloudflare-rfc9440",
        "cloudfront-passthrough",
        "cloudfront-viewer",
        "envoy-xfcc",
        "gcp",
        "haproxy",
        "ingress-nginx",
        "nginx",
        "nginx-legacy",
        "rfc9440",
        "traefik",
    }
    # Every encoder in the test kit matches a preset, and every preset has one.
    assert set(ENCODERS) | METADATA_ONLY == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_get_by_name(name: str) -> None:
    fmt = formats.get(name)
    assert fmt is PRESETS[name]
    assert fmt.name == name
    assert name == name.lower()
    assert " " not in name
    assert "_" not in name
    assert formats.get(name.upper().replace("-", "_")) is fmt
    constant = getattr(formats, name.upper().replace("-", "_"), None)
    if name != "rfc9440":
        assert constant is fmt
    assert fmt.header_names
    assert len({h.lower() for h in fmt.header_names}) == len(fmt.header_names)


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="alb-passthrough"):
        formats.get("akamai")


@pytest.mark.parametrize("name", NAMES)
def test_no_headers_means_no_certificate(name: str) -> None:
    got = PRESETS[name].decode(HeaderList([]), LIMITS)
    assert got.leaf is None
    assert got.chain == ()
    assert not got.claims


@pytest.mark.parametrize("name", NAMES)
def test_underscore_spelling_is_never_read_as_the_real_header(name: str) -> None:
    """With a raw header list the underscore spelling stays distinct: the decoder ignores it
    and ``underscored_names`` exposes it, so the verifier can refuse the request."""
    fmt = PRESETS[name]
    c = client()
    encoded = ENCODERS[name](c.leaf, c.chain) if name in ENCODERS else []
    pairs = [(h.replace("-", "_"), v) for h, v in encoded if "-" in h]
    if not pairs:
        pairs = [(h.replace("-", "_"), "true") for h in fmt.header_names if "-" in h]
    got = fmt.decode(HeaderList(pairs), LIMITS)
    assert got.leaf is None
    guarded = {h.lower() for h in fmt.header_names}
    assert HeaderList(pairs).underscored_names() & guarded


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_real_certificates_round_trip(name: str) -> None:
    for c in (client(), rsa_client()):
        got = PRESETS[name].decode(HeaderList(ENCODERS[name](c.leaf, c.chain)), LIMITS)
        assert got.leaf == c.leaf
        assert got.chain == (c.chain if name in CHAIN_CAPABLE else ())


@pytest.mark.parametrize("name", sorted(ENCODERS))
@SETTINGS
@given(leaf=der_blobs, chain=st.lists(der_blobs, max_size=3))
def test_round_trip(name: str, leaf: bytes, chain: list[bytes]) -> None:
    rest = chain if name in CHAIN_CAPABLE else []
    got = PRESETS[name].decode(HeaderList(ENCODERS[name](leaf, rest)), LIMITS)
    assert got.leaf == leaf
    assert got.chain == tuple(rest)


@SETTINGS
@given(
    serial=st.integers(min_value=0, max_value=2**159),
    digest=st.binary(min_size=32, max_size=32),
    verified=st.booleans(),
    revoked=st.booleans(),
)
def test_cloudflare_claims_round_trip(
    serial: int, digest: bytes, verified: bool, revoked: bool
) -> None:
    pairs = [
        ("cf-cert-presented", "true"),
        ("cf-cert-verified", str(verified).lower()),
        ("cf-cert-revoked", str(revoked).lower()),
        ("cf-cert-serial", f"{serial:X}"),
        ("cf-cert-sha256", digest.hex()),
    ]
    claims = formats.CLOUDFLARE.decode(HeaderList(pairs), LIMITS).claims
    assert claims.serial == serial
    assert claims.sha256 == digest
    assert claims.verified is (verified and not revoked)


# -- garbage and mutations ---------------------------------------------------------------------

#: Fragments that steer random values into the decoders' deeper branches.
TOKENS = [
    "-----BEGIN CERTIFICATE-----",
    "-----END CERTIFICATE-----",
    "-----BEGIN%20CERTIFICATE-----%0A",
    "%0A-----END%20CERTIFICATE-----%0A",
    "MIIB",
    "AAAA",
    "==",
    "%",
    "%2",
    "%2B",
    "%3D",
    "%GG",
    ",",
    ";",
    ":",
    "=",
    '"',
    '\\"',
    "\\",
    " ",
    "\t",
    "\n",
    "\r\n\t",
    "(null)",
    "-",
    "Hash=",
    "Cert=",
    'Chain="',
    "By=",
    "URI=",
    'SerialNumber="',
    'NB="',
    "true",
    "SUCCESS",
    "FAILED:",
    "0",
    "Mar  1 13:35:00 2022 GMT",
    "2022-07-01T18:05:09+00:00",
    "\x00",
    "é",
    "\u2028",
    "{http.request.tls.client.certificate_der_base64}",
]
values = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)), max_size=25).map("".join),
)


def _header_names(fmt: CertificateFormat) -> st.SearchStrategy[str]:
    names = list(fmt.header_names)
    variants = [n.upper() for n in names] + [n.replace("-", "_") for n in names]
    return st.sampled_from([*names, *variants, "X-Other", "Client-Cert"])


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_garbage_only_raises_verification_error(name: str, data: st.DataObject) -> None:
    fmt = PRESETS[name]
    pairs = data.draw(st.lists(st.tuples(_header_names(fmt), values), max_size=6))
    _decode_or_refuse(fmt, pairs)


def _valid_pairs(name: str) -> list[tuple[str, str]]:
    c = client()
    if name in METADATA_ONLY:
        return [
            ("cf-cert-presented", "true"),
            ("cf-cert-verified", "true"),
            ("cf-cert-serial", f"{c.serial:X}"),
            ("cf-cert-sha256", hashlib.sha256(c.leaf).hexdigest()),
            ("cf-cert-not-before", "Mar 21 13:35:00 2022 GMT"),
        ]
    return ENCODERS[name](c.leaf, c.chain)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_mutations_only_raise_verification_error(name: str, data: st.DataObject) -> None:
    fmt = PRESETS[name]
    pairs = _valid_pairs(name)
    index = data.draw(st.integers(0, len(pairs) - 1))
    header, value = pairs[index]
    kind = data.draw(
        st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate", "swapcase"])
    )
    where = data.draw(st.integers(0, len(value)))
    char = data.draw(st.sampled_from([*TOKENS, "A", "/", "+", "~", "!", "\x7f"]))
    if kind == "insert":
        value = value[:where] + char + value[where:]
    elif kind == "delete":
        value = value[:where] + value[where + 1 :]
    elif kind == "replace":
        value = value[:where] + char + value[where + 1 :]
    elif kind == "truncate":
        value = value[:where]
    elif kind == "swapcase":
        value = value.swapcase()
    mutated = [*pairs[:index], (header, value), *pairs[index + 1 :]]
    if kind == "duplicate":
        mutated.append((header, value))
    _decode_or_refuse(fmt, mutated)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_single_byte_truncation(name: str) -> None:
    """Exhaustive for the certificate header: no cut leaks a non-VerificationError."""
    pairs = _valid_pairs(name)
    header, value = pairs[0]
    for cut in range(0, len(value), 7):
        _decode_or_refuse(PRESETS[name], [(header, value[:cut]), *pairs[1:]])


# -- the docs table users read first -----------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "edges.md"


def _table(title: str) -> list[list[str]]:
    """Body rows of the first table in the section called ``title``."""
    text = DOCS.read_text()
    section = text[text.index(title) + len(title) :]
    if "\n## " in section:
        section = section[: section.index("\n## ")]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_docs_table_lists_every_preset() -> None:
    listed = {m for row in _table("## The table") for m in re.findall(r"`([a-z0-9-]+)`", row[1])}
    assert listed == set(NAMES)


def test_docs_rename_keys_are_accepted() -> None:
    rows = _table("## Renaming headers")
    documented = {m for row in rows for m in re.findall(r"`([a-z0-9-]+)`", row[0])}
    assert documented == set(NAMES)
    for row in rows:
        keys_cell = row[2].split(", plus")[0].split(" plus")[0]
        keys = [k for k in re.findall(r"`([a-z_0-9]+)`", re.sub(r"\([^)]*\)", "", keys_cell))]
        assert keys, row
        for factory_name in re.findall(r"`formats\.([a-z_0-9]+)`", row[1]):
            factory = getattr(formats, factory_name)
            for key in keys:
                fmt = factory(**{key: "X-Doc-Renamed"})
                assert "x-doc-renamed" in {h.lower() for h in fmt.header_names}, (factory, key)
