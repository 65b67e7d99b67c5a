"""The certificate encodings edges put in headers, and one format built from them.

Most edges differ only in *which* headers they write and *how* each certificate is spelled:
URL-encoded PEM (ALB, nginx, Envoy), bare base64 DER (Traefik, HAProxy, Azure, Caddy), PEM
with its line breaks turned into spaces (Apache) or folded with tabs (nginx's deprecated
``$ssl_client_cert``). ``EncodedCertificate`` combines one encoding, the header names and a
claims table; each edge family module only fills in its preset.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field, replace

from ..errors import Reason, VerificationError
from ..headers import Headers
from .base import (
    CertificateFormat,
    ForwardedCertificate,
    Limits,
    check_chain_count,
    single_value,
    strict_b64decode,
)
from .claims import NO_CLAIM_HEADERS, ClaimHeaders
from .pem import BEGIN, percent_decode, split_pem

#: What every URL-encoding edge leaves unescaped in a PEM: unreserved characters, the base64
#: symbols (ALB keeps ``+/=`` literal, nginx and Envoy escape them) and ``%`` escapes. Raw
#: spaces, line breaks, commas or quotes mean the value was never URL-encoded, or was joined.
_URL_PEM_RAW = re.compile(r"[A-Za-z0-9%+/=._~-]*")
_JOINED = "a list where one certificate is allowed (duplicate header joined with ',')"


def _too_many(what: str, found: int, limit: int) -> VerificationError:
    return VerificationError(
        Reason.CHAIN_TOO_LONG, f"{what}: {found} certificates, at most {limit} allowed"
    )


def _pem_blocks(text: str, what: str, whitespace: str, several: bool, limit: int) -> list[bytes]:
    """``split_pem`` with the count checked first: more than one block in a single-certificate
    header is malformed (an extra block), more than ``limit`` in a chain is too long."""
    if several:
        return split_pem(text, what, whitespace=whitespace, max_blocks=limit)
    found = text.count(BEGIN)
    if found > 1:
        raise VerificationError(
            Reason.MALFORMED_HEADER, f"{what}: {found} PEM blocks where one certificate is expected"
        )
    return split_pem(text, what, whitespace=whitespace)


def _looks_like(value: str) -> str:
    """Name the encoding a wrongly configured edge probably used; empty if unrecognisable."""
    if value.startswith(":"):
        return "an RFC 8941 byte sequence (use the rfc9440 preset)"
    if value.startswith("-----BEGIN%20"):
        return "URL-encoded PEM"
    if value.startswith("-----BEGIN"):
        return "PEM"
    if value.startswith("MII") and "%" not in value:
        return "bare base64 DER"
    if "%2B" in value or "%2F" in value or "%3D" in value:
        return "percent-encoded base64 (Traefik before 2.9.4 escaped the certificate)"
    return ""


def _wrong_encoding(what: str, expected: str, value: str) -> VerificationError:
    seen = _looks_like(value)
    hint = f"; the value looks like {seen}" if seen and not expected.startswith(seen) else ""
    return VerificationError(Reason.MALFORMED_HEADER, f"{what}: expected {expected}{hint}")


class CertEncoding(abc.ABC):
    """How one header value spells one certificate, or several in TLS order.

    ``decode`` refuses a second certificate in a single-certificate encoding as malformed,
    and more than ``limit`` certificates in a several-certificate one as ``chain_too_long``,
    in both cases before the extra certificates are decoded.
    """

    #: The value may hold more than one certificate (leaf first, then its chain).
    several: bool = False
    #: Short name for error messages and docs.
    description: str = ""

    @abc.abstractmethod
    def decode(self, value: str, what: str, limit: int) -> list[bytes]:
        """DER of each certificate in ``value``, at least one; ``limit`` bounds several."""


@dataclass(frozen=True, slots=True)
class UrlEncodedPem(CertEncoding):
    """PEM run through percent-encoding; decoded path-style (``+`` stays ``+``)."""

    several: bool = False
    description: str = "URL-encoded PEM"

    def decode(self, value: str, what: str, limit: int) -> list[bytes]:
        if not value:
            raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: empty value")
        if not _URL_PEM_RAW.fullmatch(value):
            if "," in value:
                raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: {_JOINED}")
            if _looks_like(value) not in ("", "URL-encoded PEM"):
                raise _wrong_encoding(what, self.description, value)
            bad = next(c for c in value if not _URL_PEM_RAW.fullmatch(c))
            raise VerificationError(
                Reason.MALFORMED_HEADER,
                f"{what}: character {bad!r} cannot appear unescaped in URL-encoded PEM",
            )
        if not value.startswith("-----BEGIN"):
            raise _wrong_encoding(what, self.description, value)
        return _pem_blocks(percent_decode(value, what), what, "\r\n", self.several, limit)


@dataclass(frozen=True, slots=True)
class FoldedPem(CertEncoding):
    """Plain PEM whose line breaks an edge turned into other whitespace.

    Apache's mod_headers turns every CR and LF into a space; nginx's deprecated
    ``$ssl_client_cert`` folds lines with a tab (obs-fold), which servers either keep or
    replace with spaces. ``whitespace`` lists what may separate lines.
    """

    whitespace: str = " "
    several: bool = False
    description: str = "PEM with line breaks folded into spaces"

    def decode(self, value: str, what: str, limit: int) -> list[bytes]:
        if not value:
            raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: empty value")
        if "," in value:
            raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: {_JOINED}")
        if not value.startswith("-----BEGIN "):
            raise _wrong_encoding(what, "PEM", value)
        return _pem_blocks(value, what, self.whitespace, self.several, limit)


@dataclass(frozen=True, slots=True)
class Base64Der(CertEncoding):
    """Bare standard-alphabet base64 of the DER, no markers, no colons.

    ``separator`` (Traefik: ``,``) allows several certificates, leaf first.
    ``percent_encoded`` first undoes ``%XX`` escapes (Traefik before 2.9.4 query-escaped
    the value); ``+`` stays ``+`` because a query escaper writes it as ``%2B``.
    """

    separator: str | None = None
    percent_encoded: bool = False
    description: str = "bare base64 DER"
    several: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "several", self.separator is not None)

    def decode(self, value: str, what: str, limit: int) -> list[bytes]:
        if self.percent_encoded:
            value = percent_decode(value, what)
        if self.separator is None:
            if "," in value:
                raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: {_JOINED}")
            members = [value]
        else:
            count = value.count(self.separator) + 1
            if count > limit:
                raise _too_many(what, count, limit)
            members = value.split(self.separator)
        if any(m[:1] in ("-", ":") or "%" in m for m in members):
            raise _wrong_encoding(what, self.description, value)
        return [strict_b64decode(member, what) for member in members]


@dataclass(frozen=True, slots=True)
class Base64ConcatenatedDer(CertEncoding):
    """base64 of DER certificates written back to back (HAProxy ``ssl_c_chain_der``).

    Split by reading each certificate's outer ``SEQUENCE`` header; only definite, minimally
    encoded lengths are accepted, so there is exactly one way to split a valid value.
    """

    several: bool = True
    description: str = "base64 of concatenated DER certificates"

    def decode(self, value: str, what: str, limit: int) -> list[bytes]:
        if not value:
            raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: empty value")
        if "," in value:
            raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: {_JOINED}")
        if value.startswith(("-", ":", "%")):
            raise _wrong_encoding(what, self.description, value)
        return split_der(strict_b64decode(value, what), what, limit)


def split_der(data: bytes, what: str, limit: int) -> list[bytes]:
    """Cut concatenated DER ``SEQUENCE``s apart; refuse anything else."""
    out: list[bytes] = []
    pos, size = 0, len(data)
    while pos < size:
        if len(out) == limit:
            raise _too_many(what, len(out) + 1, limit)
        if size - pos < 2 or data[pos] != 0x30:
            raise VerificationError(
                Reason.MALFORMED_HEADER, f"{what}: byte {pos} does not start a DER SEQUENCE"
            )
        first = data[pos + 1]
        header = 2
        if first < 0x80:
            length = first
        else:
            octets = first & 0x7F
            if octets == 0 or octets > 3 or size - pos < 2 + octets:
                raise VerificationError(
                    Reason.MALFORMED_HEADER, f"{what}: unsupported DER length at byte {pos}"
                )
            length = int.from_bytes(data[pos + 2 : pos + 2 + octets], "big")
            if length < 0x80 or length >> (8 * (octets - 1)) == 0:
                raise VerificationError(
                    Reason.MALFORMED_HEADER, f"{what}: non-minimal DER length at byte {pos}"
                )
            header += octets
        end = pos + header + length
        if end > size:
            raise VerificationError(
                Reason.MALFORMED_HEADER, f"{what}: truncated DER certificate at byte {pos}"
            )
        out.append(data[pos:end])
        pos = end
    if not out:
        raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: empty value")
    return out


URL_PEM = UrlEncodedPem()
URL_PEM_CHAIN = UrlEncodedPem(several=True, description="URL-encoded PEM blocks")
SPACED_PEM = FoldedPem()
TAB_FOLDED_PEM = FoldedPem(" \t\r\n", description="tab-folded PEM")
BASE64_DER = Base64Der()
BASE64_DER_LIST = Base64Der(",", description="comma-separated bare base64 DER")
BASE64_CONCATENATED_DER = Base64ConcatenatedDer()


@dataclass(frozen=True)
class EncodedCertificate(CertificateFormat):
    """The certificate in ``cert_header`` (leaf, or leaf first then its chain when the
    encoding holds several), more of the chain in ``chain_headers``, claims beside them.

    ``cert_header=None`` makes a metadata-only format (Cloudflare's managed transform): the
    edge sends facts about the certificate but never the certificate, so ``decode`` always
    returns ``leaf=None`` with the claims; they are never proof on their own.

    ``absent_values`` are values that mean "no certificate" (Apache's ``(null)``, Caddy's
    unreplaced placeholder); anything else that does not decode is refused.

    Size caps: a header holding leaf and chain may use ``max_leaf_bytes + max_chain_bytes``;
    chain headers together ``max_chain_bytes``; the certificate count is checked before the
    extra certificates are decoded.
    """

    name: str
    cert_header: str | None
    encoding: CertEncoding = URL_PEM
    chain_headers: tuple[str, ...] = ()
    chain_encoding: CertEncoding = URL_PEM
    claims: ClaimHeaders = field(default=NO_CLAIM_HEADERS)
    absent_values: frozenset[str] = frozenset()
    edge_validates: bool = False

    @property
    def header_names(self) -> tuple[str, ...]:
        own = (self.cert_header,) if self.cert_header is not None else ()
        return (*own, *self.chain_headers, *self.claims.header_names)

    @property
    def forwards_certificate(self) -> bool:
        """False for metadata-only formats: the edge never sends the certificate itself."""
        return self.cert_header is not None

    def renamed(self, **names: str) -> EncodedCertificate:
        """The same format under the header names an edge was configured with.

        ``cert`` renames the certificate header, ``chain`` the chain header (formats with
        exactly one), and each claim key (``sha256``, ``serial``, ``subject``, ``verify``,
        ...; see ``claims.fields``) its claim header.
        """
        changes: dict[str, object] = {}
        if "cert" in names:
            if self.cert_header is None:
                raise ValueError(f"{self.name} is metadata-only: there is no cert header")
            changes["cert_header"] = names.pop("cert")
        if "chain" in names:
            if len(self.chain_headers) != 1:
                raise ValueError(
                    f"{self.name} has {len(self.chain_headers)} chain headers; "
                    "set chain_headers with dataclasses.replace instead"
                )
            changes["chain_headers"] = (names.pop("chain"),)
        if names:
            unknown = set(names) - set(self.claims.fields)
            if unknown:
                valid = ", ".join(self._rename_keys())
                raise ValueError(
                    f"{self.name}: unknown header key(s) {', '.join(sorted(unknown))}; "
                    f"valid: {valid}"
                )
            changes["claims"] = self.claims.renamed(names)
        return replace(self, **changes)  # type: ignore[arg-type]

    def _rename_keys(self) -> list[str]:
        keys = ["cert"] if self.cert_header is not None else []
        if len(self.chain_headers) == 1:
            keys.append("chain")
        return [*keys, *self.claims.fields]

    def decode(self, headers: Headers, limits: Limits) -> ForwardedCertificate:
        claims = self.claims.read(headers, limits)
        if self.cert_header is None:
            return ForwardedCertificate(None, (), claims)
        cap = limits.max_leaf_bytes
        if self.encoding.several:
            cap += limits.max_chain_bytes
        value = single_value(headers, self.cert_header, cap)
        if value is not None and value in self.absent_values:
            value = None
        chain_values = self._chain_values(headers, limits)
        if value is None:
            if chain_values:
                raise VerificationError(
                    Reason.CHAIN_WITHOUT_LEAF,
                    f"{', '.join(name for name, _ in chain_values)} sent without "
                    f"{self.cert_header}",
                )
            return ForwardedCertificate(None, (), claims)
        if not value:
            raise VerificationError(Reason.MALFORMED_HEADER, f"{self.cert_header}: empty value")
        ders = self.encoding.decode(value, self.cert_header, 1 + limits.max_chain_certs)
        chain = ders[1:]
        for name, chain_value in chain_values:
            room = limits.max_chain_certs - len(chain)
            if room <= 0:
                raise VerificationError(
                    Reason.CHAIN_TOO_LONG,
                    f"{name}: more than {limits.max_chain_certs} chain certificates",
                )
            chain.extend(self.chain_encoding.decode(chain_value, name, room))
        check_chain_count(chain, limits)
        return ForwardedCertificate(ders[0], tuple(chain), claims)

    def _chain_values(self, headers: Headers, limits: Limits) -> list[tuple[str, str]]:
        """Non-absent chain header values in order; a gap (``_1`` without ``_0``) is refused."""
        found: list[tuple[str, str]] = []
        total = 0
        missing: str | None = None
        for name in self.chain_headers:
            value = single_value(headers, name, limits.max_chain_bytes)
            if value is None or value in self.absent_values:
                missing = missing or name
                continue
            if missing is not None:
                raise VerificationError(
                    Reason.MALFORMED_HEADER, f"{name} sent but {missing} is missing"
                )
            if not value:
                raise VerificationError(Reason.MALFORMED_HEADER, f"{name}: empty value")
            total += len(value)
            if total > limits.max_chain_bytes:
                raise VerificationError(
                    Reason.HEADER_TOO_LARGE,
                    f"chain headers are {total} bytes, limit {limits.max_chain_bytes}",
                )
            found.append((name, value))
        if len(found) > limits.max_chain_certs:
            raise VerificationError(
                Reason.CHAIN_TOO_LONG,
                f"{len(found)} chain headers, limit {limits.max_chain_certs}",
            )
        return found
