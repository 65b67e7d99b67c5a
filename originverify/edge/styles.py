"""Header encoders: how each emulated edge writes the client certificate into a request.

One table per style, one small function per field, so a reader can compare a row with the edge's
documentation (``docs/edge.md`` and ``shared/reference/header-formats.md``). Encoders run once per
TLS connection: the result is reused for every request on that connection.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import quote

from cryptography import x509


class Style(Enum):
    """Which edge's header format the forwarder writes."""

    CLOUDFRONT_PASSTHROUGH = "cloudfront-passthrough"
    CLOUDFRONT_VIEWER = "cloudfront-viewer"
    #: Passthrough behind examples/cloudfront/sign-request.js: signs like that function.
    CLOUDFRONT_FUNCTION = "cloudfront-function"
    XFCC = "xfcc"
    ALB = "alb"


@dataclass(frozen=True)
class ClientCertificates:
    """What the client sent in its TLS Certificate message: the leaf, then the rest in TLS order."""

    leaf_der: bytes
    chain_der: tuple[bytes, ...] = ()
    leaf: x509.Certificate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "leaf", x509.load_der_x509_certificate(self.leaf_der))

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.leaf_der).hexdigest()


Header = tuple[str, str]
FieldEncoder = Callable[[ClientCertificates], str | None]

# ---------------------------------------------------------------------------------------------
# Field encoders
# ---------------------------------------------------------------------------------------------

# RFC 4514 already escapes its own specials; control characters and non-ASCII text would make
# an invalid or ambiguous HTTP field value, so they become RFC 4514 hexpairs of their UTF-8
# bytes (a valid RFC 4514 spelling of the same DN).
_UNSAFE_DN_CHARS = re.compile(r"[^\x20-\x7e]")


def _dn(name: x509.Name) -> str:
    text = name.rfc4514_string()
    return _UNSAFE_DN_CHARS.sub(
        lambda m: "".join(f"\\{b:02x}" for b in m.group().encode("utf-8")), text
    )


def sf_binary(der: bytes) -> str:
    """RFC 8941 byte sequence: standard base64 with padding, wrapped in colons."""
    return ":" + base64.b64encode(der).decode("ascii") + ":"


def pem(der: bytes) -> str:
    """RFC 7468 text, 64-character lines, as OpenSSL and cryptography write it."""
    b64 = base64.b64encode(der).decode("ascii")
    lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


def url_encoded_pem(ders: tuple[bytes, ...], safe: str = "") -> str:
    """PEM blocks concatenated and percent-encoded (nginx ``$ssl_client_escaped_cert`` rules)."""
    return quote("".join(pem(d) for d in ders), safe=safe)


def serial_colon_hex(cert: x509.Certificate) -> str:
    """CloudFront form: the serial's magnitude as lowercase hex bytes joined by ``:``."""
    n = cert.serial_number
    sign = "-" if n < 0 else ""
    n = abs(n)
    raw = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    return sign + raw.hex(":")


def validity(cert: x509.Certificate) -> str:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (
        f"NotBefore={cert.not_valid_before_utc.strftime(fmt)};"
        f"NotAfter={cert.not_valid_after_utc.strftime(fmt)}"
    )


def _leaf_sf(c: ClientCertificates) -> str:
    return sf_binary(c.leaf_der)


def _chain_sf(c: ClientCertificates) -> str | None:
    return ", ".join(sf_binary(d) for d in c.chain_der) if c.chain_der else None


def _sha256(c: ClientCertificates) -> str:
    return c.sha256_hex


def _serial(c: ClientCertificates) -> str:
    return serial_colon_hex(c.leaf)


def _subject(c: ClientCertificates) -> str:
    return _dn(c.leaf.subject)


def _issuer(c: ClientCertificates) -> str:
    return _dn(c.leaf.issuer)


def _present(_: ClientCertificates) -> str:
    return "1"


def _validity(c: ClientCertificates) -> str:
    return validity(c.leaf)


def _leaf_pem(c: ClientCertificates) -> str:
    return url_encoded_pem((c.leaf_der,))


def _alb_chain(c: ClientCertificates) -> str:
    # ALB documents "+", "=" and "/" as safe characters of this header; emitting them literally
    # keeps origins honest about path-style (not form-style) percent-decoding.
    return url_encoded_pem((c.leaf_der, *c.chain_der), safe="+=/")


# ---- XFCC (Envoy SANITIZE_SET with subject, cert, chain, uri and dns enabled) ----------------

_XFCC_BARE = re.compile(r"[!#$%&'()*+\-./0-9:<>?@A-Z\[\]^_`a-z{|}~]*")


def _xfcc_value(text: str, *, quoted: bool = False) -> str:
    """Bare when token-like, otherwise a quoted-string (Envoy writes ``\\"`` for a quote)."""
    text = "".join(c if 0x20 <= ord(c) < 0x7F else quote(c, safe="") for c in text)
    if not quoted and _XFCC_BARE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


SanType = type[x509.DNSName] | type[x509.UniformResourceIdentifier]


def _sans(cert: x509.Certificate, kind: SanType) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in ext.value.get_values_for_type(kind)]


def _xfcc(c: ClientCertificates) -> str:
    uris = _sans(c.leaf, x509.UniformResourceIdentifier)
    parts = [
        f"Hash={c.sha256_hex}",
        f'Cert="{_leaf_pem(c)}"',
        f'Chain="{url_encoded_pem((c.leaf_der, *c.chain_der))}"',
        f"Subject={_xfcc_value(_subject(c), quoted=True)}",
        f"URI={_xfcc_value(uris[0])}" if uris else "URI=",
        *(f"DNS={_xfcc_value(d)}" for d in _sans(c.leaf, x509.DNSName)),
    ]
    return ";".join(parts)


# ---------------------------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------------------------

_CLOUDFRONT_META: tuple[tuple[str, FieldEncoder], ...] = (
    ("CloudFront-Viewer-Cert-Present", _present),
    ("CloudFront-Viewer-Cert-Sha256", _sha256),
    ("CloudFront-Viewer-Cert-Serial-Number", _serial),
    ("CloudFront-Viewer-Cert-Subject", _subject),
    ("CloudFront-Viewer-Cert-Issuer", _issuer),
)

_WITH_CERT: dict[Style, tuple[tuple[str, FieldEncoder], ...]] = {
    # AWS's header table lists -Validity for passthrough too ("origin requests only").
    Style.CLOUDFRONT_PASSTHROUGH: (
        ("Client-Cert", _leaf_sf),
        ("Client-Cert-Chain", _chain_sf),
        *_CLOUDFRONT_META,
        ("CloudFront-Viewer-Cert-Validity", _validity),
    ),
    Style.CLOUDFRONT_VIEWER: (
        ("CloudFront-Viewer-Cert-Pem", _leaf_pem),
        *_CLOUDFRONT_META,
        ("CloudFront-Viewer-Cert-Validity", _validity),
    ),
    # What the examples/cloudfront origin request policy forwards (no Subject/Issuer).
    Style.CLOUDFRONT_FUNCTION: (
        ("Client-Cert", _leaf_sf),
        ("Client-Cert-Chain", _chain_sf),
        *_CLOUDFRONT_META[:3],
    ),
    Style.XFCC: (("x-forwarded-client-cert", _xfcc),),
    Style.ALB: (("X-Amzn-Mtls-Clientcert", _alb_chain),),
}

# What a request carries when the client presented no certificate (Envoy SANITIZE_SET and ALB
# simply omit their header; CloudFront says so explicitly).
_WITHOUT_CERT: dict[Style, tuple[Header, ...]] = {
    Style.CLOUDFRONT_PASSTHROUGH: (("CloudFront-Viewer-Cert-Present", "0"),),
    Style.CLOUDFRONT_VIEWER: (("CloudFront-Viewer-Cert-Present", "0"),),
    Style.CLOUDFRONT_FUNCTION: (("CloudFront-Viewer-Cert-Present", "0"),),
    Style.XFCC: (),
    Style.ALB: (),
}

# What a signing forwarder covers, per style (None: every header it set). The CloudFront
# Function sees the CloudFront-Viewer-Cert-* headers, never the certificate it forwards nor the
# origin custom header (CloudFront adds those after it): the origin binds Client-Cert through
# the signed SHA-256 (SignedEnvelope digest_binding). Same components, same order.
_SIGNED_NAMES: dict[Style, frozenset[bytes]] = {
    Style.CLOUDFRONT_FUNCTION: frozenset(
        name.lower().encode("ascii") for name, _ in _CLOUDFRONT_META[:3]
    ),
}


def signed_headers(style: Style, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers the signer covers for ``style``, from those the edge set."""
    names = _SIGNED_NAMES.get(style)
    if names is None:
        return headers
    return [(name, value) for name, value in headers if name.lower() in names]


# Every name any style may write, plus whole families an edge owns: an inbound copy of any of
# these is forged by definition and is removed whichever style is active.
OWNED_NAMES: frozenset[str] = frozenset(
    name.lower() for rows in _WITH_CERT.values() for name, _ in rows
) | frozenset(name.lower() for rows in _WITHOUT_CERT.values() for name, _ in rows)
OWNED_PREFIXES: tuple[str, ...] = ("cloudfront-viewer-cert-", "x-amzn-mtls-")


# Visible ASCII with inner spaces: valid for every HTTP parser, and what makes it safe for the
# proxy to serialise these values with plain byte joins, without per-request re-validation.
_SAFE_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def encode(style: Style, certs: ClientCertificates | None) -> list[Header]:
    """The certificate headers for one connection, in a fixed order; absent fields are skipped."""
    if certs is None:
        return list(_WITHOUT_CERT[style])
    headers: list[Header] = []
    for name, encoder in _WITH_CERT[style]:
        value = encoder(certs)
        if value is not None:
            if not _SAFE_VALUE.fullmatch(value):
                raise ValueError(f"{name}: encoder produced an unsafe header value")
            headers.append((name, value))
    return headers
