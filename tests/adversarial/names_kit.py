"""Real certificates with hostile names, issued by the session PKI's intermediate, and a
verifier to push them through ``verify_request``."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Sequence

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from originverify import EdgeSecret, Reason, VerificationError, Verifier
from originverify.devpki import (
    DEFAULT_NOT_AFTER,
    DEFAULT_NOT_BEFORE,
    CertificateAuthority,
    Issued,
    new_key,
)
from tests.conftest import EDGE_SECRET, PKI, require_binary

CN = NameOID.COMMON_NAME
O = NameOID.ORGANIZATION_NAME  # noqa: E741 - the attribute's own name


def name(*rdns: Sequence[tuple[x509.ObjectIdentifier, str]]) -> x509.Name:
    """RDNs in DER order (least specific first), each a list of ``(oid, value)``."""
    return x509.Name(
        [x509.RelativeDistinguishedName([x509.NameAttribute(o, v) for o, v in rdn]) for rdn in rdns]
    )


def issue(
    ca: CertificateAuthority,
    subject: x509.Name,
    *,
    uris: Sequence[str] = (),
    dns: Sequence[str] = (),
    not_before: dt.datetime = DEFAULT_NOT_BEFORE,
    not_after: dt.datetime = DEFAULT_NOT_AFTER,
) -> Issued:
    """A client leaf with exactly ``subject`` and the given SANs (no normalisation)."""
    key = new_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [
        *(x509.UniformResourceIdentifier(u) for u in uris),
        *(x509.DNSName(d) for d in dns),
    ]
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(sans), critical=len(subject.rdns) == 0
        )
    cert = builder.sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    return Issued(cert, key, ca._presented(), ca.root)


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + body


def _read_tlv(der: bytes, pos: int) -> tuple[int, int]:
    """(start of body, end of element) of the TLV at ``pos``."""
    first = der[pos + 1]
    if first < 0x80:
        return pos + 2, pos + 2 + first
    count = first & 0x7F
    size = int.from_bytes(der[pos + 2 : pos + 2 + count], "big")
    return pos + 2 + count, pos + 2 + count + size


def patched(ca: CertificateAuthority, leaf: Issued, old: bytes, new: bytes) -> bytes:
    """``leaf`` with ``old`` replaced by ``new`` (same length) in its TBS, re-signed by
    ``ca``: a correctly signed certificate cryptography's builders refuse to make (e.g. a
    UTF8String CN that is not UTF-8)."""
    assert len(old) == len(new)
    tbs = leaf.cert.tbs_certificate_bytes
    assert tbs.count(old) == 1
    tbs = tbs.replace(old, new)
    der = leaf.der
    body, _ = _read_tlv(der, 0)
    _, tbs_end = _read_tlv(der, body)
    _, alg_end = _read_tlv(der, tbs_end)
    algorithm = der[tbs_end:alg_end]
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    signature = ca.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))


def verifier(pki: PKI, **kwargs: object) -> Verifier:
    kwargs.setdefault("cache", None)
    return Verifier(
        trust=pki.root.pem,
        source=EdgeSecret(secrets=[EDGE_SECRET]),
        **kwargs,  # type: ignore[arg-type]
    )


def reason(v: Verifier, headers: object) -> Reason:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)  # type: ignore[arg-type]
    return info.value.reason


def openssl_dn(cert: Issued, *, issuer: bool = False, esc_msb: bool = True) -> str:
    """The DN as OpenSSL's ``XN_FLAG_RFC2253`` writes it: what nginx ``$ssl_client_s_dn``,
    Apache ``SSL_CLIENT_S_DN`` and the managed edges built on OpenSSL forward."""
    exe = require_binary("openssl", "openssl")
    opt = "RFC2253" if esc_msb else "RFC2253,-esc_msb"
    out = subprocess.run(
        [
            exe,
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-issuer" if issuer else "-subject",
            "-nameopt",
            opt,
        ],
        input=cert.der,
        capture_output=True,
        check=True,
    ).stdout
    text = out.decode("utf-8").rstrip("\n")
    prefix = "issuer=" if issuer else "subject="
    assert text.startswith(prefix), text
    return text[len(prefix) :]
