"""The exact CloudFront Function file, run under Node.js, verified by a real origin Verifier.

Every request goes: viewer-request event → ``sign-request.js`` (``harness.js``: runtime 2.0's
``crypto`` and KeyValueStore, nothing more) → the origin request CloudFront would build from its
output (``kit.origin_request``) → ``Verifier`` with the ``cloudfront-passthrough`` format and
``SignedEnvelope(..., digest_binding=CLOUDFRONT_DIGEST_BINDING)``.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

import pytest

from originverify import ClientIdentity, Reason, VerificationError, Verifier, build_verifier
from originverify.formats.sfbinary import serialize_item
from originverify.signatures import CLOUDFRONT_DIGEST_BINDING, HmacSecret, SignedEnvelope
from tests.cloudfront_function.conftest import Pki
from tests.cloudfront_function.kit import (
    FUNCTION,
    REPO,
    OriginRequest,
    Viewer,
    origin_request,
    run_function,
    store,
)

KEY_1, KEY_2 = "cf-2026-11", "cf-2026-12"


def origin(pki: Pki, keys: dict[str, HmacSecret], **options: Any) -> Verifier:
    options.setdefault("digest_binding", CLOUDFRONT_DIGEST_BINDING)
    return Verifier(
        trust=pki.root.pem,
        format="cloudfront-passthrough",
        source=SignedEnvelope(keys, max_age=30, **options),
        mode="optional",
    )


def check(verifier: Verifier, request: OriginRequest) -> ClientIdentity | None:
    return verifier.verify_request(
        request.headers,
        "130.176.0.10",
        method=request.method,
        target=request.target,
        authority=request.authority,
    )


def refused(verifier: Verifier, request: OriginRequest) -> Reason:
    with pytest.raises(VerificationError) as caught:
        check(verifier, request)
    return caught.value.reason


def signed(pki: Pki, key: HmacSecret, *viewers: Viewer, **kw: Any) -> list[OriginRequest]:
    prefix = kw.pop("prefix", "")
    outputs = run_function(store(KEY_1, key.spec(), prefix=prefix), list(viewers), **kw)
    return [origin_request(v, o, prefix=prefix) for v, o in zip(viewers, outputs, strict=True)]


def test_accepted_with_the_chain_uncovered(pki: Pki, key_1: HmacSecret) -> None:
    (request,) = signed(pki, key_1, Viewer(issued=pki.alice))
    assert any(name == "Client-Cert-Chain" for name, _ in request.headers)
    identity = check(origin(pki, {KEY_1: key_1}), request)
    assert identity is not None and identity.common_name == "alice"


def test_viewer_without_certificate_is_signed_too(pki: Pki, key_1: HmacSecret) -> None:
    (request,) = signed(pki, key_1, Viewer(issued=None))
    assert check(origin(pki, {KEY_1: key_1}), request) is None  # anonymous (optional mode)
    forged = [*request.headers, ("Client-Cert", serialize_item(pki.bob.der))]
    reason = refused(
        origin(pki, {KEY_1: key_1}), OriginRequest("GET", request.target, request.authority, forged)
    )
    assert reason is Reason.SIGNATURE_COVERAGE  # a leaf nobody signed a hash for


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "DELETE"}, Reason.SIGNATURE_INVALID),
        ({"target": "/admin/orders/7?b=2&b=3&a=1"}, Reason.SIGNATURE_INVALID),
        ({"target": "/orders/7?b=2&b=3&a=2"}, Reason.SIGNATURE_INVALID),
        ({"target": "/orders/7"}, Reason.SIGNATURE_INVALID),
        ({"authority": "other-origin.example.com"}, Reason.SIGNATURE_INVALID),
    ],
)
def test_tampered_request_line(
    pki: Pki, key_1: HmacSecret, change: dict[str, str], reason: Reason
) -> None:
    viewer = Viewer(issued=pki.alice, query=[("b", "2"), ("a", "1"), ("b", "3")])
    (request,) = signed(pki, key_1, viewer)
    assert request.target == "/orders/7?b=2&b=3&a=1"  # forwarded exactly as signed
    fields = {"method": request.method, "target": request.target, "authority": request.authority}
    tampered = OriginRequest(**{**fields, **change}, headers=request.headers)
    assert refused(origin(pki, {KEY_1: key_1}), tampered) is reason


def test_tampered_sha256_claim(pki: Pki, key_1: HmacSecret) -> None:
    (request,) = signed(pki, key_1, Viewer(issued=pki.alice))
    bob_hash = hashlib.sha256(pki.bob.der).hexdigest()
    tampered = request.replace("cloudfront-viewer-cert-sha256", bob_hash)
    assert refused(origin(pki, {KEY_1: key_1}), tampered) is Reason.SIGNATURE_INVALID


def test_client_cert_not_matching_the_signed_hash(pki: Pki, key_1: HmacSecret) -> None:
    (request,) = signed(pki, key_1, Viewer(issued=pki.alice))
    swapped = request.replace("Client-Cert", serialize_item(pki.bob.der))
    assert refused(origin(pki, {KEY_1: key_1}), swapped) is Reason.EDGE_MISMATCH


def test_replayed_request_id(pki: Pki, key_1: HmacSecret) -> None:
    viewer = Viewer(issued=pki.alice)
    first, again = signed(pki, key_1, viewer, viewer)  # the same request id twice
    verifier = origin(pki, {KEY_1: key_1})
    assert check(verifier, first) is not None
    assert refused(verifier, again) is Reason.SIGNATURE_REPLAYED
    assert refused(verifier, first) is Reason.SIGNATURE_REPLAYED


def test_rotation(pki: Pki, key_1: HmacSecret, key_2: HmacSecret) -> None:
    viewer_old, viewer_new = Viewer(issued=pki.alice), Viewer(issued=pki.alice)
    (old,) = signed(pki, key_1, viewer_old)
    (new,) = [
        origin_request(viewer_new, out)
        for out in run_function(store(KEY_2, key_2.spec()), [viewer_new])
    ]
    assert 'keyid="cf-2026-12"' in dict(new.headers)["signature-input"]
    during = origin(pki, {KEY_1: key_1, KEY_2: key_2})
    assert check(during, old) is not None and check(during, new) is not None
    after = origin(pki, {KEY_2: key_2})
    (old_again,) = signed(pki, key_1, Viewer(issued=pki.alice))
    assert refused(after, old_again) is Reason.SIGNATURE_UNKNOWN_KEY
    # Same key id, another secret (a KeyValueStore write that went wrong): not accepted.
    assert refused(origin(pki, {KEY_1: key_2}), old_again) is Reason.SIGNATURE_INVALID


@pytest.mark.parametrize(("age", "reason"), [(-120, Reason.SIGNATURE_EXPIRED), (120, None)])
def test_edge_clock(pki: Pki, key_1: HmacSecret, age: int, reason: Reason | None) -> None:
    """Signed two minutes ago (expired) or two minutes in the future (a wrong clock)."""
    now_ms = int((time.time() + age) * 1000)
    (request,) = signed(pki, key_1, Viewer(issued=pki.alice), now_ms=now_ms)
    assert refused(origin(pki, {KEY_1: key_1}), request) is Reason.SIGNATURE_EXPIRED


def test_skew_within_tolerance(pki: Pki, key_1: HmacSecret) -> None:
    now_ms = int((time.time() + 3) * 1000)  # the edge's clock 3 s ahead: clock_skew=5 allows it
    (request,) = signed(pki, key_1, Viewer(issued=pki.alice), now_ms=now_ms)
    assert check(origin(pki, {KEY_1: key_1}), request) is not None


def test_origin_path(pki: Pki, key_1: HmacSecret) -> None:
    """An origin with an origin path: the function signs prefix + URI, as the origin sees it."""
    (request,) = signed(pki, key_1, Viewer(issued=pki.alice), prefix="/api")
    assert request.target.startswith("/api/orders/7")
    assert check(origin(pki, {KEY_1: key_1}), request) is not None
    (unprefixed,) = signed(pki, key_1, Viewer(issued=pki.alice))
    moved = OriginRequest(
        "GET", "/api" + unprefixed.target, unprefixed.authority, unprefixed.headers
    )
    assert refused(origin(pki, {KEY_1: key_1}), moved) is Reason.SIGNATURE_INVALID


@pytest.mark.parametrize(
    ("uri", "query"),
    [
        ("/a%20b/c%2Fd", [("q", "x%26y"), ("empty", "")]),
        ("/pipe|brace{}/ü", [("k", "v|w"), ("k", "2")]),
        ("/", []),
        ("/100%", [("p", "50%")]),
    ],
)
def test_targets_escaped_alike(
    pki: Pki, key_1: HmacSecret, uri: str, query: list[tuple[str, str]]
) -> None:
    (request,) = signed(pki, key_1, Viewer(issued=pki.alice, uri=uri, query=query))
    assert check(origin(pki, {KEY_1: key_1}), request) is not None


def test_without_digest_binding_the_uncovered_leaf_is_refused(pki: Pki, key_1: HmacSecret) -> None:
    (request,) = signed(pki, key_1, Viewer(issued=pki.alice))
    plain = origin(pki, {KEY_1: key_1}, digest_binding=None)
    assert refused(plain, request) is Reason.SIGNATURE_COVERAGE


def test_settings_build_the_same_origin(pki: Pki, key_1: HmacSecret, tmp_path: Any) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(pki.root.pem)
    verifier = build_verifier(
        {
            "format": "cloudfront-passthrough",
            "anchors": str(anchors),
            "signature_keys": {KEY_1: key_1.spec()},
            "signature_digest_binding": "cloudfront",
            "signature_max_age": 30,
        }
    )
    (request,) = signed(pki, key_1, Viewer(issued=pki.alice))
    assert check(verifier, request) is not None
    swapped = request.replace("Client-Cert", serialize_item(pki.bob.der))
    assert refused(verifier, swapped) is Reason.EDGE_MISMATCH


def test_function_source_fits_runtime_limits() -> None:
    source = FUNCTION.read_bytes()
    assert len(source) <= 10 * 1024, len(source)  # CloudFront Functions: 10 KB per function
    for page in (REPO / "docs" / "cloudfront-signing.md", FUNCTION.parent / "README.md"):
        assert f"{len(source):,} bytes" in page.read_text(), f"{page}: update the size"
    text = source.decode("ascii")  # plain ASCII: no encoding surprises in templates
    for unsupported in ("require(", "TextEncoder", "fetch(", "setTimeout", "process."):
        assert unsupported not in text


def test_escaping_agrees_on_many_targets(pki: Pki, key_1: HmacSecret) -> None:
    """Differential: the function's percent-encoding (JavaScript) and the origin's (Python)
    agree on 300 random URIs and query values drawn from an alphabet full of characters
    that are not valid in a URI, stray '%', and non-ASCII text."""
    rng = random.Random(9421)
    alphabet = "aZ09-._~!$'()*+,;:@/%|{}[]^`\\\"<> é€😀"

    def text(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))

    viewers = [
        Viewer(
            issued=pki.alice,
            method=rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]),
            uri="/" + text(24).replace("?", ""),
            query=[(f"k{i}", text(12).replace("&", "").replace("#", "")) for i in range(3)],
        )
        for _ in range(300)
    ]
    outputs = run_function(store(KEY_1, key_1.spec()), viewers)
    verifier = origin(pki, {KEY_1: key_1})
    for viewer, output in zip(viewers, outputs, strict=True):
        request = origin_request(viewer, output)
        assert check(verifier, request) is not None, request.target
