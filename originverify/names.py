"""Distinguished names as parsed values: the subject/issuer pattern language, an RFC 4514
reader for the edges' DN claims, and a renderer that never raises.

A rule on a rendered DN string can be fooled by a value that contains the separators
(a single CN ``mallory,O=Admins`` renders as ``CN=mallory\\,O=Admins``, which the glob
``CN=*,O=Admins`` matches). So patterns are parsed once, at start-up, into RDNs of
``(attribute type, value glob)`` and compared with the certificate's parsed attributes: a
``*`` inside a value can only ever match inside that one value.

Pattern language (RFC 4514 spelling, most specific RDN first, as ``identity.subject``):

- ``,`` separates RDNs; the pattern covers the whole DN, in order. An RDN that is a lone
  ``*`` matches any number (zero or more) of whole RDNs: ``CN=alice,*``.
- ``+`` joins the attributes of one multi-valued RDN; they match as a set, and the
  certificate's RDN must have exactly those attributes (``CN=a+UID=b``).
- An attribute is ``TYPE=value``: a short name (``CN``, ``O``, ``OU``, ``C``, ``L``,
  ``ST``, ``STREET``, ``DC``, ``UID``, ``emailAddress``, ``serialNumber``, ...; case
  ignored) or a dotted OID (``2.5.4.3``).
- In a value, ``*`` matches any run of characters (of that value only); ``\\*`` is a
  literal star. ``\\,`` ``\\+`` ``\\\\`` ``\\"`` ``\\;`` ``\\<`` ``\\>`` ``\\=`` ``\\#``
  ``\\ `` escape themselves and ``\\XX`` is a UTF-8 byte in hex, as in RFC 4514.
  Unescaped ``"``, ``;``, ``<``, ``>``, a leading ``#`` and leading/trailing spaces are
  configuration errors; spaces after a ``,`` or ``+`` are ignored.
- Values compare case-sensitively, exactly as decoded from the certificate, with no
  Unicode normalisation: a Cyrillic ``а`` is not a Latin ``a``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .errors import ConfigurationError, Reason, VerificationError

#: A decoded DN: RDNs in RFC 4514 order (most specific first), each a tuple of
#: ``(dotted OID, value)``. Values are ``str`` (``bytes`` for bit-string attributes).
ParsedName = tuple[tuple[tuple[str, str | bytes], ...], ...]

UNDECODABLE: Final = "<undecodable name>"

_TYPES: Final[dict[str, ObjectIdentifier]] = {
    "cn": NameOID.COMMON_NAME,
    "commonname": NameOID.COMMON_NAME,
    "c": NameOID.COUNTRY_NAME,
    "l": NameOID.LOCALITY_NAME,
    "st": NameOID.STATE_OR_PROVINCE_NAME,
    "o": NameOID.ORGANIZATION_NAME,
    "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "street": NameOID.STREET_ADDRESS,
    "dc": NameOID.DOMAIN_COMPONENT,
    "uid": NameOID.USER_ID,
    "emailaddress": NameOID.EMAIL_ADDRESS,
    "e": NameOID.EMAIL_ADDRESS,
    "serialnumber": NameOID.SERIAL_NUMBER,
    "sn": NameOID.SURNAME,
    "gn": NameOID.GIVEN_NAME,
    "givenname": NameOID.GIVEN_NAME,
    "title": NameOID.TITLE,
    "initials": NameOID.INITIALS,
    "generationqualifier": NameOID.GENERATION_QUALIFIER,
    "dnqualifier": NameOID.DN_QUALIFIER,
    "pseudonym": NameOID.PSEUDONYM,
    "postalcode": NameOID.POSTAL_CODE,
    "businesscategory": NameOID.BUSINESS_CATEGORY,
    "organizationidentifier": NameOID.ORGANIZATION_IDENTIFIER,
    "jurisdictionc": NameOID.JURISDICTION_COUNTRY_NAME,
    "jurisdictionst": NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME,
    "jurisdictionl": NameOID.JURISDICTION_LOCALITY_NAME,
}
_OID: Final = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")
_TYPE: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9][0-9.]*")
_SELF_ESCAPED: Final = frozenset(',+"\\<>;=#* ')
_FORBIDDEN: Final = frozenset('";<>')
_PLAIN: Final = re.compile(r'[^,+\\"#;<>* ]+')  # a run needing no per-character care
_STAR: Final = object()
_HEX_FORM: Final = object()  # an RFC 4514 ``#<BER hex>`` value
MAX_RDN_ATTRIBUTES: Final = 4


def attribute_oid(name: str) -> str | None:
    """Dotted OID of a short name or dotted OID string; ``None`` if unknown."""
    if _OID.fullmatch(name):
        return name
    oid = _TYPES.get(name.lower())
    return oid.dotted_string if oid is not None else None


# -- reading names from certificates, never raising ----------------------------------------


def parsed(name: x509.Name) -> ParsedName:
    """``name`` as ``ParsedName`` (RFC 4514 order)."""
    return tuple(tuple((a.oid.dotted_string, a.value) for a in rdn) for rdn in reversed(name.rdns))


def parsed_subject(certificate: x509.Certificate, issuer: bool = False) -> ParsedName | None:
    """The subject (or issuer) as parsed values; ``None`` when cryptography cannot decode
    it (e.g. invalid UTF-8 in a UTF8String): such a name matches no pattern."""
    try:
        return parsed(certificate.issuer if issuer else certificate.subject)
    except Exception:  # attacker-supplied bytes: any decoding failure means "no name"
        return None


def require_decodable(certificate: x509.Certificate, der: bytes | None = None) -> None:
    """Refuse a leaf whose subject or issuer cannot be decoded (``malformed_certificate``):
    every such certificate would otherwise share one rendering, ``UNDECODABLE``, and an
    application keying accounts on ``identity.subject`` would merge them.

    With ``der``, the names are read from a throwaway parse of it: pyca keeps the ``Name``
    objects it builds on the certificate, which the result cache keeps (~2 KB an entry)."""
    if der is not None:
        certificate = x509.load_der_x509_certificate(der)
    for issuer in (False, True):
        if parsed_subject(certificate, issuer) is None:
            raise VerificationError(
                Reason.MALFORMED_CERTIFICATE,
                f"leaf {'issuer' if issuer else 'subject'} cannot be decoded",
            )


def render(certificate: x509.Certificate, issuer: bool = False) -> str:
    """RFC 4514 string of the subject (or issuer); ``UNDECODABLE`` instead of raising."""
    try:
        name = certificate.issuer if issuer else certificate.subject
        return name.rfc4514_string()
    except Exception:  # a renderer for logs and identities must not raise
        return UNDECODABLE


def render_name(name: x509.Name) -> str:
    """RFC 4514 string of ``name`` for logs and messages; never raises."""
    try:
        return name.rfc4514_string()
    except Exception:  # see render()
        return UNDECODABLE


# -- the pattern language ------------------------------------------------------------------

Value = str | re.Pattern[str]


@dataclass(frozen=True, slots=True)
class DNPattern:
    """A compiled subject/issuer pattern; ``rdns`` holds ``None`` for a ``*`` RDN."""

    text: str
    rdns: tuple[tuple[tuple[str, Value], ...] | None, ...]

    @classmethod
    def parse(cls, text: str) -> DNPattern:
        try:
            return cls(text, tuple(_compile_rdn(rdn) for rdn in _split(text)))
        except ValueError as exc:
            raise ConfigurationError(f"DN pattern {text!r}: {exc}") from None

    def matches(self, name: ParsedName | None) -> bool:
        if name is None:
            return False
        return _match_sequence(self.rdns, name)


def _split(text: str, globs: bool = True) -> list[list[tuple[str, list[str | object]]]]:
    """RDNs of ``(type, value parts)``; a part is text or ``_STAR``; a lone ``*`` RDN is
    ``[]``. Escapes are resolved here, so the matcher never sees them. ``globs=False``
    reads plain RFC 4514 (an edge's DN claim), where ``*`` is an ordinary character."""
    if text == "":
        return []
    rdns: list[list[tuple[str, list[str | object]]]] = []
    pos, size = 0, len(text)
    while True:
        rdn: list[tuple[str, list[str | object]]] = []
        while True:
            while pos < size and text[pos] == " ":
                pos += 1
            lone = text[pos + 1 : pos + 2] in ("", ",")
            if globs and text.startswith("*", pos) and lone:
                if rdn:
                    raise ValueError("'*' stands for whole RDNs and cannot join with '+'")
                pos += 1
                break
            match = _TYPE.match(text, pos)
            if match is None or not text.startswith("=", match.end()):
                raise ValueError(f"expected TYPE=value at position {pos}")
            pos, parts = _value(text, match.end() + 1, globs)
            rdn.append((match.group(0), parts))
            if pos < size and text[pos] == "+":
                pos += 1
                continue
            break
        rdns.append(rdn)
        if pos == size:
            return rdns
        if text[pos] != ",":
            raise ValueError(f"unexpected {text[pos]!r} at position {pos}")
        pos += 1


def _value(text: str, pos: int, globs: bool) -> tuple[int, list[str | object]]:
    parts: list[str | object] = []
    chars: list[str] = []
    pending = bytearray()
    start = pos

    def flush_bytes() -> None:
        if pending:
            try:
                chars.append(pending.decode("utf-8"))
            except UnicodeDecodeError:
                raise ValueError("\\XX escapes are not valid UTF-8") from None
            pending.clear()

    size = len(text)
    while pos < size and text[pos] not in ",+":
        plain = _PLAIN.match(text, pos)
        if plain is not None:
            flush_bytes()
            chars.append(plain.group())
            pos = plain.end()
            continue
        ch = text[pos]
        if ch == "\\":
            nxt = text[pos + 1 : pos + 3]
            if len(nxt) == 2 and all(c in "0123456789abcdefABCDEF" for c in nxt):
                pending.append(int(nxt, 16))
                pos += 3
                continue
            flush_bytes()
            if not nxt or nxt[0] not in _SELF_ESCAPED:
                raise ValueError(f"bad escape at position {pos}")
            chars.append(nxt[0])
            pos += 2
            continue
        flush_bytes()
        if ch == "#" and pos == start:
            if globs:
                raise ValueError("'#<hex>' values are not supported; write \\# for a '#'")
            parts.append(_HEX_FORM)
        elif ch in _FORBIDDEN:
            raise ValueError(f"unescaped {ch!r} at position {pos}")
        elif ch == "*" and globs:
            parts.extend(("".join(chars), _STAR))
            chars.clear()
        else:
            if ch == " " and (pos == start or pos + 1 == size or text[pos + 1] in ",+"):
                raise ValueError(f"unescaped leading/trailing space at position {pos}")
            chars.append(ch)
        pos += 1
    flush_bytes()
    parts.append("".join(chars))
    return pos, parts


def _compile_rdn(rdn: list[tuple[str, list[str | object]]]) -> tuple[tuple[str, Value], ...] | None:
    if not rdn:
        return None
    if len(rdn) > MAX_RDN_ATTRIBUTES:
        raise ValueError(f"more than {MAX_RDN_ATTRIBUTES} attributes in one RDN")
    out: list[tuple[str, Value]] = []
    for type_name, parts in rdn:
        oid = attribute_oid(type_name)
        if oid is None:
            raise ValueError(f"unknown attribute type {type_name!r} (use a dotted OID)")
        if _STAR not in parts:
            out.append((oid, "".join(p for p in parts if isinstance(p, str))))
        else:
            regex = "".join(".*" if p is _STAR else re.escape(str(p)) for p in parts)
            out.append((oid, re.compile(regex, re.DOTALL)))
    return tuple(out)


def _value_matches(pattern: Value, value: str | bytes) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(pattern, str):
        return pattern == value
    return pattern.fullmatch(value) is not None


def _rdn_matches(
    pattern: tuple[tuple[str, Value], ...], rdn: tuple[tuple[str, str | bytes], ...]
) -> bool:
    """Exactly the pattern's attributes, as a set: a perfect matching (patterns hold at most
    ``MAX_RDN_ATTRIBUTES``, so plain backtracking is cheap)."""
    if len(pattern) != len(rdn):
        return False
    if len(rdn) == 1:
        return pattern[0][0] == rdn[0][0] and _value_matches(pattern[0][1], rdn[0][1])
    used = [False] * len(rdn)

    def assign(i: int) -> bool:
        if i == len(pattern):
            return True
        oid, value = pattern[i]
        for j, (got_oid, got) in enumerate(rdn):
            if not used[j] and got_oid == oid and _value_matches(value, got):
                used[j] = True
                if assign(i + 1):
                    return True
                used[j] = False
        return False

    return assign(0)


def _match_sequence(
    pattern: Sequence[tuple[tuple[str, Value], ...] | None], name: ParsedName
) -> bool:
    """Glob over RDNs (``None`` = any run of whole RDNs): the linear two-pointer algorithm
    with one backtrack point, O(len(pattern) * len(name)) at worst."""
    p = n = 0
    star_p, star_n = -1, 0
    while n < len(name):
        if p < len(pattern) and pattern[p] is None:
            star_p, star_n = p, n
            p += 1
        elif p < len(pattern) and _rdn_matches(pattern[p], name[n]):  # type: ignore[arg-type]
            p += 1
            n += 1
        elif star_p != -1:
            p = star_p + 1
            star_n += 1
            n = star_n
        else:
            return False
    while p < len(pattern) and pattern[p] is None:
        p += 1
    return p == len(pattern)


# -- RFC 4514 / RFC 2253 DN strings from edges ---------------------------------------------


def read_dn_claim(text: str) -> ParsedName | None:
    """An edge's RFC 2253 DN string as ``ParsedName``, or ``None`` when it holds anything this
    reader cannot compare with the certificate (``#``-hex values, unknown type names).

    Raises ``ValueError`` when the string is not RFC 4514 at all.
    """
    if text == "":
        return ()
    if not text.isascii():
        text = _as_utf8(text)
    if not _NEEDS_CARE.search(text):
        simple = _read_simple_dn(text)
        if simple is not _NOT_SIMPLE:
            return simple  # type: ignore[return-value]
    rdns: list[tuple[tuple[str, str | bytes], ...]] = []
    for rdn in _split(text, globs=False):
        attrs: list[tuple[str, str | bytes]] = []
        for type_name, parts in rdn:
            oid = attribute_oid(type_name)
            if oid is None or _HEX_FORM in parts:
                return None
            value = "".join(p for p in parts if isinstance(p, str))
            attrs.append((oid, value))
        rdns.append(tuple(attrs))
    return tuple(rdns)


def _as_utf8(text: str) -> str:
    """Header values arrive as octets mapped one-to-one to code points (latin-1); an edge
    that writes UTF-8 unescaped (OpenSSL without ``ESC_MSB``: Apache) means those octets as
    UTF-8. Text that is not such octets, or not valid UTF-8, is taken as it is."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


_NEEDS_CARE: Final = re.compile(r'[\\"#;<>+]')


_NOT_SIMPLE: Final = object()


def _read_simple_dn(text: str) -> ParsedName | object | None:
    """The common case, no escapes and no multi-valued RDNs, without the character loop;
    ``_NOT_SIMPLE`` sends anything unusual to the full reader (which explains errors)."""
    rdns: list[tuple[tuple[str, str | bytes], ...]] = []
    for part in text.split(","):
        type_name, eq, value = part.partition("=")
        type_name = type_name.lstrip(" ")
        if not eq or not _TYPE.fullmatch(type_name) or value != value.strip(" "):
            return _NOT_SIMPLE
        oid = attribute_oid(type_name)
        if oid is None:
            return None
        rdns.append(((oid, value),))
    return tuple(rdns)


def same_name(claimed: ParsedName, actual: ParsedName) -> bool:
    """Same RDNs in the same order, each the same set of ``(type, value)``."""
    if len(claimed) != len(actual):
        return False
    return all(
        sorted(c, key=_sort_key) == sorted(a, key=_sort_key)
        for c, a in zip(claimed, actual, strict=True)
    )


def _sort_key(attr: tuple[str, str | bytes]) -> tuple[str, str]:
    oid, value = attr
    return oid, value if isinstance(value, str) else "#" + value.hex()
