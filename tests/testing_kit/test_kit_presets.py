"""The testing kit writes headers the verifier accepts, for every preset it knows, with the
edge secret or a signed envelope, from its own PKI or trustme's; and the pytest plugin's
fixtures are there without any conftest."""

from __future__ import annotations

import pytest
import trustme

from originverify import Reason, VerificationError, build_verifier, formats, testing
from originverify.formats import PRESETS


@pytest.fixture(scope="module")
def pki() -> testing.PKI:
    return testing.PKI("kit")


@pytest.fixture(scope="module")
def alice(pki: testing.PKI) -> testing.ClientCert:
    return pki.client("alice", emails=["alice@example.com"], uris=["spiffe://example.org/a"])


def test_every_certificate_preset_is_covered() -> None:
    # Every preset that forwards a certificate has an encoder; the metadata-only ones do not.
    forwarding = {name for name, fmt in PRESETS.items() if fmt.forwards_certificate}
    assert set(testing.FORMATS) == forwarding


@pytest.mark.parametrize("fmt", testing.FORMATS)
def test_preset_headers_verify(fmt: str, pki: testing.PKI, alice: testing.ClientCert) -> None:
    edge = testing.Edge(fmt)
    verifier = build_verifier(edge.settings(pki))
    identity = verifier.verify_request(edge.pairs(alice))
    assert identity is not None
    assert identity.fingerprint_sha256 == alice.fingerprint_sha256
    assert identity.common_name == "alice"


@pytest.mark.parametrize("fmt", testing.FORMATS)
def test_signed_envelope_headers_verify(
    fmt: str, pki: testing.PKI, alice: testing.ClientCert
) -> None:
    edge = testing.Edge(fmt, signed=True)
    verifier = build_verifier(edge.settings(pki))
    pairs = edge.pairs(alice, method="POST", path="/api?x=1", host="api.test")
    assert {"Signature", "Signature-Input"} <= {name for name, _ in pairs}
    identity = verifier.verify_request(
        pairs, method="POST", target="/api?x=1", authority="api.test"
    )
    assert identity is not None and identity.common_name == "alice"
    # The envelope binds the request line: another path is refused.
    with pytest.raises(VerificationError) as caught:
        verifier.verify_request(
            edge.pairs(alice, path="/api"), method="GET", target="/other", authority="api.test"
        )
    assert caught.value.reason is Reason.SIGNATURE_INVALID


def test_wrong_secret_and_no_certificate(pki: testing.PKI, alice: testing.ClientCert) -> None:
    edge = testing.Edge()
    verifier = build_verifier(edge.settings(pki))
    with pytest.raises(VerificationError) as caught:
        verifier.verify_request(testing.Edge().pairs(alice))  # another edge's random secret
    assert caught.value.reason is Reason.EDGE_SECRET_MISMATCH
    with pytest.raises(VerificationError) as caught:
        verifier.verify_request(edge.pairs(None))
    assert caught.value.reason is Reason.MISSING_CERTIFICATE
    assert build_verifier(edge.settings(pki, mode="optional")).verify_request(edge.pairs()) is None


def test_a_certificate_from_another_pki_is_refused(alice: testing.ClientCert) -> None:
    edge = testing.Edge()
    verifier = build_verifier(edge.settings(testing.PKI("other")))
    with pytest.raises(VerificationError) as caught:
        verifier.verify_request(edge.pairs(alice))
    assert caught.value.reason is Reason.UNTRUSTED_CHAIN


@pytest.mark.parametrize("fmt", ["cloudfront-passthrough", "alb-verify", "envoy-xfcc"])
def test_trustme_ca_and_leaf(fmt: str) -> None:
    root = trustme.CA()
    issuing = root.create_child_ca()
    leaf = issuing.issue_cert("svc.example.test", common_name="svc")
    edge = testing.Edge(fmt)
    # Passing the child CA: anchors are its root, its own certificate an intermediate.
    identity = build_verifier(edge.settings(issuing)).verify_request(edge.pairs(leaf))
    assert identity is not None
    assert identity.dns_names == ("svc.example.test",)
    assert (
        testing.client_cert(leaf).chain[0].subject
        == testing.client_cert(issuing.issue_cert("x.test")).chain[0].subject
    )


def test_settings_spellings(pki: testing.PKI) -> None:
    edge = testing.Edge("nginx", secret_header="X-Edge-Token")
    flask = edge.flask_config(pki, mode="optional")
    assert flask["ORIGINVERIFY_FORMAT"] == "nginx"
    assert flask["ORIGINVERIFY_EDGE_SECRET_HEADER"] == "X-Edge-Token"
    assert flask["ORIGINVERIFY_MODE"] == "optional"
    assert "ORIGINVERIFY_EXTRA_INTERMEDIATES" in flask  # nginx forwards the leaf only
    django = edge.django_setting(pki)
    assert django["ANCHORS"] == pki.anchors_pem
    environ = edge.environ(pki.client())
    assert environ["HTTP_X_EDGE_TOKEN"] == edge.secret
    assert "HTTP_X_SSL_CLIENT_CERT" in environ


def test_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="cloudfront-passthrough"):
        testing.Edge("cloudflare")


def test_plugin_fixtures(
    originverify_pki: testing.PKI,
    originverify_client: testing.ClientCert,
    originverify_edge: testing.Edge,
) -> None:
    # No conftest defines these: the pytest11 entry point registered them.
    verifier = build_verifier(originverify_edge.settings(originverify_pki))
    identity = verifier.verify_request(originverify_edge.pairs(originverify_client))
    assert identity is not None
    assert identity.spiffe_id == "spiffe://example.test/client"


def test_client_cert_files(tmp_path, alice: testing.ClientCert) -> None:  # type: ignore[no-untyped-def]
    paths = alice.write(tmp_path, "alice")
    assert paths["cert"].read_bytes() == alice.pem
    assert paths["key"].stat().st_mode & 0o777 == 0o600
    assert testing.client_cert(paths["cert"].read_bytes()).leaf == alice.leaf


@pytest.mark.parametrize(
    ("fmt", "renamed"),
    [
        (formats.alb_passthrough(cert="X-Client-Cert"), "X-Client-Cert"),
        (formats.cloudfront_passthrough(cert="X-Leaf", chain="X-Chain"), "X-Chain"),
        (formats.nginx(cert="X-Edge-Cert"), "X-Edge-Cert"),
    ],
)
def test_renamed_headers(
    fmt: formats.CertificateFormat, renamed: str, pki: testing.PKI, alice: testing.ClientCert
) -> None:
    edge = testing.Edge(fmt)
    pairs = edge.pairs(alice)
    assert renamed in {name for name, _ in pairs}
    identity = build_verifier(edge.settings(pki)).verify_request(pairs)
    assert identity is not None and identity.common_name == "alice"
    # The preset's default names are not what this origin reads: refused (no certificate, or
    # nginx's verify claim without the certificate it vouches for).
    default = testing.Edge(fmt.name, secret=edge.secret)
    with pytest.raises(VerificationError) as caught:
        build_verifier(edge.settings(pki)).verify_request(default.pairs(alice))
    assert caught.value.reason in {Reason.MISSING_CERTIFICATE, Reason.EDGE_MISMATCH}


def test_secret_defaults_to_random_and_refuses_empty() -> None:
    first, second = testing.Edge(), testing.Edge()
    assert first.secret and second.secret and first.secret != second.secret
    assert testing.Edge(secret="given").secret == "given"
    assert testing.Edge(secret=None).secret is None
    with pytest.raises(ValueError, match="empty edge secret"):
        testing.Edge(secret="")
