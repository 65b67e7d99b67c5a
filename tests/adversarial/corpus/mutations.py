"""Named, TLV-aware mutations of a valid certificate, and the byte-level damage a proxy or an
attacker can do to any TLV.

``FIELD_MUTATIONS`` change one field of the to-be-signed part (version, serial, names,
validity, extensions, key, algorithms); the corpus builds each one twice: re-signed by the
real issuer (the mutation reaches the parsers and policies behind the signature check) and
not re-signed (the signature no longer matches: it must never be accepted).
``byte_mutations`` damages the encoding of one node (tag, length, truncation) anywhere in the
certificate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .der import (
    BIT_STRING,
    BMP,
    BOOLEAN,
    GENERALIZED_TIME,
    IA5,
    INTEGER,
    OCTET_STRING,
    OID,
    PRINTABLE,
    SEQUENCE,
    SET,
    TELETEX,
    UTC_TIME,
    UTF8,
    Cert,
    DERError,
    Mutation,
    Node,
    inner,
    parse,
)

CN = bytes.fromhex("550403")
SAN, BASIC_CONSTRAINTS, KEY_USAGE = (bytes.fromhex(h) for h in ("551d11", "551d13", "551d0f"))
EKU, AKI, SKI = (bytes.fromhex(h) for h in ("551d25", "551d23", "551d0e"))
NAME_CONSTRAINTS = bytes.fromhex("551d1e")
UNKNOWN_OID = bytes.fromhex("2a0304")  # 1.2.3.4
HUGE_OID = bytes.fromhex("2a") + b"\xff" * 40 + b"\x01"  # an arc of ~280 bits
ECDSA_SHA256 = bytes.fromhex("2a8648ce3d040302")
ECDSA_SHA1 = bytes.fromhex("2a8648ce3d0401")
MD5_RSA = bytes.fromhex("2a864886f70d010104")
SECP256K1 = bytes.fromhex("2b8104000a")
BRAINPOOL_P256 = bytes.fromhex("2b2403030208010107")


def _attribute_values(name: Node, oid: bytes) -> Iterator[Node]:
    for rdn in name.children:
        for attribute in rdn.children:
            if len(attribute.children) == 2 and attribute.children[0].value == oid:
                yield attribute.children[1]


def _cn(cert: Cert, which: str = "subject") -> Node:
    return next(_attribute_values(cert.field(which), CN))


def _extension(cert: Cert, oid: bytes) -> Node:
    extensions = cert.extensions
    if extensions is None:
        raise DERError("no extensions")
    for extension in extensions.children:
        if extension.children and extension.children[0].value == oid:
            return extension
    raise DERError(f"no extension {oid.hex()}")


def _ext_value(cert: Cert, oid: bytes) -> Node:
    return _extension(cert, oid).children[-1]


def _set_ext_value(cert: Cert, oid: bytes, value: Node) -> None:
    _extension(cert, oid).children[-1] = Node(OCTET_STRING, value.encode())


def _add_extension(cert: Cert, oid: bytes, value: bytes, critical: bool) -> None:
    extensions = cert.extensions
    assert extensions is not None
    children = [Node(OID, oid)]
    if critical:
        children.append(Node(BOOLEAN, b"\xff"))
    children.append(Node(OCTET_STRING, value))
    extensions.children.append(Node(SEQUENCE, children=children))


# -- version -------------------------------------------------------------------------------


def _version(value: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        cert.tbs.children[0].children[0].value = value

    return mutate


def _no_version(cert: Cert) -> None:
    del cert.tbs.children[0]  # v1 while extensions are present


# -- serial --------------------------------------------------------------------------------


def _serial(value: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        cert.field("serial").value = value

    return mutate


# -- names ---------------------------------------------------------------------------------


def _cn_bytes(tag: int, value: bytes, which: str = "subject") -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        node = _cn(cert, which)
        node.tag, node.value = tag, value

    return mutate


def _empty_subject(cert: Cert) -> None:
    cert.field("subject").children = []


def _empty_rdn(cert: Cert) -> None:
    cert.field("subject").children.append(Node(SET))


def _multi_valued_cn(cert: Cert) -> None:
    subject = cert.field("subject")
    rdn = subject.children[-1]
    second = rdn.children[0].copy()
    second.children[1].value = b"admin"
    rdn.children.append(second)


def _two_cns(cert: Cert) -> None:
    subject = cert.field("subject")
    extra = subject.children[-1].copy()
    extra.children[0].children[1].value = b"admin"
    subject.children.append(extra)


def _unknown_attribute(cert: Cert) -> None:
    cert.field("subject").children.append(
        Node(SET, children=[Node(SEQUENCE, children=[Node(OID, HUGE_OID), Node(UTF8, b"x")])])
    )


def _attribute_not_a_string(cert: Cert) -> None:
    node = _cn(cert)
    node.tag, node.value = SEQUENCE, b""
    node.children = []


def _long_subject(cert: Cert) -> None:
    subject = cert.field("subject")
    template = subject.children[-1]
    for index in range(200):
        rdn = template.copy()
        rdn.children[0].children[1].value = f"ou{index}".encode() * 10
        subject.children.append(rdn)


# -- validity ------------------------------------------------------------------------------


def _time(which: int, tag: int, text: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        node = cert.field("validity").children[which]
        node.tag, node.value = tag, text

    return mutate


def _generalized_for_utc(cert: Cert) -> None:
    for node in cert.field("validity").children:
        if node.tag == UTC_TIME:
            node.tag, node.value = GENERALIZED_TIME, b"20" + node.value


def _swap_validity(cert: Cert) -> None:
    validity = cert.field("validity")
    validity.children.reverse()


# -- extensions ----------------------------------------------------------------------------


def _duplicate(oid: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        extension = _extension(cert, oid)
        assert cert.extensions is not None
        cert.extensions.children.append(extension.copy())

    return mutate


def _unknown_critical(cert: Cert) -> None:
    _add_extension(cert, UNKNOWN_OID, b"\x05\x00", critical=True)


def _unknown_noncritical_garbage(cert: Cert) -> None:
    _add_extension(cert, UNKNOWN_OID, b"\xff\xff\xff", critical=False)


def _explicit_false_critical(cert: Cert) -> None:
    extension = _extension(cert, SKI)
    extension.children.insert(1, Node(BOOLEAN, b"\x00"))  # DER forbids encoding the default


def _garbage_value(oid: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        _ext_value(cert, oid).value = b"\x30\x03\x02\x01"

    return mutate


def _empty_extensions(cert: Cert) -> None:
    extensions = cert.extensions
    assert extensions is not None
    extensions.children = []


def _san_entry(tag: int, value: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        san = inner(_ext_value(cert, SAN))
        if san is None:
            raise DERError("SAN value is not one TLV")
        san.children.append(Node(tag, value))
        _set_ext_value(cert, SAN, san)

    return mutate


def _empty_san(cert: Cert) -> None:
    _set_ext_value(cert, SAN, Node(SEQUENCE))


def _leaf_is_ca(cert: Cert) -> None:
    value = Node(SEQUENCE, children=[Node(BOOLEAN, b"\xff")])
    _set_ext_value(cert, BASIC_CONSTRAINTS, value)


def _key_usage_bits(bits: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        _set_ext_value(cert, KEY_USAGE, Node(BIT_STRING, bits))

    return mutate


def _empty_eku(cert: Cert) -> None:
    _set_ext_value(cert, EKU, Node(SEQUENCE))


def _name_constraints_on_leaf(cert: Cert) -> None:
    subtree = Node(SEQUENCE, children=[Node(0x82, b"example.org")])
    value = Node(SEQUENCE, children=[Node(0xA0, children=[subtree])])
    _add_extension(cert, NAME_CONSTRAINTS, value.encode(), critical=True)


def _unique_ids(cert: Cert) -> None:
    # issuerUniqueID [1] and subjectUniqueID [2] before the extensions.
    position = len(cert.tbs.children) - 1
    cert.tbs.children[position:position] = [Node(0x81, b"\x00\x01"), Node(0x82, b"\x00\x02")]


# -- key and algorithms ---------------------------------------------------------------------


def _spki_curve(oid: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        spki = cert.tbs.children[cert._offset() + 5]
        spki.children[0].children[1].value = oid

    return mutate


def _spki_point(value: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        spki = cert.tbs.children[cert._offset() + 5]
        spki.children[1].value = value

    return mutate


def _spki_algorithm(oid: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        spki = cert.tbs.children[cert._offset() + 5]
        spki.children[0].children[0].value = oid

    return mutate


RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")


def _rsa_key(modulus: bytes | None = None, exponent: bytes | None = None) -> Mutation:
    """Change the RSAPublicKey inside an RSA SPKI (not applicable to other keys)."""

    def mutate(cert: Cert) -> None:
        spki = cert.field("spki")
        if spki.children[0].children[0].value != RSA_ENCRYPTION:
            raise DERError("not an RSA key")
        key = inner_bits(spki.children[1])
        if modulus is not None:
            key.children[0].value = modulus
        if exponent is not None:
            key.children[1].value = exponent
        spki.children[1] = Node(BIT_STRING, b"\x00" + key.encode())

    return mutate


def inner_bits(node: Node) -> Node:
    """A BIT STRING's content (after the unused-bits byte) as a tree."""
    try:
        return parse(node.value[1:])
    except DERError as exc:
        raise DERError("BIT STRING content is not one TLV") from exc


def _rsa_params_absent(cert: Cert) -> None:
    algorithm = cert.field("spki").children[0]
    if algorithm.children[0].value != RSA_ENCRYPTION:
        raise DERError("not an RSA key")
    del algorithm.children[1:]


def _inner_algorithm(oid: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        cert.field("signature").children[0].value = oid

    return mutate


def _both_algorithms(oid: bytes) -> Callable[[Cert], None]:
    def mutate(cert: Cert) -> None:
        cert.field("signature").children[0].value = oid
        cert.root.children[1].children[0].value = oid

    return mutate


def _algorithm_null_params(cert: Cert) -> None:
    for algorithm in (cert.field("signature"), cert.root.children[1]):
        algorithm.children.append(Node(0x05, b""))


INVALID_UTF8 = (b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"caf\xe9", b"a\x80b")

#: name → the mutation of the to-be-signed part (raises ``DERError`` if not applicable).
FIELD_MUTATIONS: dict[str, Callable[[Cert], None]] = {
    "version-v4": _version(b"\x03"),
    "version-127": _version(b"\x7f"),
    "version-negative": _version(b"\xff"),
    "version-empty-integer": _version(b""),
    "version-non-minimal": _version(b"\x00\x02"),
    "version-v2-with-extensions": _version(b"\x01"),
    "version-absent-with-extensions": _no_version,
    "serial-negative": _serial(b"\x80\x01"),
    "serial-zero": _serial(b"\x00"),
    "serial-empty": _serial(b""),
    "serial-non-minimal": _serial(b"\x00\x01"),
    "serial-21-bytes": _serial(b"\x7f" * 21),
    "serial-64-bytes": _serial(b"\x01" * 64),
    **{f"cn-invalid-utf8-{i}": _cn_bytes(UTF8, v) for i, v in enumerate(INVALID_UTF8)},
    "issuer-cn-invalid-utf8": _cn_bytes(UTF8, b"\xff\xfe", "issuer"),
    "cn-nul": _cn_bytes(UTF8, b"alice\x00.evil"),
    "cn-printable-bad-chars": _cn_bytes(PRINTABLE, b"alice@*&"),
    "cn-bmp-odd-length": _cn_bytes(BMP, b"\x00a\x00"),
    "cn-bmp-surrogate": _cn_bytes(BMP, b"\xd8\x00"),
    "cn-universal-string-bad-length": _cn_bytes(0x1C, b"\x00\x00\x00a\x00"),
    "cn-teletex-high-bytes": _cn_bytes(TELETEX, b"\xff\xfe\xfd"),
    "cn-ia5-high-bytes": _cn_bytes(IA5, b"al\xefce"),
    "cn-unknown-string-tag": _cn_bytes(0x15, b"alice"),
    "cn-empty": _cn_bytes(UTF8, b""),
    "cn-rfc4514-specials": _cn_bytes(UTF8, b"mallory,O=Admins+CN=root\\"),
    "cn-control-chars": _cn_bytes(UTF8, b"alice\r\nX-Forged: 1\x1b[31m"),
    "cn-not-a-string": _attribute_not_a_string,
    "subject-empty": _empty_subject,
    "subject-empty-rdn": _empty_rdn,
    "subject-multi-valued-cn": _multi_valued_cn,
    "subject-two-cns": _two_cns,
    "subject-unknown-huge-oid-attribute": _unknown_attribute,
    "subject-200-rdns": _long_subject,
    "validity-generalized-before-2050": _generalized_for_utc,
    "validity-utc-month-13": _time(0, UTC_TIME, b"991332000000Z"),
    "validity-utc-no-z": _time(0, UTC_TIME, b"200101000000"),
    "validity-utc-offset": _time(0, UTC_TIME, b"200101000000+0100"),
    "validity-utc-no-seconds": _time(0, UTC_TIME, b"2001010000Z"),
    "validity-utc-letters": _time(1, UTC_TIME, b"ABCDEFGHIJKLZ"),
    "validity-utc-empty": _time(1, UTC_TIME, b""),
    "validity-generalized-fraction": _time(1, GENERALIZED_TIME, b"20991231235959.999Z"),
    "validity-generalized-year-9999": _time(1, GENERALIZED_TIME, b"99991231235959Z"),
    "validity-generalized-feb-30": _time(1, GENERALIZED_TIME, b"20990230000000Z"),
    "validity-generalized-leap-second": _time(1, GENERALIZED_TIME, b"20991231235960Z"),
    "validity-time-as-integer": _time(0, INTEGER, b"\x01"),
    "validity-not-after-before-not-before": _swap_validity,
    "validity-expired-1950": _time(1, UTC_TIME, b"500101000000Z"),
    **{
        f"duplicate-{name}": _duplicate(oid)
        for name, oid in (
            ("san", SAN),
            ("basic-constraints", BASIC_CONSTRAINTS),
            ("key-usage", KEY_USAGE),
            ("eku", EKU),
            ("aki", AKI),
            ("ski", SKI),
        )
    },
    "unknown-critical-extension": _unknown_critical,
    "unknown-extension-garbage": _unknown_noncritical_garbage,
    "critical-false-encoded": _explicit_false_critical,
    **{
        f"garbage-{name}": _garbage_value(oid)
        for name, oid in (
            ("san", SAN),
            ("basic-constraints", BASIC_CONSTRAINTS),
            ("key-usage", KEY_USAGE),
            ("eku", EKU),
            ("aki", AKI),
        )
    },
    "extensions-empty-sequence": _empty_extensions,
    "san-empty": _empty_san,
    "san-dns-high-bytes": _san_entry(0x82, b"caf\xe9.example"),
    "san-dns-nul": _san_entry(0x82, b"a.example\x00.evil"),
    "san-uri-invalid-utf8": _san_entry(0x86, b"spiffe://example.org/\xff"),
    "san-uri-spiffe-dotdot": _san_entry(0x86, b"spiffe://example.org/device/../admin"),
    "san-email-high-bytes": _san_entry(0x81, b"al\xefce@example.org"),
    "san-ip-5-bytes": _san_entry(0x87, b"\x7f\x00\x00\x01\x01"),
    "san-other-name-garbage": _san_entry(0xA0, b"\x06\x03\x2a\x03\x04\xa0\x01\x00"),
    "san-registered-id-huge": _san_entry(0x88, HUGE_OID),
    "san-x400-address": _san_entry(0xA3, b"\x30\x00"),
    "san-unknown-tag": _san_entry(0x89, b"x"),
    "leaf-basic-constraints-ca": _leaf_is_ca,
    "key-usage-unused-bits-8": _key_usage_bits(b"\x08\x80"),
    "key-usage-empty-bitstring": _key_usage_bits(b""),
    "key-usage-cert-sign": _key_usage_bits(b"\x02\x84"),
    "eku-empty": _empty_eku,
    "name-constraints-on-leaf": _name_constraints_on_leaf,
    "unique-ids-v3": _unique_ids,
    "spki-curve-secp256k1": _spki_curve(SECP256K1),
    "spki-curve-brainpool": _spki_curve(BRAINPOOL_P256),
    "spki-curve-unknown": _spki_curve(UNKNOWN_OID),
    "spki-point-garbage": _spki_point(b"\x00\x04" + b"\x01" * 64),
    "spki-point-empty": _spki_point(b""),
    "spki-point-unused-bits": _spki_point(b"\x07\x04"),
    "spki-algorithm-unknown": _spki_algorithm(UNKNOWN_OID),
    "spki-algorithm-dsa": _spki_algorithm(bytes.fromhex("2a8648ce380401")),
    "spki-algorithm-rsa": _spki_algorithm(bytes.fromhex("2a864886f70d010101")),
    "sigalg-inner-mismatch": _inner_algorithm(ECDSA_SHA1),
    "sigalg-both-md5-rsa": _both_algorithms(MD5_RSA),
    "sigalg-both-unknown": _both_algorithms(UNKNOWN_OID),
    "sigalg-null-params": _algorithm_null_params,
    "rsa-modulus-zero": _rsa_key(modulus=b"\x00"),
    "rsa-modulus-negative": _rsa_key(modulus=b"\x80" + b"\x01" * 255),
    "rsa-modulus-even": _rsa_key(modulus=b"\x00\xc0" + b"\x00" * 255),
    "rsa-modulus-512-bits": _rsa_key(modulus=b"\x00\xc1" + b"\x01" * 63),
    "rsa-modulus-empty": _rsa_key(modulus=b""),
    "rsa-exponent-one": _rsa_key(exponent=b"\x01"),
    "rsa-exponent-even": _rsa_key(exponent=b"\x01\x00\x00"),
    "rsa-exponent-negative": _rsa_key(exponent=b"\xff"),
    "rsa-exponent-huge": _rsa_key(exponent=b"\x01" * 300),
    "rsa-exponent-zero": _rsa_key(exponent=b"\x00"),
    "rsa-params-absent": _rsa_params_absent,
}


# -- byte-level damage ---------------------------------------------------------------------


def _offsets(node: Node, start: int = 0) -> Iterator[tuple[int, int, Node]]:
    """``(offset, header length, node)`` of every node in the encoding of ``node``."""
    body = node.encode()
    header = len(body) - (
        len(b"".join(c.encode() for c in node.children)) if node.constructed else len(node.value)
    )
    yield start, header, node
    position = start + header
    for child in node.children:
        yield from _offsets(child, position)
        position += len(child.encode())


def byte_mutations(der: bytes) -> Iterator[tuple[str, bytes]]:
    """Each node's tag flipped, length off by one either way, length in a non-minimal or
    indefinite form, and the encoding truncated inside the node."""
    root = Cert.parse(der).root
    for index, (offset, header, node) in enumerate(_offsets(root)):
        tag, body = der[offset], der[offset + header : offset + len(node.encode())]
        rest = der[offset + len(node.encode()) :]
        head = der[:offset]
        yield f"n{index}-tag-constructed-bit", _with_byte(der, offset, tag ^ 0x20)
        yield f"n{index}-tag-plus-one", _with_byte(der, offset, (tag + 1) & 0xFF)
        yield f"n{index}-tag-null", _with_byte(der, offset, 0x05)
        if header == 2:
            yield f"n{index}-length-plus-one", _with_byte(der, offset + 1, der[offset + 1] + 1)
            if der[offset + 1]:
                yield f"n{index}-length-minus-one", _with_byte(der, offset + 1, der[offset + 1] - 1)
            long_form = bytes([tag, 0x81, len(body)]) + body
            yield f"n{index}-length-non-minimal", head + long_form + rest
            if node.constructed:
                indefinite = bytes([tag, 0x80]) + body + b"\x00\x00"
                yield f"n{index}-length-indefinite", head + indefinite + rest
        yield f"n{index}-truncated", der[: offset + header + len(body) // 2]


def _with_byte(der: bytes, offset: int, value: int) -> bytes:
    return der[:offset] + bytes([value & 0xFF]) + der[offset + 1 :]


__all__ = ["FIELD_MUTATIONS", "byte_mutations"]
