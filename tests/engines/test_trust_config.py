"""Anchors and intermediates from configuration: anything unusable is a
``ConfigurationError`` at start-up (never another exception, never silently fewer
anchors); and ``describe`` renders hostile names without raising."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from originverify import ConfigurationError, EdgeSecret, TrustStore, Verifier, describe
from originverify.devpki import CertificateAuthority, cert_der, cert_pem
from tests.conftest import EDGE_SECRET
from tests.differential import forge


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return CertificateAuthority.root_ca("config root")


@pytest.fixture(scope="module")
def other() -> CertificateAuthority:
    return CertificateAuthority.root_ca("second root")


def _version_5(ca: CertificateAuthority) -> bytes:
    """``ca``'s certificate with version field 5 (``x509.InvalidVersion`` on parsing)."""
    return forge.patch(ca.cert, ca.key, (b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x05"))


def _bad_utf8_root() -> bytes:
    ca = CertificateAuthority.root_ca(forge.INVALID_UTF8_CN)
    return forge.patch(ca.cert, ca.key, forge.invalid_utf8())  # subject and issuer


def _pem(der: bytes) -> bytes:
    return cert_pem(x509.load_der_x509_certificate(der))


def bundles(root: CertificateAuthority, other: CertificateAuthority) -> dict[str, bytes]:
    good = root.pem + other.pem
    return {
        "last block cut off": good[: len(root.pem) + len(other.pem) // 2],
        "lone BEGIN line at the end": good + b"-----BEGIN CERTIFICATE-----\n",
        "END line missing": good.rstrip(b"\n").rsplit(b"\n", 1)[0] + b"\n",
        "garbage inside a block": root.pem
        + other.pem.replace(other.pem.splitlines()[3], b"!!!!not base64!!!!"),
        "a private key in the bundle": good
        + b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "DER that is not a certificate": b"\x30\x03\x02\x01\x00",
    }


@pytest.mark.parametrize(
    "case",
    [
        "last block cut off",
        "lone BEGIN line at the end",
        "END line missing",
        "garbage inside a block",
        "a private key in the bundle",
        "DER that is not a certificate",
    ],
)
def test_half_written_or_odd_bundles_are_refused(
    root: CertificateAuthority, other: CertificateAuthority, case: str
) -> None:
    with pytest.raises(ConfigurationError):
        TrustStore(bundles(root, other)[case])
    with pytest.raises(ConfigurationError):
        TrustStore(root.pem, extra_intermediates=bundles(root, other)[case])


def test_whole_bundle_loads_every_anchor(
    root: CertificateAuthority, other: CertificateAuthority
) -> None:
    assert len(TrustStore(root.pem + other.pem).anchors) == 2


@pytest.mark.parametrize("kind", ["invalid version", "invalid UTF-8 subject"])
@pytest.mark.parametrize("where", ["anchors", "extra_intermediates"])
def test_unusable_certificates_are_configuration_errors(
    root: CertificateAuthority, kind: str, where: str
) -> None:
    der = _version_5(root) if kind == "invalid version" else _bad_utf8_root()
    for source in (der, _pem(der) if kind != "invalid version" else der):
        kwargs = {"trust": source} if where == "anchors" else {"trust": root.pem}
        extra = source if where == "extra_intermediates" else ()
        with pytest.raises(ConfigurationError):
            Verifier(
                source=EdgeSecret(secrets=[EDGE_SECRET]),
                extra_intermediates=extra,
                **kwargs,  # type: ignore[arg-type]
            )


def test_invalid_version_in_a_pem_file(root: CertificateAuthority, tmp_path: Path) -> None:
    import base64

    der = _version_5(root)
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    pem = b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"
    path = tmp_path / "anchors.pem"
    path.write_bytes(root.pem + pem)
    with pytest.raises(ConfigurationError, match="certificate 2"):
        TrustStore(path)


def test_reload_of_a_truncated_file_keeps_the_old_anchors(
    root: CertificateAuthority, other: CertificateAuthority, tmp_path: Path
) -> None:
    path = tmp_path / "anchors.pem"
    path.write_bytes(root.pem + other.pem)
    store = TrustStore(path)
    path.write_bytes((root.pem + other.pem)[:-40])  # a deploy caught mid-write
    with pytest.raises(ConfigurationError):
        store.reload()
    assert len(store.anchors) == 2 and store.generation == 0


def test_describe_never_raises_and_caps() -> None:
    long = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x" * 60)] * 50)
    text = describe.name(long)
    assert len(text) <= describe.LIMIT + 1 and text.endswith("…")
    ca = CertificateAuthority.root_ca("plain")
    assert describe.subject(ca.cert) == "CN=plain,O=originverify test"
    hostile = x509.load_der_x509_certificate(_bad_utf8_root())
    with pytest.raises(ValueError):
        hostile.subject.rfc4514_string()
    assert describe.subject(hostile) == describe.UNREADABLE
    assert describe.issuer(hostile) == describe.UNREADABLE
    assert cert_der(ca.cert)  # the helper module's own fixtures still parse
