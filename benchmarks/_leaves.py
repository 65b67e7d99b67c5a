"""Many distinct, validly signed client certificates under one CA, fast (not a benchmark).

A fleet benchmark needs thousands of devices (100k for cache memory). Key generation and
``CertificateBuilder`` cost ~450 µs per ECDSA leaf here (~1.3 ms RSA) on a loaded machine,
so every leaf of a pool shares one key pair, and the pool is made from one template built
by ``CertificateBuilder``: only the serial and the name change (same lengths), then the
issuing CA signs the new TBS bytes (~50 µs ECDSA, ~1 ms RSA-2048 per leaf).
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from originverify.devpki import CertificateAuthority, new_key


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _tlv_end(data: bytes, pos: int) -> int:
    """End offset of the DER element starting at ``pos``."""
    first = data[pos + 1]
    if first < 0x80:
        return pos + 2 + first
    octets = first & 0x7F
    return pos + 2 + octets + int.from_bytes(data[pos + 2 : pos + 2 + octets], "big")


def tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


class LeafFactory:
    """Distinct client certificates issued by ``ca`` that differ in serial and name only.

    The leaves carry clientAuth, digitalSignature and an email SAN, so both pyca's default
    client policy and originverify's profiles accept them.
    """

    SERIAL = 0x5A5A5A5A5A5A5A5A  # 8 bytes, high bit clear: fixed DER length
    NAME = "client-0000000"

    def __init__(self, ca: CertificateAuthority, key_type: str = "ec") -> None:
        key = new_key("rsa" if key_type == "rsa" else "ec")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        issuer_key = ca.key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.NAME)]))
            .issuer_name(ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(self.SERIAL)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key),  # type: ignore[arg-type]
                False,
            )
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(self.NAME + "@example.com")]),
                False,
            )
        )
        template = builder.sign(ca.key, hashes.SHA256()).public_bytes(Encoding.DER)  # type: ignore[arg-type]
        header_end = 2 + (template[1] & 0x7F if template[1] & 0x80 else 0)
        tbs_end = _tlv_end(template, header_end)
        self.tbs = template[header_end:tbs_end]
        self.algorithm = template[tbs_end : _tlv_end(template, tbs_end)]
        serial = self.SERIAL.to_bytes(8, "big")
        assert self.tbs.count(serial) == 1
        self.serial_at = self.tbs.index(serial)
        name = self.NAME.encode()
        self.name_at = [i for i in range(len(self.tbs)) if self.tbs.startswith(name, i)]
        assert len(self.name_at) == 2, "name in subject and SAN"
        self.ca_key = ca.key

    def _sign(self, tbs: bytes) -> bytes:
        key = self.ca_key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key.sign(tbs, ec.ECDSA(hashes.SHA256()))

    def make(self, index: int) -> bytes:
        """The DER of leaf number ``index`` (distinct serial and name per index)."""
        tbs = bytearray(self.tbs)
        serial = (0x1000_0000_0000_0000 + index).to_bytes(8, "big")
        tbs[self.serial_at : self.serial_at + 8] = serial
        name = f"client-{index:07d}".encode()
        for at in self.name_at:
            tbs[at : at + len(name)] = name
        signature = self._sign(bytes(tbs))
        bits = tlv(0x03, b"\x00" + signature)
        return tlv(0x30, bytes(tbs) + self.algorithm + bits)

    def pool(self, count: int, start: int = 0) -> list[bytes]:
        return [self.make(start + i) for i in range(count)]


def padded_certificate(size: int, name: str) -> tuple[bytes, int]:
    """A well-formed certificate of about ``size`` bytes that chains to nothing (an unknown
    issuer), padded by an unknown non-critical extension; returns the DER and the offset of
    8 pad bytes that ``variant`` rewrites to make each copy distinct."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    marker = b"\xa5" * 8
    pad = marker + bytes(max(0, size - 700))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unknown issuer")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), pad), False
        )
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(Encoding.DER)
    return der, der.index(marker)


def variant(der: bytes, at: int, index: int) -> bytes:
    """Copy ``index`` of a ``padded_certificate`` (its signature no longer matches)."""
    return der[:at] + index.to_bytes(8, "big") + der[at + 8 :]
