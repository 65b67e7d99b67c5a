"""Metadata headers (fingerprint, serial, DNs, validity, flags) decoded into ``EdgeClaims``,
and ``cross_check``: every comparison of those claims with the forwarded DER.

Edges disagree on how to spell the same fact, so each claim header is read by a small parser
picked from a table; a malformed claim is refused like a malformed certificate. A claim that
contradicts the certificate means tampering or a broken edge, whatever the chain says:
``edge_mismatch``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from .. import names
from ..errors import Reason, VerificationError
from ..headers import Headers
from .base import NO_CLAIMS, EdgeClaims, ForwardedCertificate, Limits, single_value

ClaimParser = Callable[[str], Any]
#: Claim keys (also the ``renamed`` keyword) whose ``EdgeClaims`` attribute says unverified.
_ALIASES = {"subject": "unverified_subject", "issuer": "unverified_issuer"}
_CLAIM_ATTRIBUTES = (frozenset(f.name for f in dataclass_fields(EdgeClaims)) - {"raw"}) | set(
    _ALIASES
)

_HEX_PAIRS = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")
_HEX = re.compile(r"[0-9A-Fa-f]+")


def sha256_hex(value: str) -> bytes:
    if len(value) != 64 or not _HEX.fullmatch(value):
        raise ValueError("expected 64 hex digits")
    return bytes.fromhex(value)


def sha256_base64(value: str) -> bytes:
    try:
        digest = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None
    if len(digest) != 32:
        raise ValueError("expected 32 bytes")
    return digest


def serial_colon_hex(value: str) -> int:
    """``4a:3f:5c`` (CloudFront); plain hex is accepted too."""
    if _HEX_PAIRS.fullmatch(value):
        return int(value.replace(":", ""), 16)
    return serial_hex(value)


def serial_hex(value: str) -> int:
    if not _HEX.fullmatch(value):
        raise ValueError("expected hexadecimal serial")
    return int(value, 16)


def flag_01(value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError("expected 0 or 1")
    return value == "1"


def flag_true_false(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ValueError("expected true or false")
    return lowered == "true"


def text(value: str) -> str:
    return value


class RFC2253Name(str):
    """A DN claim whose edge documents RFC 2253 spelling: ``cross_check`` compares it."""

    __slots__ = ()


def rfc2253_dn(value: str) -> RFC2253Name:
    """A DN string as OpenSSL's ``XN_FLAG_RFC2253`` writes it (CloudFront, ALB, nginx,
    Apache, Cloudflare ``-rfc2253``); compared with the DER by ``cross_check``."""
    return RFC2253Name(value)


def iso8601_z(value: str) -> datetime:
    if not value.endswith("Z"):
        raise ValueError("expected UTC time ending in Z")
    parsed = datetime.fromisoformat(value[:-1])
    if parsed.tzinfo is not None:
        raise ValueError("expected UTC time ending in Z, not an offset")
    return parsed.replace(tzinfo=UTC)


def validity_pair(value: str) -> tuple[datetime, datetime]:
    """``NotBefore=<ISO 8601 Z>;NotAfter=<ISO 8601 Z>`` (CloudFront, ALB)."""
    parts = dict(part.split("=", 1) for part in value.split(";") if "=" in part)
    if set(parts) != {"NotBefore", "NotAfter"} or value.count(";") != 1:
        raise ValueError("expected NotBefore=...;NotAfter=...")
    return iso8601_z(parts["NotBefore"]), iso8601_z(parts["NotAfter"])


def sha256_hex_or_base64(value: str) -> bytes:
    """64 hex digits or 44 base64 characters; the lengths cannot be confused.

    For edges whose fingerprint spelling is undocumented (Cloudflare Access).
    """
    if len(value) == 64:
        return sha256_hex(value)
    if len(value) == 44:
        return sha256_base64(value)
    raise ValueError("expected a SHA-256 fingerprint as 64 hex digits or 44 base64 characters")


_DECIMAL = re.compile(r"0|[1-9][0-9]{0,99}")


def serial_decimal(value: str) -> int:
    """Decimal serial (Go's ``big.Int.String()``: Traefik, Caddy)."""
    if not _DECIMAL.fullmatch(value):
        raise ValueError("expected a decimal serial")
    return int(value)


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_OPENSSL_TIME = re.compile(
    r"([A-Z][a-z]{2}) {1,2}([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4}) GMT"
)


def openssl_time(value: str) -> datetime:
    """OpenSSL ``ASN1_TIME_print`` text, ``Mar  1 13:35:00 2022 GMT`` (nginx, Cloudflare).

    Parsed by hand: ``strptime``'s ``%b`` follows the process locale.
    """
    match = _OPENSSL_TIME.fullmatch(value)
    if match is None or match.group(1) not in _MONTHS:
        raise ValueError("expected a time like 'Mar 21 13:35:00 2022 GMT'")
    month, day, hour, minute, second, year = match.groups()
    return datetime(
        int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
    )


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def rfc3339(value: str) -> datetime:
    """``2022-07-01T18:05:09+00:00`` (Google Cloud), normalised to UTC."""
    if not _RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 date-time with offset")
    fraction = value.find(".")
    if fraction != -1:
        # fromisoformat in 3.11 takes at most 6 fractional digits; the claim needs none.
        end = fraction + 1
        while value[end].isdigit():
            end += 1
        value = value[:fraction] + value[end:]
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def unix_seconds(value: str) -> datetime:
    """Seconds since the epoch (Traefik's ``NB``/``NA``)."""
    if not _DECIMAL.fullmatch(value) or len(value) > 12:
        raise ValueError("expected Unix seconds")
    return datetime.fromtimestamp(int(value), UTC)


@dataclass(frozen=True, slots=True)
class ClaimHeaders:
    """Which header carries which claim, and how it is spelled.

    Keys of ``fields`` are ``EdgeClaims`` attributes, plus ``validity`` which fills both
    ``not_before`` and ``not_after``. Any other key names a header whose parser returns a
    mapping of ``EdgeClaims`` attributes (one header, several facts: nginx's
    ``SUCCESS``/``FAILED:...``/``NONE`` says both *present* and *verified*); those are applied
    after the single-attribute headers, so a composite verdict such as Cloudflare's
    ``cf-cert-revoked: true`` (``verified=False``) always has the last word.
    ``absent`` lists values that mean "not sent" (Apache's ``(null)``, the empty expansion
    Google Cloud and Cloudflare give when no certificate was presented).
    """

    fields: Mapping[str, tuple[str, ClaimParser]]
    absent: frozenset[str] = frozenset()

    @property
    def header_names(self) -> tuple[str, ...]:
        return tuple(header for header, _ in self.fields.values())

    @property
    def reports_verdict(self) -> bool:
        """A header may carry the edge's verdict (``verified`` or a composite like nginx's
        ``ssl-client-verify``): trusting the edge then requires that header to say yes."""
        return any(
            k == "verified" or (k not in _CLAIM_ATTRIBUTES and k != "validity") for k in self.fields
        )

    def renamed(self, names: Mapping[str, str]) -> ClaimHeaders:
        """Same parsers under other header names (CloudFront ``renameClientCertHeaders``)."""
        unknown = set(names) - set(self.fields)
        if unknown:
            raise ValueError(f"unknown claim(s): {', '.join(sorted(unknown))}")
        return ClaimHeaders(
            {k: (names.get(k, header), parser) for k, (header, parser) in self.fields.items()},
            self.absent,
        )

    def read(self, headers: Headers, limits: Limits) -> EdgeClaims:
        values: dict[str, Any] = {}
        composite: list[Mapping[str, Any]] = []
        raw: list[tuple[str, str]] = []
        for claim, (header, parser) in self.fields.items():
            if not headers.get_all(header):
                continue
            value = single_value(headers, header, limits.max_metadata_bytes)
            if value is None or value in self.absent:
                continue
            raw.append((header, value))
            try:
                parsed = parser(value)
            except (ValueError, OverflowError) as exc:
                raise VerificationError(
                    Reason.MALFORMED_HEADER, f"{header}: {exc} (got {value[:80]!r})"
                ) from None
            if claim == "validity":
                values["not_before"], values["not_after"] = parsed
            elif claim in _CLAIM_ATTRIBUTES:
                values[_ALIASES.get(claim, claim)] = parsed
            else:
                composite.append(parsed)
        for extra in composite:
            values.update(extra)
        if not raw:
            return NO_CLAIMS  # shared: one fewer object in every cache entry
        return EdgeClaims(raw=tuple(raw), **values)


NO_CLAIM_HEADERS = ClaimHeaders({})


# -- the cross-check ---------------------------------------------------------------------------


def cross_check(forwarded: ForwardedCertificate, leaf: x509.Certificate) -> None:
    """Every claim that can be compared with the forwarded leaf is; the first contradiction
    raises ``VerificationError(EDGE_MISMATCH)``. Runs before any signature work."""
    claims = forwarded.claims
    if not claims:
        return
    if claims.present is False:
        raise VerificationError(
            Reason.EDGE_MISMATCH, "edge says no certificate was presented, yet one arrived"
        )
    assert forwarded.leaf is not None
    if claims.sha256 is not None and claims.sha256 != hashlib.sha256(forwarded.leaf).digest():
        raise VerificationError(
            Reason.EDGE_MISMATCH, "edge's SHA-256 fingerprint does not match the certificate"
        )
    if claims.serial is not None and claims.serial != leaf.serial_number:
        raise VerificationError(
            Reason.EDGE_MISMATCH,
            f"edge's serial {claims.serial:x} does not match {leaf.serial_number:x}",
        )
    if claims.not_before is not None or claims.not_after is not None:
        _check_validity(claims.not_before, claims.not_after, leaf)
    _check_dn("subject", claims.unverified_subject, leaf, issuer=False)
    _check_dn("issuer", claims.unverified_issuer, leaf, issuer=True)
    if claims.uris or claims.dns_names:
        _check_sans(claims, leaf)


def _check_sans(claims: EdgeClaims, leaf: x509.Certificate) -> None:
    """Every SAN the edge named must be one of the certificate's (an edge may name fewer)."""
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = set(san.get_values_for_type(x509.UniformResourceIdentifier))
        dns = set(san.get_values_for_type(x509.DNSName))
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        uris, dns = set(), set()
    for label, claimed, actual in (("URI", claims.uris, uris), ("DNS", claims.dns_names, dns)):
        extra = [value for value in claimed if value not in actual]
        if extra:
            raise VerificationError(
                Reason.EDGE_MISMATCH,
                f"edge names {label} SAN {extra[0][:200]!r}, which the certificate lacks",
            )


def _check_dn(label: str, claimed: str | None, leaf: x509.Certificate, *, issuer: bool) -> None:
    """An RFC 2253 DN claim must name the same RDNs as the DER. A claim holding what cannot
    be compared (``#``-hex values, attribute types without a known name) is left unverified,
    as is one whose edge does not specify its spelling (XFCC)."""
    if not isinstance(claimed, RFC2253Name):
        return
    try:
        parsed = names.read_dn_claim(claimed)
    except ValueError as exc:
        raise VerificationError(
            Reason.EDGE_MISMATCH, f"edge's {label} {claimed[:80]!r} is not RFC 2253: {exc}"
        ) from None
    actual = names.parsed_subject(leaf, issuer=issuer)
    if parsed is None or actual is None:
        return
    if not names.same_name(parsed, actual):
        raise VerificationError(
            Reason.EDGE_MISMATCH,
            f"edge's {label} {claimed[:200]!r} does not name the certificate's "
            f"{names.render(leaf, issuer=issuer)!r}",
        )


def _check_validity(
    not_before: datetime | None, not_after: datetime | None, leaf: x509.Certificate
) -> None:
    try:
        actual = (leaf.not_valid_before_utc, leaf.not_valid_after_utc)
    except ValueError as exc:  # pyca reads times lazily: an invalid one fails here
        raise VerificationError(
            Reason.MALFORMED_CERTIFICATE, f"leaf validity unreadable: {exc}"[:200]
        ) from None
    for label, claimed, real in (
        ("notBefore", not_before, actual[0]),
        ("notAfter", not_after, actual[1]),
    ):
        if claimed is not None and not _same_instant(claimed, real):
            raise VerificationError(
                Reason.EDGE_MISMATCH,
                f"edge's {label} {claimed.isoformat()} is not the certificate's {real.isoformat()}",
            )


def _same_instant(claimed: datetime, actual: datetime) -> bool:
    """Equal instants; a comparison that cannot be made (a claim in a time zone that pushes
    year 9999 out of range) proves nothing, so it counts as a contradiction."""
    try:
        return claimed == actual
    except (ValueError, OverflowError):
        return False
