"""The watcher never swaps in a broken file; hard-mode revocation never accepts a status that
no CRL provably covers."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from originverify import EdgeSecret, Reason, ResultCache, VerificationError, Verifier
from originverify.devpki import CertificateAuthority, cert_pem
from originverify.revocation import Revocation
from tests.revocation.pkitools import idp, make_crl

from .kit import SECRET, RedPKI, make_pki, pairs, verifier

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def pki() -> RedPKI:
    return make_pki()


def refused(v: Verifier, headers: object) -> Reason:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)  # type: ignore[arg-type]
    return info.value.reason


# -- the watcher --------------------------------------------------------------------------------


def _watched(pki: RedPKI, tmp_path: Path) -> tuple[Verifier, Path]:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(cert_pem(pki.root.root) + cert_pem(CertificateAuthority.root_ca("b").root))
    return verifier(pki, trust=str(anchors), watch_interval=3600), anchors


@pytest.mark.parametrize(
    "broken",
    [
        lambda pem: pem[: len(pem) // 2],  # cut mid-block
        lambda pem: pem[: pem.index(b"-----END")],  # second block without its end line
        lambda pem: b"",  # truncated to zero by open("w")
        lambda pem: pem.replace(b"MII", b"mii", 1),  # corrupted base64
        lambda pem: b"-----BEGIN CERTIFICATE-----\n",
    ],
)
def test_half_written_anchor_file_is_not_swapped_in(pki: RedPKI, tmp_path: Path, broken) -> None:  # type: ignore[no-untyped-def]
    v, anchors = _watched(pki, tmp_path)
    digest = v.trust.snapshot.digest  # type: ignore[union-attr]
    assert v.verify_request(pairs(pki.alice)) is not None
    anchors.write_bytes(broken(anchors.read_bytes()))
    assert v.watcher is not None
    v.watcher.poll()
    assert v.trust.snapshot.digest == digest  # type: ignore[union-attr]
    assert v.verify_request(pairs(pki.alice)) is not None


def test_emptied_secret_file_keeps_the_old_secret(pki: RedPKI, tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    v = verifier(pki, source=EdgeSecret.from_file(path), watch_interval=3600)
    path.write_text("")
    assert v.watcher is not None
    v.watcher.poll()
    assert v.verify_request(pairs(pki.alice)) is not None


def test_short_secret_in_the_file_is_refused(pki: RedPKI, tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    v = verifier(pki, source=EdgeSecret.from_file(path), watch_interval=3600)
    path.write_text("short\n")
    assert v.watcher is not None
    v.watcher.poll()
    assert v.verify_request(pairs(pki.alice)) is not None
    assert refused(v, pairs(pki.alice, secret="short")) is Reason.EDGE_SECRET_MISMATCH


# -- revocation (hard mode) -------------------------------------------------------------------


def _revocation(
    tmp_path: Path, crl: x509.CertificateRevocationList, mode: str = "hard"
) -> Revocation:
    from cryptography.hazmat.primitives.serialization import Encoding

    path = tmp_path / "ca.crl"
    path.write_bytes(crl.public_bytes(Encoding.PEM))
    return Revocation(crls=[path], mode=mode)  # type: ignore[arg-type]


def test_revoked_leaf(pki: RedPKI, tmp_path: Path) -> None:
    rev = _revocation(tmp_path, make_crl(pki.ca, [pki.alice.cert.serial_number]))
    assert refused(verifier(pki, revocation=rev), pairs(pki.alice)) is Reason.REVOKED


def test_no_crl_for_the_issuer(pki: RedPKI, tmp_path: Path) -> None:
    other = CertificateAuthority.root_ca("x").intermediate("y")
    rev = _revocation(tmp_path, make_crl(other))
    assert refused(verifier(pki, revocation=rev), pairs(pki.alice)) is Reason.REVOCATION_UNKNOWN


def test_stale_crl(pki: RedPKI, tmp_path: Path) -> None:
    crl = make_crl(
        pki.ca, this_update=NOW - dt.timedelta(days=3), next_update=NOW - dt.timedelta(days=1)
    )
    rev = _revocation(tmp_path, crl)
    assert refused(verifier(pki, revocation=rev), pairs(pki.alice)) is Reason.REVOCATION_UNKNOWN


def test_crl_signed_by_a_lookalike_key(pki: RedPKI, tmp_path: Path) -> None:
    lookalike = CertificateAuthority.root_ca("redteam root").intermediate("redteam intermediate")
    crl = make_crl(pki.ca, signing_key=lookalike.key)
    rev = _revocation(tmp_path, crl)
    assert refused(verifier(pki, revocation=rev), pairs(pki.alice)) is Reason.REVOCATION_UNKNOWN


def test_ca_only_crl_does_not_cover_a_leaf(pki: RedPKI, tmp_path: Path) -> None:
    rev = _revocation(tmp_path, make_crl(pki.ca, extensions=[idp(only_ca=True)]))
    assert refused(verifier(pki, revocation=rev), pairs(pki.alice)) is Reason.REVOCATION_UNKNOWN


def test_partial_reasons_crl_does_not_cover(pki: RedPKI, tmp_path: Path) -> None:
    crl = make_crl(pki.ca, extensions=[idp(reasons=frozenset({x509.ReasonFlags.key_compromise}))])
    rev = _revocation(tmp_path, crl)
    assert refused(verifier(pki, revocation=rev), pairs(pki.alice)) is Reason.REVOCATION_UNKNOWN


def test_soft_mode_unknown_is_never_cached(pki: RedPKI, tmp_path: Path) -> None:
    other = CertificateAuthority.root_ca("x").intermediate("y")
    cache = ResultCache()
    v = verifier(pki, revocation=_revocation(tmp_path, make_crl(other), "soft"), cache=cache)
    assert v.verify_request(pairs(pki.alice)) is not None
    assert len(cache) == 0


def _self_issued_leaf(ca: CertificateAuthority) -> x509.Certificate:
    """A leaf whose subject DN equals its issuer's (a CA that signs the subject a CSR asks
    for), signed by ``ca`` as usual."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(ca.cert.subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )


def viewer_headers(cert: x509.Certificate) -> list[tuple[str, str]]:
    pem = cert_pem(cert).decode()
    return [("X-Origin-Verify", SECRET), ("CloudFront-Viewer-Cert-Pem", urllib.parse.quote(pem))]


def edge_verdict_verifier(pki: RedPKI, revocation: Revocation) -> Verifier:
    return Verifier(
        format="cloudfront-viewer",
        trust=None,
        trust_edge_verdict=True,
        source=EdgeSecret(secrets=[SECRET]),
        revocation=revocation,
        cache=None,
        watch_interval=None,
    )


def test_edge_verdict_hard_mode_ordinary_revoked_leaf(pki: RedPKI, tmp_path: Path) -> None:
    rev = _revocation(tmp_path, make_crl(pki.ca, [pki.alice.cert.serial_number]))
    reason = refused(edge_verdict_verifier(pki, rev), viewer_headers(pki.alice.cert))
    assert reason in (Reason.REVOKED, Reason.REVOCATION_UNKNOWN)


def test_cached_accept_dies_with_the_crl(pki: RedPKI, tmp_path: Path) -> None:
    """Hard mode: a verdict cached under a CRL is not served once that CRL has expired."""
    import time

    now = dt.datetime.now(dt.UTC)
    crl = make_crl(
        pki.ca, this_update=now - dt.timedelta(hours=1), next_update=now + dt.timedelta(seconds=2)
    )
    v = verifier(pki, revocation=_revocation(tmp_path, crl), cache=ResultCache())
    assert v.verify_request(pairs(pki.alice)) is not None
    assert v.verify_request(pairs(pki.alice)) is not None  # served from the cache
    time.sleep(max(0.0, crl.next_update_utc.timestamp() - time.time()) + 0.2)
    assert refused(v, pairs(pki.alice)) is Reason.REVOCATION_UNKNOWN
