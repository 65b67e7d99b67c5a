"""Our RFC 9421 signature base and structured-field parser against the oracle.

``originverify.envelope`` builds the signature base and parses ``Signature``/
``Signature-Input`` itself (once per request, no pure-Python library on the hot path). These
tests hold it to ``http-message-signatures`` / ``http-sf``: byte-identical bases on RFC 9421's
Appendix B examples and on Hypothesis-generated requests; the oracle verifies what we sign,
we verify what the oracle signs; and our parser agrees with ``http-sf`` wherever it accepts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import http_sf
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from originverify import Reason, VerificationError
from originverify.envelope import (
    LABEL,
    REQUIRED_COMPONENTS,
    TAG,
    EnvelopeSigner,
    HmacSecret,
    SignedEnvelope,
    load_signing_key,
    request_url,
)
from originverify.envelope import fields as verify_module
from originverify.envelope.base import VISIBLE, request_base, signature_params
from originverify.envelope.sfv import (
    StructuredFieldError,
    Token,
    fast_components,
    fast_input,
    parse_dictionary,
)
from originverify.headers import HeaderList
from originverify.source import RequestContext
from tests.signatures.oracle import Fields, Message, signature_headers
from tests.signatures.test_rfc9421_vectors import (
    B2_HEADERS,
    B2_TARGET,
    B25_BASE,
    B25_SIGNATURE,
    B26_BASE,
    B26_SIGNATURE,
    TEST_KEY_ED25519_PRIVATE,
    TEST_SHARED_SECRET,
)

# RFC 9421 B.2.3 (RSA-PSS: only the base is compared) and B.2.1 (no components).
B23_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@query": ?param=Value&Pet=dog\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7'
    "BNNyealdVLvRwEmTHWXvJwew==:\n"
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@query" "@authority" "content-type" '
    '"content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"'
)
B21_BASE = (
    '"@signature-params": ();created=1618884473;keyid="test-key-rsa-pss";'
    'nonce="b3k2pp5k7z-50gnwp.yemd"'
)


def _b2_lines(name: str) -> list[str]:
    return [v for n, v in B2_HEADERS if n.lower() == name]


def _rfc_base(components: tuple[str, ...], **params: object) -> str:
    base, _ = request_base(
        "POST", "example.com", B2_TARGET, _b2_lines, [(c, False) for c in components], params
    )
    return base.decode()


def test_rfc9421_appendix_b_bases_byte_for_byte() -> None:
    created = 1618884473
    assert (
        _rfc_base((), created=created, keyid="test-key-rsa-pss", nonce="b3k2pp5k7z-50gnwp.yemd")
        == B21_BASE
    )
    b23 = (
        "date",
        "@method",
        "@path",
        "@query",
        "@authority",
        "content-type",
        "content-digest",
        "content-length",
    )
    assert _rfc_base(b23, created=created, keyid="test-key-rsa-pss") == B23_BASE
    b25 = _rfc_base(
        ("date", "@authority", "content-type"), created=created, keyid="test-shared-secret"
    )
    assert b25 == B25_BASE
    secret = base64.b64decode(TEST_SHARED_SECRET)
    mac = hmac.new(secret, b25.encode(), hashlib.sha256).digest()
    assert base64.b64encode(mac).decode() == B25_SIGNATURE
    b26_components = ("date", "@method", "@path", "@authority", "content-type", "content-length")
    b26 = _rfc_base(b26_components, created=created, keyid="test-key-ed25519")
    assert b26 == B26_BASE
    key = load_signing_key(TEST_KEY_ED25519_PRIVATE)
    assert isinstance(key, Ed25519PrivateKey)
    assert base64.b64encode(key.sign(b26.encode())).decode() == B26_SIGNATURE


def test_unsupported_or_absent_components_are_refused() -> None:
    with pytest.raises(ValueError, match="neither derived"):
        request_base("GET", "a.example", "/", _b2_lines, [("@target-uri", False)], {})
    with pytest.raises(ValueError, match="neither derived"):
        request_base("GET", "a.example", "/", _b2_lines, [("x-absent", False)], {})
    with pytest.raises(ValueError, match="upper-case"):
        request_base("get", "a.example", "/", _b2_lines, [], {})


# -- generated requests ------------------------------------------------------------------------

_latin1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
_methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "M-SEARCH"])
_hosts = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,20}", fullmatch=True) | st.sampled_from(
    ["127.0.0.1", "[::1]", "[2001:DB8::1]"]
)
_ports = st.sampled_from(["", ":443", ":0443", ":80", ":8443", ":1"])
_targets = st.builds(
    lambda path, query: "/" + path + ("" if query is None else "?" + query),
    st.text(_latin1, max_size=30),
    st.none() | st.text(_latin1, max_size=30),
)
_names = st.sampled_from(
    ["client-cert", "client-cert-chain", "x-client-subject", "x-origin-verify", "x-amzn-mtls"]
)
_values = st.text(_latin1, max_size=40) | st.text(
    string.printable.strip("\r\n\x0b\x0c"), max_size=40
)
_nonces = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)
_key_ids = st.from_regex(r"[A-Za-z0-9._:@/+=-]{1,30}", fullmatch=True)


def _oracle_base(
    method: str, authority: str, target: str, pairs: list[tuple[str, str]], params: dict[str, Any]
) -> tuple[bytes, str]:
    """The oracle's signature base for the same request and components as ours."""
    ids = [*REQUIRED_COMPONENTS]
    for name in dict.fromkeys(n for n, _ in pairs):
        values = [v for n, v in pairs if n == name]
        plain = all(VISIBLE.fullmatch(v) for v in values)
        ids.append(name if plain else f'"{name}";bs')
    created = datetime.fromtimestamp(params["created"], UTC)
    prepared = HTTPMessageSigner(signature_algorithm=algorithms.ED25519).prepare(
        Message(method, request_url(authority, target), Fields(pairs)),
        key_id=params["keyid"],
        created=created,
        expires=datetime.fromtimestamp(params["expires"], UTC),
        nonce=params["nonce"],
        label=LABEL,
        tag=TAG,
        include_alg=True,
        covered_component_ids=tuple(ids),
    )
    return prepared.signature_base, prepared.signature_params


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=_methods,
    host=_hosts,
    port=_ports,
    target=_targets,
    pairs=st.lists(st.tuples(_names, _values), max_size=6),
    created=st.integers(0, 253_402_000_000),
    nonce=_nonces,
    key_id=_key_ids,
)
def test_generated_bases_are_byte_identical_to_the_oracle(
    method: str,
    host: str,
    port: str,
    target: str,
    pairs: list[tuple[str, str]],
    created: int,
    nonce: str,
    key_id: str,
) -> None:
    authority = host + port
    params: dict[str, Any] = {
        "created": created,
        "keyid": key_id,
        "alg": "ed25519",
        "expires": created + 30,
        "nonce": nonce,
        "tag": TAG,
    }
    expected_base, expected_params = _oracle_base(method, authority, target, pairs, params)
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    components = [(c, False) for c in REQUIRED_COMPONENTS] + [
        (n, not all(VISIBLE.fullmatch(v) for v in vs)) for n, vs in grouped.items()
    ]
    base, params_value = request_base(
        method, authority, target, grouped.__getitem__, components, params
    )
    assert base == expected_base
    assert params_value == expected_params
    # Our parser reads back what the oracle serialized, as http-sf does.
    ours = parse_dictionary(f"{LABEL}={params_value}")
    theirs = http_sf.parse(f"{LABEL}={params_value}".encode(), tltype="dictionary")
    assert _plain(ours) == _plain(theirs)


_SIGNER_KEY = Ed25519PrivateKey.generate()
_HMAC = HmacSecret(b"k" * 32)


def _oracle_verifier(key_id: str, hmac_key: bool) -> HTTPMessageVerifier:
    material: object = _HMAC.secret if hmac_key else _SIGNER_KEY.public_key()
    algorithm = algorithms.HMAC_SHA256 if hmac_key else algorithms.ED25519
    return HTTPMessageVerifier(
        signature_algorithm=algorithm,
        key_resolver=MappingKeyResolver(public_keys={key_id: material}, private_keys={}),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=_methods,
    authority=st.builds(str.__add__, _hosts, _ports),
    target=_targets,
    pairs=st.lists(st.tuples(_names, _values), min_size=1, max_size=5, unique_by=lambda p: p[0]),
    hmac_key=st.booleans(),
)
def test_both_implementations_verify_each_others_signatures(
    method: str, authority: str, target: str, pairs: list[tuple[str, str]], hmac_key: bool
) -> None:
    key: object = _HMAC if hmac_key else _SIGNER_KEY
    ours = EnvelopeSigner(key, "edge-1").sign(method, authority, target, pairs)  # type: ignore[arg-type]
    message = Message(method, request_url(authority, target), Fields([*pairs, *ours]))
    results = _oracle_verifier("edge-1", hmac_key).verify(message, max_age=None)
    assert len(results) == 1
    # And ours verifies an oracle-made signature over the same request.
    ids = [*REQUIRED_COMPONENTS] + [n if VISIBLE.fullmatch(v) else f'"{n}";bs' for n, v in pairs]
    algorithm = algorithms.HMAC_SHA256 if hmac_key else algorithms.ED25519
    prepared = HTTPMessageSigner(signature_algorithm=algorithm).prepare(
        Message(method, request_url(authority, target), Fields(pairs)),
        key_id="edge-1",
        created=datetime.now(UTC),
        nonce="n-" + base64.b16encode(bytes(8)).decode(),
        label=LABEL,
        tag=TAG,
        include_alg=True,
        covered_component_ids=tuple(ids),
    )
    material = _HMAC.secret if hmac_key else _SIGNER_KEY
    theirs = signature_headers(prepared, algorithm(private_key=material))
    proof = SignedEnvelope(
        {"edge-1": _HMAC if hmac_key else _SIGNER_KEY.public_key()}, nonce_cache=None
    )
    proof.bind(tuple(n for n, _ in pairs))
    request = RequestContext(
        HeaderList([*pairs, *theirs]), method=method, target=target, authority=authority
    )
    assert proof.check(request).startswith("signed by edge-1")


# -- the parser against http-sf ------------------------------------------------------------


def _plain(value: object) -> object:
    """http-sf's and our parse results in one comparable form."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return ("decimal", float(value))
    if isinstance(value, float):
        return ("decimal", value)
    if isinstance(value, Token) or type(value).__name__ == "Token":
        return ("token", str(value))
    return value


_sf_pieces = st.sampled_from(
    [
        "originverify=",
        "sig2=",
        '("@method" "@path")',
        '("a";bs "b")',
        "()",
        ";created=1618884473",
        ";created=-5",
        ';keyid="k\\"1"',
        ";alg=tok/en",
        ";x=1.25",
        ";b=?0",
        ";b",
        ":AAAA:",
        ":AAA=:",
        "?1",
        ", ",
        ",",
        " ",
        "\t",
        '"str"',
        "12345",
        "1.",
        "1234567890123456",
        "(",
        ")",
        ";",
        "=",
        "A",
        '"\\x"',
    ]
)


_sf_keys = st.from_regex(r"[a-z*][a-z0-9_.*-]{0,6}", fullmatch=True)
_sf_bare = st.one_of(
    st.integers(-(10**15) + 1, 10**15 - 1).map(str),
    st.decimals(-999, 999, places=2, allow_nan=False, allow_infinity=False).map(str),
    st.from_regex(r'"([ !#-\[\]-~]|\\["\\])*"', fullmatch=True),
    st.from_regex(r"[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]{0,5}", fullmatch=True),
    st.binary(max_size=6).map(lambda b: ":" + base64.b64encode(b).decode() + ":"),
    st.sampled_from(["?0", "?1"]),
)
_sf_params = st.lists(
    st.tuples(_sf_keys, st.none() | _sf_bare).map(
        lambda kv: f";{kv[0]}" if kv[1] is None else f";{kv[0]}={kv[1]}"
    ),
    max_size=3,
).map("".join)
_sf_item = st.tuples(_sf_bare, _sf_params).map("".join)
_sf_inner = st.tuples(
    st.lists(_sf_item, max_size=4).map(lambda items: "(" + " ".join(items) + ")"), _sf_params
).map("".join)
_sf_member = st.tuples(_sf_keys, st.one_of(_sf_inner, _sf_item, _sf_params)).map(
    lambda kv: kv[0] + (kv[1] if kv[1].startswith(";") or not kv[1] else "=" + kv[1])
)
_sf_valid = st.lists(_sf_member, max_size=3).map(", ".join)


@st.composite
def _sf_texts(draw: st.DrawFn) -> str:
    """Valid dictionaries, and the same with one character inserted, deleted or replaced."""
    text = draw(_sf_valid | st.lists(_sf_pieces, max_size=10).map("".join))
    if text and draw(st.booleans()):
        at = draw(st.integers(0, len(text) - 1))
        char = draw(st.sampled_from(list(' ,;=()":?\\\t-1aA')))
        text = draw(
            st.sampled_from(
                [
                    text[:at] + char + text[at:],
                    text[:at] + text[at + 1 :],
                    text[:at] + char + text[at + 1 :],
                ]
            )
        )
    return text


@settings(max_examples=1200, deadline=None)
@given(_sf_texts())
def test_parser_agrees_with_http_sf_where_it_accepts(text: str) -> None:
    def reject_duplicate(key: str, context: str) -> None:
        raise ValueError(f"duplicate {context} key {key!r}")

    try:
        theirs: object = http_sf.parse(
            text.encode(), tltype="dictionary", on_duplicate_key=reject_duplicate
        )
    except ValueError:
        theirs = None
    try:
        ours: object = parse_dictionary(text)
    except StructuredFieldError:
        ours = None
    if ours is not None:
        assert theirs is not None, f"we accept what http-sf refuses: {text!r}"
        assert _plain(ours) == _plain(theirs)
    # The only text http-sf accepts and we refuse: byte sequences that are not canonical
    # base64 (http-sf decodes them leniently).
    if theirs is not None and ours is None:
        assert ":" in text, text


def test_malformed_signature_fields_are_signature_invalid() -> None:
    proof = SignedEnvelope({"k": _SIGNER_KEY.public_key()})
    proof.bind(("client-cert",))
    pairs = [("client-cert", ":AAAA:")]
    good = EnvelopeSigner(_SIGNER_KEY, "k").sign("GET", "a.example", "/", pairs)
    for bad_input in ['originverify=("@method"', "originverify=();created=1.5.1", "originverify"]:
        headers = [*pairs, ("Signature-Input", bad_input), good[1]]
        with pytest.raises(VerificationError) as info:
            proof.check(
                RequestContext(HeaderList(headers), method="GET", target="/", authority="a.example")
            )
        assert info.value.reason is Reason.SIGNATURE_INVALID, bad_input


# -- the fast path against the full parser ------------------------------------------------------


_canon_string = st.from_regex(r'"[ !#-\[\]-~]{0,8}"', fullmatch=True)
_canon_params = st.lists(
    st.tuples(_sf_keys, st.integers(-(10**15) + 1, 10**15 - 1).map(str) | _canon_string),
    max_size=7,
).map(lambda kvs: "".join(f";{k}={v}" for k, v in kvs))
_canon_items = st.lists(
    st.tuples(st.from_regex(r'"[!#-\[\]-~]{0,8}"', fullmatch=True), st.sampled_from(["", ";bs"])),
    max_size=8,
).map(lambda items: "(" + " ".join(a + b for a, b in items) + ")")
_canonical = st.builds(lambda i, p: f"originverify={i}{p}", _canon_items, _canon_params)


@settings(max_examples=600, deadline=None)
@given(_canonical | _sf_texts())
def test_fast_path_equals_the_full_parser_wherever_it_matches(text: str) -> None:
    for candidate in (text, f"originverify={text.partition('=')[2]}"):
        fast = fast_input(candidate)
        if fast is None:
            continue
        label, inner, params, serialized = fast
        ((member_label, (items, full_params)),) = parse_dictionary(candidate).items()
        assert label == member_label
        assert fast_components(inner) == [(name, bool(p)) for name, p in items]
        assert params == full_params
        ids = [f'"{name}";bs' if p else f'"{name}"' for name, p in items]
        assert serialized == signature_params(ids, full_params)  # already canonical


def test_signer_output_takes_the_fast_path_and_other_spellings_still_verify() -> None:
    pairs = [("client-cert", ":AAAA:")]
    signed_pairs = EnvelopeSigner(_SIGNER_KEY, "k").sign("GET", "a.example", "/", pairs)
    signature_input = signed_pairs[0][1]
    assert fast_input(signature_input) is not None
    proof = SignedEnvelope({"k": _SIGNER_KEY.public_key()}, nonce_cache=None)
    proof.bind(("client-cert",))
    # The same dictionary spelled differently (spaces, a trailing space): the full parser
    # reads it, the base is built from the canonical serialization, the signature holds.
    spaced = signature_input.replace("=(", "=( ").replace('" "', '"  "') + " "
    assert fast_input(spaced) is None
    for value in (signature_input, spaced):
        request = RequestContext(
            HeaderList([*pairs, ("Signature-Input", value), signed_pairs[1]]),
            method="GET",
            target="/",
            authority="a.example",
        )
        assert proof.check(request).startswith("signed by k")


def test_remembered_component_lists_stay_bounded() -> None:
    """Hostile clients sending endless distinct inner lists cannot grow the memo past 256."""
    for index in range(600):
        inner = f'"@method" "@authority" "@path" "@query" "x-{index}"'
        assert verify_module._shape(inner)[-1] == (f"x-{index}", False)
    assert len(verify_module._SHAPES) <= verify_module._MAX_SHAPES
    with pytest.raises(VerificationError) as info:
        verify_module._shape('"@method";bs')
    assert info.value.reason is Reason.SIGNATURE_COVERAGE
    assert '"@method";bs' not in verify_module._SHAPES
