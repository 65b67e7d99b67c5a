"""A small DER toolkit for mutating certificates: parse to a TLV tree, change a node, encode
again (lengths recomputed), and re-sign the to-be-signed part so a mutation reaches past the
signature check into the parsers and policies behind it.

Deliberately independent of ``originverify`` and of any ASN.1 library: the tree is bytes and
tags only, so it can carry what no ASN.1 library would produce (a wrong tag, a duplicated
extension, invalid UTF-8 in a UTF8String).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

SEQUENCE, SET, INTEGER, BIT_STRING, OCTET_STRING, OID = 0x30, 0x31, 0x02, 0x03, 0x04, 0x06
UTF8, PRINTABLE, IA5, BMP, TELETEX = 0x0C, 0x13, 0x16, 0x1E, 0x14
UTC_TIME, GENERALIZED_TIME, BOOLEAN = 0x17, 0x18, 0x01
CONSTRUCTED = 0x20


class DERError(ValueError):
    """The bytes are not a TLV this toolkit can walk (the mutation is then skipped)."""


@dataclass
class Node:
    """One TLV: ``children`` for constructed tags, ``value`` for primitive ones."""

    tag: int
    value: bytes = b""
    children: list[Node] = field(default_factory=list)

    @property
    def constructed(self) -> bool:
        return bool(self.tag & CONSTRUCTED)

    def encode(self) -> bytes:
        body = b"".join(c.encode() for c in self.children) if self.constructed else self.value
        return bytes([self.tag]) + encode_length(len(body)) + body

    def walk(self, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Node]]:
        """Every node, depth first, with its path of child indexes from this one."""
        yield path, self
        for index, child in enumerate(self.children):
            yield from child.walk((*path, index))

    def at(self, path: tuple[int, ...]) -> Node:
        node = self
        for index in path:
            node = node.children[index]
        return node

    def copy(self) -> Node:
        return Node(self.tag, self.value, [c.copy() for c in self.children])


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _read(data: bytes, offset: int) -> tuple[int, int, int]:
    """``(tag, content start, content end)`` of the TLV at ``offset``."""
    if offset + 2 > len(data):
        raise DERError("truncated header")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DERError("high tag numbers are not walked")
    first = data[offset + 1]
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise DERError("unsupported length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise DERError("length past the end")
    return tag, start, end


def parse(data: bytes) -> Node:
    """The tree of one DER TLV; ``DERError`` if it is not exactly one well-formed TLV.

    BIT STRINGs and OCTET STRINGs are kept primitive (extension values are re-parsed on
    demand by ``inner``), so the tree always re-encodes to the same bytes.
    """
    node, end = _parse_at(data, 0)
    if end != len(data):
        raise DERError("trailing bytes")
    return node


def _parse_at(data: bytes, offset: int) -> tuple[Node, int]:
    tag, start, end = _read(data, offset)
    if not tag & CONSTRUCTED:
        return Node(tag, data[start:end]), end
    children = []
    position = start
    while position < end:
        child, position = _parse_at(data, position)
        children.append(child)
    if position != end:
        raise DERError("child overruns parent")
    return Node(tag, children=children), end


def inner(node: Node) -> Node | None:
    """An OCTET STRING's content as a tree (an extension's value), if it is one TLV."""
    try:
        return parse(node.value)
    except DERError:
        return None


# -- where things are in a Certificate ----------------------------------------------------
#   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
#   TBSCertificate ::= SEQUENCE { [0] version, serial, signature, issuer, validity,
#                                 subject, spki, [1]? [2]? [3] extensions }


@dataclass
class Cert:
    """A certificate as a tree, with named access to the TBS fields."""

    root: Node

    @classmethod
    def parse(cls, der: bytes) -> Cert:
        root = parse(der)
        if len(root.children) != 3 or root.children[0].tag != SEQUENCE:
            raise DERError("not a certificate shape")
        return cls(root)

    @property
    def tbs(self) -> Node:
        return self.root.children[0]

    def _offset(self) -> int:
        return 1 if self.tbs.children and self.tbs.children[0].tag == 0xA0 else 0

    def field(self, name: str) -> Node:
        fields = {"serial": 0, "signature": 1, "issuer": 2, "validity": 3, "subject": 4, "spki": 5}
        index = fields[name]
        return self.tbs.children[self._offset() + index]

    @property
    def extensions(self) -> Node | None:
        """The SEQUENCE OF Extension inside ``[3]``, if any."""
        for child in self.tbs.children:
            if child.tag == 0xA3 and child.children:
                return child.children[0]
        return None

    def copy(self) -> Cert:
        return Cert(self.root.copy())

    def encode(self) -> bytes:
        return self.root.encode()


def transplant(foreign: bytes, donor: bytes, keep_key: bool) -> Cert:
    """``foreign`` (any parseable certificate) moved under our PKI: issuer, validity and
    signature algorithms taken from ``donor`` (one of our certificates with the same issuer),
    and, unless ``keep_key``, subject and key too. Everything else (version, serial,
    extensions, unique IDs) stays as the foreign issuer wrote it, so its oddities reach the
    path builder and the policies once ``resign`` signs it with our issuer's key."""
    cert, ours = Cert.parse(foreign), Cert.parse(donor)
    names = ("issuer", "validity", "signature") if keep_key else (
        "issuer", "validity", "signature", "subject", "spki"
    )  # fmt: skip
    for name in names:
        target = cert.field(name)
        replacement = ours.field(name).copy()
        target.tag, target.value, target.children = (
            replacement.tag,
            replacement.value,
            replacement.children,
        )
    cert.root.children[1] = ours.root.children[1].copy()
    return cert


SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def resign(cert: Cert, key: SigningKey) -> bytes:
    """The certificate with its (mutated) TBS signed again by ``key``; the algorithm
    identifiers are left as they are, so an algorithm mutation still shows."""
    tbs = cert.tbs.encode()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(tbs)
    root = cert.root.copy()
    root.children[2] = Node(BIT_STRING, b"\x00" + signature)
    return root.encode()


Mutation = Callable[[Cert], None]
