"""``ClientIdentity``: who the client is, derived from the verified DER only.

Never from the edge's DN strings (``CloudFront-Viewer-Cert-Subject``, XFCC ``Subject=``):
those are claims, kept in ``claims`` for cross-checks and logs.

Names and SANs are read from the certificate on first use: rendering DNs and walking
extensions costs more than the rest of the request path together (~60 µs measured), and
most applications read one or two attributes. Verified identities are cached, so each is
rendered at most once.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from .formats.base import NO_CLAIMS, EdgeClaims

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class _SANs:
    dns_names: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    spiffe_id: str | None = None


def _read_sans(certificate: x509.Certificate) -> _SANs:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError, x509.DuplicateExtension):
        # Absent, or unreadable by cryptography's Python layer (the Rust verifier accepted
        # it): no SAN-based identity, so SAN rules fail closed.
        return _SANs()
    uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
    spiffe = [u for u in uris if u.startswith("spiffe://")]
    return _SANs(
        dns_names=tuple(san.get_values_for_type(x509.DNSName)),
        uris=uris,
        emails=tuple(san.get_values_for_type(x509.RFC822Name)),
        ip_addresses=tuple(
            ip
            for ip in san.get_values_for_type(x509.IPAddress)
            if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
        ),
        # An X.509-SVID carries exactly one URI SAN; several spiffe:// URIs is no SVID.
        spiffe_id=spiffe[0] if len(spiffe) == 1 else None,
    )


class ClientIdentity:
    """A verified client. Immutable; safe to share across threads and to cache."""

    __slots__ = (
        "_cn",
        "_der",
        "_fingerprint",
        "_issuer",
        "_sans",
        "_subject",
        "certificate",
        "chain",
        "checks",
        "claims",
        "edge_verified",
    )

    is_authenticated = True

    def __init__(
        self,
        certificate: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
        checks: tuple[str, ...],
        *,
        leaf_der: bytes | None = None,
        edge_verified: bool = False,
        claims: EdgeClaims = NO_CLAIMS,
    ) -> None:
        init = object.__setattr__
        init(self, "certificate", certificate)
        # The validated path above the leaf, anchor last (empty if the edge's verdict was
        # trusted instead); what established the identity, e.g. "chain:private".
        init(self, "chain", chain)
        init(self, "checks", checks)
        init(self, "claims", claims)
        init(self, "edge_verified", edge_verified)
        init(self, "_der", leaf_der)
        for lazy in ("_fingerprint", "_subject", "_cn", "_issuer", "_sans"):
            init(self, lazy, _UNSET)

    if TYPE_CHECKING:
        certificate: x509.Certificate
        chain: tuple[x509.Certificate, ...]
        checks: tuple[str, ...]
        claims: EdgeClaims
        edge_verified: bool
        _der: bytes | None
        _fingerprint: str
        _subject: str
        _cn: str | None
        _issuer: str
        _sans: _SANs

    # Each group of names is rendered on first use and kept: an identity is cached and
    # shared, and rendering is idempotent, so a race only renders twice.

    @property
    def fingerprint_sha256(self) -> str:
        """SHA-256 of the leaf's DER, lower-case hex (what fingerprint pins compare)."""
        if self._fingerprint is _UNSET:
            der = (
                self._der if self._der is not None else self.certificate.public_bytes(Encoding.DER)
            )
            object.__setattr__(self, "_fingerprint", hashlib.sha256(der).hexdigest())
        return self._fingerprint

    @property
    def subject(self) -> str:
        """RFC 4514 string of the subject DN."""
        if self._subject is _UNSET:
            object.__setattr__(self, "_subject", self.certificate.subject.rfc4514_string())
        return self._subject

    @property
    def common_name(self) -> str | None:
        if self._cn is _UNSET:
            cns = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            value = cns[-1].value if cns else None
            object.__setattr__(self, "_cn", value if isinstance(value, str) else None)
        return self._cn

    @property
    def issuer(self) -> str:
        if self._issuer is _UNSET:
            object.__setattr__(self, "_issuer", self.certificate.issuer.rfc4514_string())
        return self._issuer

    def _san(self) -> _SANs:
        if self._sans is _UNSET:
            object.__setattr__(self, "_sans", _read_sans(self.certificate))
        return self._sans

    @property
    def dns_names(self) -> tuple[str, ...]:
        return self._san().dns_names

    @property
    def uris(self) -> tuple[str, ...]:
        return self._san().uris

    @property
    def emails(self) -> tuple[str, ...]:
        return self._san().emails

    @property
    def ip_addresses(self) -> tuple[IPAddress, ...]:
        return self._san().ip_addresses

    @property
    def spiffe_id(self) -> str | None:
        return self._san().spiffe_id

    @property
    def serial_number(self) -> int:
        return self.certificate.serial_number

    @property
    def serial_hex(self) -> str:
        return format(self.certificate.serial_number, "x")

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    @property
    def anchor(self) -> x509.Certificate | None:
        """The trust anchor the path ended at (``None`` when the edge's verdict was trusted)."""
        return self.chain[-1] if self.chain else None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ClientIdentity is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClientIdentity):
            return NotImplemented
        return (self.fingerprint_sha256, self.chain, self.checks) == (
            other.fingerprint_sha256,
            other.chain,
            other.checks,
        )

    def __hash__(self) -> int:
        return hash(self.fingerprint_sha256)

    def __repr__(self) -> str:
        return f"<ClientIdentity {self.subject!r} sha256={self.fingerprint_sha256[:16]}…>"

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly summary for logs, audit events and APIs."""
        return {
            "subject": self.subject,
            "common_name": self.common_name,
            "issuer": self.issuer,
            "dns_names": list(self.dns_names),
            "uris": list(self.uris),
            "emails": list(self.emails),
            "ip_addresses": [str(ip) for ip in self.ip_addresses],
            "spiffe_id": self.spiffe_id,
            "serial": self.serial_hex,
            "fingerprint_sha256": self.fingerprint_sha256,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "checks": list(self.checks),
            "edge_verified": self.edge_verified,
        }


class AnonymousClient:
    """No verified client certificate (``optional``/``report_only`` mode), like Flask-Login's
    ``AnonymousUserMixin`` and Django's ``AnonymousUser``: falsy, ``is_authenticated``
    False, every identity field empty. Shared by the framework adapters."""

    __slots__ = ()

    is_authenticated: Final = False
    is_anonymous: Final = True
    subject: Final = None
    common_name: Final = None
    issuer: Final = None
    spiffe_id: Final = None
    fingerprint_sha256: Final = None
    serial_hex: Final = None
    dns_names: Final[tuple[str, ...]] = ()
    uris: Final[tuple[str, ...]] = ()
    emails: Final[tuple[str, ...]] = ()
    ip_addresses: Final[tuple[IPAddress, ...]] = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnonymousClient)

    def __hash__(self) -> int:
        return hash(AnonymousClient)

    def as_dict(self) -> dict[str, object]:
        return {"anonymous": True}


ANONYMOUS: Final = AnonymousClient()
