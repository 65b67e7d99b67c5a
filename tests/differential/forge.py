"""Certificates the ``cryptography`` builder refuses to write: duplicate extensions,
undecodable extension values, invalid UTF-8 in names. Built by writing a placeholder with
the builder, patching the to-be-signed bytes, and signing them again with the issuer's key.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from originverify.devpki import PrivateKey

#: Extension OIDs of the same encoded length as 2.5.29.x, unused by any standard: the
#: builder writes them, ``patch`` renames them.
PLACEHOLDER_A = x509.ObjectIdentifier("2.5.29.98")
PLACEHOLDER_B = x509.ObjectIdentifier("2.5.29.99")


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def _skip_header(der: bytes, offset: int) -> tuple[int, int]:
    """(start of content, end of element) of the TLV at ``offset``."""
    first = der[offset + 1]
    if first < 0x80:
        return offset + 2, offset + 2 + first
    count = first & 0x7F
    size = int.from_bytes(der[offset + 2 : offset + 2 + count], "big")
    start = offset + 2 + count
    return start, start + size


def sign_tbs(tbs: bytes, template: x509.Certificate, key: PrivateKey) -> bytes:
    """A certificate with to-be-signed part ``tbs``, signed by ``key`` with the algorithm
    ``template`` names (the template was signed by the same key)."""
    der = template.public_bytes(Encoding.DER)
    content, _ = _skip_header(der, 0)
    _, tbs_end = _skip_header(der, content)
    _, alg_end = _skip_header(der, tbs_end)
    algorithm = der[tbs_end:alg_end]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(tbs)
    else:  # pragma: no cover
        raise TypeError(type(key))
    return _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))


def patch(cert: x509.Certificate, key: PrivateKey, *swaps: tuple[bytes, bytes]) -> bytes:
    """``cert`` with each ``(old, new)`` byte swap applied to its TBS, re-signed by ``key``."""
    tbs = cert.tbs_certificate_bytes
    for old, new in swaps:
        assert len(old) == len(new) and old in tbs, (old, new)
        tbs = tbs.replace(old, new)
    return sign_tbs(tbs, cert, key)


def oid_bytes(oid: x509.ObjectIdentifier) -> bytes:
    """The DER encoding (tag, length, body) of a 2.5.29.x OID."""
    arcs = [int(a) for a in oid.dotted_string.split(".")]
    assert arcs[:3] == [2, 5, 29] and arcs[3] < 128
    return bytes([0x06, 0x03, 0x55, 0x1D, arcs[3]])


def rename(placeholder: x509.ObjectIdentifier, real: x509.ObjectIdentifier) -> tuple[bytes, bytes]:
    """A swap turning the placeholder extension into ``real`` (e.g. a second SAN)."""
    return oid_bytes(placeholder), oid_bytes(real)


INVALID_UTF8_CN = "zz-invalid-utf8-cn"


def invalid_utf8(text: str = INVALID_UTF8_CN) -> tuple[bytes, bytes]:
    """A swap turning the UTF8String ``text`` into bytes that are not UTF-8."""
    old = text.encode()
    return old, b"\xff\xfe" + old[2:]
