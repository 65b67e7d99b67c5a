"""The contract every edge format implements, and the strict helpers they share."""

from __future__ import annotations

import abc
import binascii
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import ConfigurationError, Reason, VerificationError
from ..headers import Headers


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard caps applied before any parsing work; each breach has its own reason code."""

    max_leaf_bytes: int = 16 * 1024
    max_chain_bytes: int = 64 * 1024
    max_chain_certs: int = 5
    max_metadata_bytes: int = 4 * 1024

    def __post_init__(self) -> None:
        for name in ("max_leaf_bytes", "max_chain_bytes", "max_chain_certs", "max_metadata_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"limits: {name} must be a positive integer")


@dataclass(frozen=True, slots=True)
class EdgeClaims:
    """What the edge said about the certificate besides the certificate itself.

    Claims are never proof: identity comes from the DER. When the DER is present,
    ``claims.cross_check`` compares ``present``, ``sha256``, ``serial``, ``not_before``,
    ``not_after``, ``uris`` and ``dns_names`` with it (``edge_mismatch`` on disagreement).
    The DN strings are kept as the edge wrote them under names that say so: they are
    compared with the DER only where the edge's spelling is specified (RFC 2253) and every
    attribute in them can be read.
    """

    sha256: bytes | None = None
    serial: int | None = None
    unverified_subject: str | None = None
    unverified_issuer: str | None = None
    present: bool | None = None
    verified: bool | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    #: SANs the edge named (XFCC ``URI=``/``DNS=``): each must be one of the certificate's.
    uris: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    raw: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.raw)


NO_CLAIMS = EdgeClaims()


@dataclass(frozen=True, slots=True)
class ForwardedCertificate:
    """A decoded request: the leaf (``None``: no certificate) and the untrusted certificates
    presented with it, plus whatever the edge claimed."""

    leaf: bytes | None
    chain: tuple[bytes, ...] = ()
    claims: EdgeClaims = field(default=NO_CLAIMS)


NO_CERTIFICATE = ForwardedCertificate(None)


class CertificateFormat(abc.ABC):
    """One edge's way of forwarding a client certificate.

    ``decode`` returns what the request carries (``leaf is None`` when it carries no
    certificate) and raises ``VerificationError`` for anything malformed. It never guesses:
    it reads exactly the headers it names.
    """

    name: str
    #: The edge validated the chain before forwarding (CloudFront required/optional, ALB
    #: verify, nginx ``ssl_verify_client on``). Only then may a deployment opt in to trusting
    #: the edge's verdict instead of re-validating (``Verifier(trust_edge_verdict=True)``).
    edge_validates: bool = False

    @property
    def forwards_certificate(self) -> bool:
        """False for metadata-only formats (Cloudflare's managed transform): the edge sends
        facts about a certificate but never the certificate, so no identity can be proven."""
        return True

    @property
    def reports_verdict(self) -> bool:
        """The format reads a header carrying the edge's own verdict (nginx
        ``ssl-client-verify``, GCP ``chain_verified``): see ``Verifier(trust_edge_verdict=)``."""
        claims = getattr(self, "claims", None)
        return bool(getattr(claims, "reports_verdict", False))

    @property
    @abc.abstractmethod
    def header_names(self) -> tuple[str, ...]:
        """Every header this format reads: the adapters strip them, the verifier guards them."""

    @abc.abstractmethod
    def decode(self, headers: Headers, limits: Limits) -> ForwardedCertificate: ...


def single_value(headers: Headers, name: str, max_bytes: int) -> str | None:
    """The value of a header that may appear at most once, size-checked, OWS trimmed."""
    values = headers.get_all(name)
    if not values:
        return None
    if len(values) > 1:
        raise VerificationError(Reason.DUPLICATE_HEADER, f"{name} appears {len(values)} times")
    value = values[0]
    if len(value) > max_bytes:
        raise VerificationError(
            Reason.HEADER_TOO_LARGE, f"{name} is {len(value)} bytes, limit {max_bytes}"
        )
    return value.strip(" \t")


def joined_values(headers: Headers, name: str, max_bytes: int) -> str | None:
    """A list header's field lines combined with ``,`` in order (RFC 9110 §5.3)."""
    values = headers.get_all(name)
    if not values:
        return None
    value = ",".join(values)
    if len(value) > max_bytes:
        raise VerificationError(
            Reason.HEADER_TOO_LARGE, f"{name} is {len(value)} bytes, limit {max_bytes}"
        )
    return value


def strict_b64decode(text: str, what: str) -> bytes:
    """Standard-alphabet base64; padding may be missing (RFC 8941), nothing else is forgiven.

    ``binascii``'s strict mode refuses whitespace, ``-``/``_``, misplaced padding and data
    after padding in one C pass; we only add the padding RFC 8941 lets senders omit.
    """
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: non-ASCII character") from None
    if not raw.rstrip(b"="):
        raise VerificationError(Reason.MALFORMED_HEADER, f"{what}: empty value")
    if len(raw) % 4:
        raw = raw.rstrip(b"=")
        raw += b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error as exc:
        raise VerificationError(
            Reason.MALFORMED_HEADER, f"{what}: invalid base64 ({exc})"
        ) from None


def check_chain_count(chain: tuple[bytes, ...] | list[bytes], limits: Limits) -> None:
    if len(chain) > limits.max_chain_certs:
        raise VerificationError(
            Reason.CHAIN_TOO_LONG,
            f"{len(chain)} chain certificates, limit {limits.max_chain_certs}",
        )
