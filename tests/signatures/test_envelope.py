"""SignedEnvelope end to end through ``Verifier.verify_request``: every failure the issue
lists gets its own reason code, and a request the edge really signed passes."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from originverify import (
    AllOf,
    AnyOf,
    EdgeSecret,
    HeaderList,
    Reason,
    RequestContext,
    VerificationError,
    from_environ,
)
from originverify.devpki import Issued
from originverify.signatures import EnvelopeSigner, HmacSecret, SignedEnvelope, SigningError
from tests.conftest import EDGE_SECRET, PKI
from tests.signatures.kit import (
    AUTHORITY,
    ED_KEY,
    HMAC_KEY,
    HMAC_KEY_ID,
    KEY_ID,
    METHOD,
    NEXT_KEY,
    NEXT_KEY_ID,
    TARGET,
    craft,
    edge_headers,
    envelope,
    reason,
    replace,
    signed,
    value_of,
    verifier,
    verify,
)


@pytest.fixture(scope="module")
def bob(pki: PKI) -> Issued:
    """A second client with a perfectly valid certificate from the same CA."""
    return pki.intermediate.issue("bob")


# -- accepted -------------------------------------------------------------------------------


def test_signed_request_is_accepted(pki: PKI) -> None:
    checker = verifier(pki)
    identity = verify(checker, signed(pki.leaf))
    assert identity is not None
    assert identity.common_name == "alice"  # type: ignore[attr-defined]
    assert "source:signed_envelope" in identity.checks  # type: ignore[attr-defined]


def test_hmac_signed_request_is_accepted(pki: PKI) -> None:
    pairs = signed(pki.leaf, EnvelopeSigner(HMAC_KEY, HMAC_KEY_ID))
    assert "hmac-sha256" in value_of(pairs, "Signature-Input")
    assert verify(verifier(pki), pairs) is not None


def test_signature_headers_are_stripped_before_the_app(pki: PKI) -> None:
    checker = verifier(pki)
    assert {"signature", "signature-input"} <= set(checker.protected_headers)


def test_explain_names_the_key(pki: PKI) -> None:
    report = verifier(pki).explain(
        signed(pki.leaf), "10.0.0.9", method=METHOD, target=TARGET, authority=AUTHORITY
    )
    assert report.accepted
    assert f"signed by {KEY_ID} (ed25519)" in report.steps[0].detail


def test_wsgi_environ_headers(pki: PKI) -> None:
    """Adapters hand a WSGI environ: covered headers are read through ``get_all``."""
    environ = {"HTTP_" + n.upper().replace("-", "_"): v for n, v in signed(pki.leaf)}
    environ["HTTP_HOST"] = AUTHORITY
    identity = verifier(pki).verify_request(
        from_environ(environ), "10.0.0.9", method=METHOD, target=TARGET, authority=AUTHORITY
    )
    assert identity is not None


def test_raw_bytes_in_target_are_signed_the_same_way(pki: PKI) -> None:
    """Clients still send ``|`` or non-ASCII raw; both sides escape them identically."""
    target = "/search?q=a|b&name=Zo\u00eb"
    pairs = signed(pki.leaf, target=target)
    assert verify(verifier(pki), pairs, target=target) is not None
    assert reason(verifier(pki), pairs, target="/search?q=a|b&name=Zoe") is (
        Reason.SIGNATURE_INVALID
    )


# -- the issue's failures, each with its own reason ----------------------------------------


def test_tampered_certificate_header(pki: PKI, bob: Issued) -> None:
    checker = verifier(pki)
    bobs = edge_headers(bob)
    assert verify(checker, signed(bob)) is not None  # bob's certificate itself is fine
    tampered = replace(signed(pki.leaf), "Client-Cert", value_of(bobs, "Client-Cert"))
    assert reason(checker, tampered) is Reason.SIGNATURE_INVALID


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target", "/admin/users?expand=items"),  # tampered path
        ("target", "/orders/7?expand=secrets"),  # tampered query
        ("target", "/orders/7"),  # query removed
        ("method", "DELETE"),
        ("authority", "other.example.com"),
    ],
)
def test_tampered_request_line(pki: PKI, field: str, value: str) -> None:
    """Smuggling pairs one client's headers with another request: the line must match."""
    assert reason(verifier(pki), signed(pki.leaf), **{field: value}) is Reason.SIGNATURE_INVALID


def test_replayed_past_the_window(pki: PKI) -> None:
    old = EnvelopeSigner(ED_KEY, KEY_ID, clock=lambda: time.time() - 120)
    assert reason(verifier(pki), signed(pki.leaf, old)) is Reason.SIGNATURE_EXPIRED


def test_expires_passed_within_max_age(pki: PKI) -> None:
    short = EnvelopeSigner(ED_KEY, KEY_ID, lifetime=1, clock=lambda: time.time() - 20)
    checker = verifier(pki, envelope(max_age=60))
    assert reason(checker, signed(pki.leaf, short)) is Reason.SIGNATURE_EXPIRED


def test_created_in_the_future(pki: PKI) -> None:
    future = EnvelopeSigner(ED_KEY, KEY_ID, clock=lambda: time.time() + 120)
    assert reason(verifier(pki), signed(pki.leaf, future)) is Reason.SIGNATURE_EXPIRED


def test_small_clock_skew_is_tolerated(pki: PKI) -> None:
    ahead = EnvelopeSigner(ED_KEY, KEY_ID, clock=lambda: time.time() + 3)
    assert verify(verifier(pki), signed(pki.leaf, ahead)) is not None


def test_replayed_inside_the_window(pki: PKI) -> None:
    checker = verifier(pki)
    pairs = signed(pki.leaf)
    assert verify(checker, pairs) is not None
    assert reason(checker, pairs) is Reason.SIGNATURE_REPLAYED
    assert verify(checker, signed(pki.leaf)) is not None  # a fresh nonce passes


def test_without_nonce_cache_the_window_is_the_only_replay_bound(pki: PKI) -> None:
    checker = verifier(pki, envelope(nonce_cache=0))
    pairs = signed(pki.leaf)
    assert verify(checker, pairs) is not None
    assert verify(checker, pairs) is not None


def test_unknown_keyid(pki: PKI) -> None:
    stranger = EnvelopeSigner(Ed25519PrivateKey.generate(), "edge-unknown")
    assert reason(verifier(pki), signed(pki.leaf, stranger)) is Reason.SIGNATURE_UNKNOWN_KEY


def test_known_keyid_wrong_key(pki: PKI) -> None:
    impostor = EnvelopeSigner(Ed25519PrivateKey.generate(), KEY_ID)
    assert reason(verifier(pki), signed(pki.leaf, impostor)) is Reason.SIGNATURE_INVALID


def test_wrong_algorithm_hmac_for_an_ed25519_key(pki: PKI) -> None:
    """Key confusion: an HMAC made with the *public* Ed25519 key as the secret."""
    public = ED_KEY.public_key().public_bytes_raw()
    forged = EnvelopeSigner(HmacSecret(public), KEY_ID)
    assert reason(verifier(pki), signed(pki.leaf, forged)) is Reason.SIGNATURE_ALGORITHM


def test_wrong_algorithm_ed25519_for_an_hmac_key(pki: PKI) -> None:
    wrong = EnvelopeSigner(ED_KEY, HMAC_KEY_ID)
    assert reason(verifier(pki), signed(pki.leaf, wrong)) is Reason.SIGNATURE_ALGORITHM


def test_algorithm_parameter_absent(pki: PKI) -> None:
    headers = edge_headers(pki.leaf)
    pairs = headers + craft(headers, include_alg=False)
    assert reason(verifier(pki), pairs) is Reason.SIGNATURE_ALGORITHM


@pytest.mark.parametrize("missing", ["@method", "@authority", "@path", "@query"])
def test_missing_covered_derived_component(pki: PKI, missing: str) -> None:
    headers = edge_headers(pki.leaf)
    components = [
        c
        for c in ("@method", "@authority", "@path", "@query", "client-cert", "client-cert-chain")
        if c != missing
    ]
    pairs = headers + craft(headers, components=components)
    assert reason(verifier(pki), pairs) is Reason.SIGNATURE_COVERAGE


def test_certificate_header_not_covered(pki: PKI) -> None:
    headers = edge_headers(pki.leaf)
    components = ["@method", "@authority", "@path", "@query", "client-cert-chain"]
    pairs = headers + craft(headers, components=components)
    assert reason(verifier(pki), pairs) is Reason.SIGNATURE_COVERAGE


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Client-Cert-Chain", None),  # a chain injected next to a signed leaf
        ("CloudFront-Viewer-Cert-Present", "1"),  # an edge claim injected
    ],
)
def test_certificate_header_injected_next_to_the_signed_ones(
    pki: PKI, bob: Issued, name: str, value: str | None
) -> None:
    pairs = signed(pki.leaf, chain=False)
    injected = value or value_of(edge_headers(bob), name)
    assert reason(verifier(pki), [*pairs, (name, injected)]) is Reason.SIGNATURE_COVERAGE


def test_covered_header_absent(pki: PKI) -> None:
    pairs = replace(signed(pki.leaf), "Client-Cert-Chain", None)
    assert reason(verifier(pki), pairs) is Reason.SIGNATURE_COVERAGE


def test_signature_over_a_header_the_edge_did_not_set(pki: PKI) -> None:
    """An edge that signs a client's header (here ``X-User``) vouches for attacker data."""
    headers = [*edge_headers(pki.leaf), ("X-User", "admin")]
    pairs = headers + EnvelopeSigner(ED_KEY, KEY_ID).sign(METHOD, AUTHORITY, TARGET, headers)
    assert reason(verifier(pki), pairs) is Reason.SIGNATURE_COVERAGE
    declared = verifier(pki, envelope(extra_headers=("x-origin-verify", "x-user")))
    assert verify(declared, pairs) is not None


def test_component_with_parameters_does_not_count(pki: PKI) -> None:
    """``"client-cert";key=..`` or ``;sf`` would cover a rendering, not the octets sent."""
    headers = edge_headers(pki.leaf)
    base = ["@method", "@authority", "@path", "@query", "client-cert-chain"]
    crafted = craft(headers, components=[*base, '"client-cert";bs'])
    text = value_of(crafted, "Signature-Input").replace('"client-cert";bs', '"client-cert";sf')
    pairs = headers + replace(crafted, "Signature-Input", text)
    assert reason(verifier(pki), pairs) is Reason.SIGNATURE_COVERAGE
    derived = craft(headers, components=[*base, "client-cert", '"@query-param";name="expand"'])
    assert reason(verifier(pki), headers + derived) is Reason.SIGNATURE_COVERAGE


def test_unexpected_derived_component(pki: PKI) -> None:
    headers = edge_headers(pki.leaf)
    pairs = headers + craft(
        headers,
        components=[
            "@method",
            "@authority",
            "@path",
            "@query",
            "@target-uri",
            "client-cert",
            "client-cert-chain",
        ],
    )
    assert reason(verifier(pki), pairs) is Reason.SIGNATURE_COVERAGE


@pytest.mark.parametrize("param", ["created", "nonce"])
def test_required_parameter_absent(pki: PKI, param: str) -> None:
    headers = edge_headers(pki.leaf)
    if param == "nonce":
        pairs = headers + craft(headers, nonce=None)
    else:
        crafted = craft(headers)
        text = value_of(crafted, "Signature-Input")
        start = text.index(";created=")
        end = text.index(";", start + 1)
        pairs = headers + replace(crafted, "Signature-Input", text[:start] + text[end:])
    assert reason(verifier(pki), pairs) is Reason.SIGNATURE_COVERAGE


def test_adapter_must_pass_the_request_line(pki: PKI) -> None:
    checker = verifier(pki)
    pairs = signed(pki.leaf)
    with pytest.raises(VerificationError) as info:
        verify(checker, pairs, method=None)
    assert info.value.reason is Reason.SIGNATURE_COVERAGE
    assert "adapter" in info.value.detail
    assert reason(checker, pairs, authority=None) is Reason.SIGNATURE_COVERAGE


def test_key_rotation_with_two_keys_live(pki: PKI) -> None:
    both = verifier(
        pki, SignedEnvelope({KEY_ID: ED_KEY.public_key(), NEXT_KEY_ID: NEXT_KEY.public_key()})
    )
    old, new = EnvelopeSigner(ED_KEY, KEY_ID), EnvelopeSigner(NEXT_KEY, NEXT_KEY_ID)
    assert verify(both, signed(pki.leaf, old)) is not None
    assert verify(both, signed(pki.leaf, new)) is not None
    # The old key signing under the new id is still refused: each id has its own key.
    assert reason(both, signed(pki.leaf, EnvelopeSigner(ED_KEY, NEXT_KEY_ID))) is (
        Reason.SIGNATURE_INVALID
    )
    retired = verifier(pki, SignedEnvelope({NEXT_KEY_ID: NEXT_KEY.public_key()}))
    assert reason(retired, signed(pki.leaf, old)) is Reason.SIGNATURE_UNKNOWN_KEY
    assert verify(retired, signed(pki.leaf, new)) is not None


# -- malformed or absent envelopes ----------------------------------------------------------


def test_unsigned_request(pki: PKI) -> None:
    checker = verifier(pki)
    assert reason(checker, edge_headers(pki.leaf)) is Reason.SIGNATURE_MISSING
    only_input = replace(signed(pki.leaf), "Signature", None)
    assert reason(checker, only_input) is Reason.SIGNATURE_MISSING


def test_other_label_only(pki: PKI) -> None:
    headers = edge_headers(pki.leaf)
    assert reason(verifier(pki), headers + craft(headers, label="sig1")) is (
        Reason.SIGNATURE_MISSING
    )


def test_extra_label_next_to_ours(pki: PKI) -> None:
    pairs = signed(pki.leaf)
    pairs = replace(
        pairs, "Signature-Input", value_of(pairs, "Signature-Input") + ', x=("@method")'
    )
    pairs = replace(pairs, "Signature", value_of(pairs, "Signature") + ", x=:AAAA:")
    with pytest.raises(VerificationError) as info:
        verify(verifier(pki), pairs)
    assert info.value.reason is Reason.SIGNATURE_INVALID
    assert "unexpected signature labels: x" in info.value.detail


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Signature-Input", 'originverify=("@method"'),
        ("Signature", "originverify=not-base64"),
        ("Signature", "originverify=:AAAA:"),  # wrong length for Ed25519
        ("Signature", "originverify=:" + "A" * 86 + "==:"),  # right length, wrong bytes
        ("Signature", "originverify=(:AAAA:)"),
    ],
)
def test_malformed_envelope(pki: PKI, header: str, value: str) -> None:
    pairs = replace(signed(pki.leaf), header, value)
    assert reason(verifier(pki), pairs) is Reason.SIGNATURE_INVALID


@pytest.mark.parametrize(
    ("old", "new", "detail"),
    [
        ('alg="ed25519"', "alg=ed25519", "alg has the wrong type"),  # a token, not a string
        ('tag="originverify"', 'tag="other-app"', "tag is not"),
        ("created=", "foo=1;created=", "unknown signature parameter 'foo'"),
    ],
)
def test_bad_parameters(pki: PKI, old: str, new: str, detail: str) -> None:
    """Refused before any cryptography, each with a detail saying why."""
    pairs = signed(pki.leaf)
    text = value_of(pairs, "Signature-Input")
    assert old in text
    pairs = replace(pairs, "Signature-Input", text.replace(old, new, 1))
    with pytest.raises(VerificationError) as info:
        verify(verifier(pki), pairs)
    assert info.value.reason is Reason.SIGNATURE_INVALID
    assert detail in info.value.detail


@pytest.mark.parametrize(("key", "key_id"), [(ED_KEY, KEY_ID), (HMAC_KEY, HMAC_KEY_ID)])
def test_signature_length_is_checked_first(pki: PKI, key: object, key_id: str) -> None:
    pairs = replace(
        signed(pki.leaf, EnvelopeSigner(key, key_id)),  # type: ignore[arg-type]
        "Signature",
        "originverify=:" + "A" * 44 + ":",
    )
    with pytest.raises(VerificationError) as info:
        verify(verifier(pki), pairs)
    assert info.value.reason is Reason.SIGNATURE_INVALID
    assert "33-byte" in info.value.detail


def test_duplicate_signature_headers(pki: PKI) -> None:
    pairs = signed(pki.leaf)
    doubled = [*pairs, ("Signature", value_of(pairs, "Signature"))]
    assert reason(verifier(pki), doubled) is Reason.DUPLICATE_HEADER


def test_duplicate_covered_header(pki: PKI) -> None:
    """The smuggling shape of §1.4: a second Client-Cert line next to the signed one."""
    pairs = signed(pki.leaf)
    doubled = [*pairs, ("Client-Cert", value_of(pairs, "Client-Cert"))]
    assert reason(verifier(pki), doubled) is Reason.DUPLICATE_HEADER


def test_underscore_signature_input(pki: PKI) -> None:
    pairs = signed(pki.leaf)
    aliased = [*pairs, ("Signature_Input", value_of(pairs, "Signature-Input"))]
    assert reason(verifier(pki), aliased) is Reason.AMBIGUOUS_HEADER_NAME


def test_oversized_signature_input(pki: PKI) -> None:
    pairs = replace(signed(pki.leaf), "Signature-Input", "originverify=()" + ";a=1" * 2000)
    assert reason(verifier(pki), pairs) is Reason.HEADER_TOO_LARGE


def test_not_bound_fails_closed(pki: PKI) -> None:
    """Outside a Verifier the proof does not know the certificate headers: refuse."""
    proof = envelope()
    pairs = signed(pki.leaf)
    context = RequestContext(HeaderList(pairs), None, METHOD, TARGET, None, AUTHORITY)
    with pytest.raises(VerificationError) as info:
        proof.check(context)
    assert info.value.reason is Reason.SIGNATURE_COVERAGE
    assert "without a Verifier" in info.value.detail
    proof.bind(("client-cert", "client-cert-chain"))
    assert proof.check(context).startswith(f"signed by {KEY_ID}")


def test_signer_refuses_what_it_cannot_sign() -> None:
    signer = EnvelopeSigner(ED_KEY, KEY_ID)
    with pytest.raises(SigningError):
        signer.sign("GET", "evil@example.com", "/", [])
    with pytest.raises(SigningError):
        signer.sign("GET", AUTHORITY, "http://other/", [])
    with pytest.raises(SigningError):
        signer.sign("get", AUTHORITY, "/", [])
    with pytest.raises(SigningError):
        signer.sign("GET", AUTHORITY, "/", [("Signature", "x")])


def test_signer_covers_each_header_once_and_what_it_set(pki: PKI) -> None:
    headers = edge_headers(pki.leaf, secret=EDGE_SECRET)
    added = EnvelopeSigner(ED_KEY, KEY_ID).sign(METHOD, AUTHORITY, TARGET, headers)
    text = value_of(added, "Signature-Input")
    assert text.startswith(
        'originverify=("@method" "@authority" "@path" "@query" "x-origin-verify" '
        '"client-cert" "client-cert-chain");created='
    )
    for param in ("created=", "expires=", 'keyid="edge-2026-11"', "nonce=", 'alg="ed25519"'):
        assert param in text
    assert EDGE_SECRET not in text + value_of(added, "Signature")


def test_nonces_are_fresh(pki: PKI) -> None:
    signer = EnvelopeSigner(ED_KEY, KEY_ID)
    headers = edge_headers(pki.leaf)
    inputs = {
        value_of(signer.sign(METHOD, AUTHORITY, TARGET, headers), "Signature-Input")
        for _ in range(20)
    }
    assert len(inputs) == 20


# -- composition with the other proofs ------------------------------------------------------


def test_all_of_secret_and_signature(pki: PKI) -> None:
    checker = verifier(pki, AllOf(EdgeSecret(secrets=[EDGE_SECRET]), envelope()))
    assert verify(checker, signed(pki.leaf, secret=EDGE_SECRET)) is not None
    assert reason(checker, signed(pki.leaf)) is Reason.EDGE_SECRET_MISSING
    unsigned = edge_headers(pki.leaf, secret=EDGE_SECRET)
    assert reason(checker, unsigned) is Reason.SIGNATURE_MISSING
    assert {"x-origin-verify", "signature", "signature-input"} <= set(checker.protected_headers)


def test_all_of_binds_the_inner_envelope(pki: PKI) -> None:
    """Coverage rules reach an envelope nested in AllOf: an injected chain is refused."""
    checker = verifier(pki, AllOf(EdgeSecret(secrets=[EDGE_SECRET]), envelope()))
    pairs = signed(pki.leaf, secret=EDGE_SECRET, chain=False)
    chain = value_of(edge_headers(pki.leaf), "Client-Cert-Chain")
    assert reason(checker, [*pairs, ("Client-Cert-Chain", chain)]) is Reason.SIGNATURE_COVERAGE


def test_any_of_during_migration(pki: PKI) -> None:
    checker = verifier(pki, AnyOf(EdgeSecret(secrets=[EDGE_SECRET]), envelope()))
    assert verify(checker, edge_headers(pki.leaf, secret=EDGE_SECRET)) is not None
    assert verify(checker, signed(pki.leaf)) is not None
    assert reason(checker, edge_headers(pki.leaf)) is Reason.EDGE_SECRET_MISSING
    # A signature for another request is no proof at all: without the secret, refused.
    with pytest.raises(VerificationError) as info:
        verify(checker, signed(pki.leaf), target="/other")
    assert info.value.reason is Reason.EDGE_SECRET_MISSING
    assert "does not verify" in info.value.detail


def test_envelope_repr_hides_hmac_secret() -> None:
    proof = envelope()
    assert HMAC_KEY.secret.decode() not in repr(proof)
    assert "edge-hmac-1:hmac-sha256" in repr(proof)


def test_signer_takes_wire_bytes(pki: PKI) -> None:
    """The forwarder (h11) holds bytes: latin-1 on both sides, same signature semantics."""
    headers = edge_headers(pki.leaf)
    raw = [(n.encode(), v.encode()) for n, v in headers]
    added = EnvelopeSigner(ED_KEY, KEY_ID).sign(
        METHOD.encode(), AUTHORITY.encode(), b"/caf\xe9?x=1", raw
    )
    assert verify(verifier(pki), headers + added, target="/caf\u00e9?x=1") is not None


def test_non_ascii_edge_header_is_covered_byte_for_byte(pki: PKI) -> None:
    """An RFC 4514 subject with UTF-8 (CloudFront-Viewer-Cert-Subject) is signed with ``;bs``:
    every octet covered, and a changed octet is refused."""
    zoe = pki.intermediate.issue("Zo\u00eb")  # the claim must name the certificate
    subject = zoe.cert.subject.rfc4514_string().encode()
    assert subject == "CN=Zo\u00eb,O=originverify test".encode()
    raw = [(n.encode(), v.encode()) for n, v in edge_headers(zoe)]
    raw.append((b"CloudFront-Viewer-Cert-Subject", subject))
    added = EnvelopeSigner(ED_KEY, KEY_ID).sign(METHOD, AUTHORITY, TARGET, raw)
    assert '"cloudfront-viewer-cert-subject";bs' in value_of(added, "Signature-Input")
    wire = [*raw, *((n.encode(), v.encode()) for n, v in added)]
    assert verify(verifier(pki), wire) is not None  # type: ignore[arg-type]
    changed = [(n, subject.replace(b"Zo", b"Za") if n.endswith(b"Subject") else v) for n, v in wire]
    assert reason(verifier(pki), changed) is Reason.SIGNATURE_INVALID  # type: ignore[arg-type]


def test_bs_is_the_only_parameter_and_a_name_counts_once(pki: PKI) -> None:
    headers = edge_headers(pki.leaf)
    base = ["@method", "@authority", "@path", "@query", "client-cert-chain"]
    ok = headers + craft(headers, components=[*base, '"client-cert";bs'])
    assert verify(verifier(pki), ok) is not None
    twice = headers + craft(headers, components=[*base, "client-cert", '"client-cert";bs'])
    with pytest.raises(VerificationError) as info:
        verify(verifier(pki), twice)
    assert info.value.reason is Reason.SIGNATURE_INVALID
    assert "'client-cert' covered twice" in info.value.detail


@pytest.mark.parametrize("expires", [None, 3600])
def test_max_age_bounds_signatures_with_no_or_late_expiry(pki: PKI, expires: int | None) -> None:
    headers = edge_headers(pki.leaf)
    old = headers + craft(headers, created=time.time() - 120, expires=expires)
    assert reason(verifier(pki), old) is Reason.SIGNATURE_EXPIRED
    fresh = headers + craft(headers, created=time.time() - 10, expires=expires)
    assert verify(verifier(pki), fresh) is not None


def test_signature_for_another_application_is_refused(pki: PKI) -> None:
    """Same key, validly signed, but tagged for something else: not an edge envelope."""
    headers = edge_headers(pki.leaf)
    with pytest.raises(VerificationError) as info:
        verify(verifier(pki), headers + craft(headers, tag="webhooks"))
    assert info.value.reason is Reason.SIGNATURE_INVALID
    assert "tag" in info.value.detail
