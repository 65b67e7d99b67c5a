"""``ClientIdentity``: who the client is, derived from the verified DER only.

Never from the edge's DN strings (``CloudFront-Viewer-Cert-Subject``, XFCC ``Subject=``):
those are claims, kept in ``claims`` for cross-checks and logs.

Names and SANs are read from the certificate on first use: rendering DNs and walking
extensions costs more than the rest of the request path together (~60 µs measured), and
most applications read one or two attributes. Verified identities are cached, so each is
rendered at most once.

Nothing is silently collapsed: ``common_name`` is ``None`` unless the subject holds exactly
one CN (``common_names`` has them all), and ``spiffe_id`` is ``None`` unless the certificate
carries exactly one ``spiffe:`` URI and it is a valid SPIFFE ID (``spiffe_uris`` has them
all). Rules on either fail closed. Names are never normalised (Unicode or case): a homoglyph
is a different name. Reading a name never raises: an undecodable DN renders as
``names.UNDECODABLE`` and matches no rule.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from . import names
from .formats.base import NO_CLAIMS, EdgeClaims
from .spiffe import SpiffeID, is_spiffe_uri
from .spiffe import parse as parse_spiffe

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CN: Final = NameOID.COMMON_NAME.dotted_string
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class _SANs:
    dns_names: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    spiffe_uris: tuple[str, ...] = ()
    spiffe: SpiffeID | None = None


def _read_sans(certificate: x509.Certificate) -> _SANs:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError, x509.DuplicateExtension):
        # Absent, or unreadable by cryptography's Python layer (the Rust verifier accepted
        # it): no SAN-based identity, so SAN rules fail closed.
        return _SANs()
    uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
    claimed = tuple(u for u in uris if is_spiffe_uri(u))
    return _SANs(
        dns_names=tuple(san.get_values_for_type(x509.DNSName)),
        uris=uris,
        emails=tuple(san.get_values_for_type(x509.RFC822Name)),
        ip_addresses=tuple(
            ip
            for ip in san.get_values_for_type(x509.IPAddress)
            if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
        ),
        spiffe_uris=claimed,
        # An X.509-SVID carries one SPIFFE ID; several spiffe: URIs, or an invalid one, is
        # no SVID: no spiffe_id, so SPIFFE rules fail closed.
        spiffe=parse_spiffe(claimed[0]) if len(claimed) == 1 else None,
    )


class ClientIdentity:
    """A verified client. Immutable; safe to share across threads and to cache."""

    __slots__ = (
        "_cns",
        "_der",
        "_fingerprint",
        "_issuer",
        "_issuer_rdns",
        "_sans",
        "_subject",
        "_subject_rdns",
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
        lazy_fields = ("_fingerprint", "_subject", "_cns", "_issuer", "_sans")
        for lazy in (*lazy_fields, "_subject_rdns", "_issuer_rdns"):
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
        _subject_rdns: names.ParsedName | None
        _cns: tuple[str, ...]
        _issuer: str
        _issuer_rdns: names.ParsedName | None
        _sans: _SANs

    # Each group of names is rendered on first use and kept: an identity is cached and
    # shared, and rendering is idempotent, so a race only renders twice.

    def _readable(self) -> x509.Certificate:
        """A throwaway parse of the leaf to read names from: pyca keeps every ``Name`` and
        extension object it builds on the certificate object, and ``certificate`` lives on
        in the result cache (about 2 KB more per entry). The strings kept here are small."""
        if self._der is not None:
            try:
                return x509.load_der_x509_certificate(self._der)
            except ValueError:  # pragma: no cover - the same bytes parsed before
                pass
        return self.certificate

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
    def x5t_s256(self) -> str:
        """RFC 8705 ``x5t#S256``: base64url of the leaf DER's SHA-256, no padding; what a
        certificate-bound access token's ``cnf`` claim carries (``originverify.tokens``)."""
        digest = bytes.fromhex(self.fingerprint_sha256)
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    @property
    def subject(self) -> str:
        """RFC 4514 string of the subject DN, for display and logs; rules match
        ``subject_rdns``, never this string."""
        if self._subject is _UNSET:
            object.__setattr__(self, "_subject", names.render(self._readable()))
        return self._subject

    @property
    def subject_rdns(self) -> names.ParsedName | None:
        """The subject as parsed ``(OID, value)`` RDNs, most specific first; ``None`` when
        the DN cannot be decoded."""
        if self._subject_rdns is _UNSET:
            object.__setattr__(self, "_subject_rdns", names.parsed_subject(self._readable()))
        return self._subject_rdns

    @property
    def common_names(self) -> tuple[str, ...]:
        """Every CN of the subject (multi-valued RDNs included), most specific first."""
        if self._cns is _UNSET:
            cns = tuple(
                value
                for rdn in self.subject_rdns or ()
                for oid, value in rdn
                if oid == _CN and isinstance(value, str)
            )
            object.__setattr__(self, "_cns", cns)
        return self._cns

    @property
    def common_name(self) -> str | None:
        """The subject's CN when there is exactly one; ``None`` when absent *or ambiguous*
        (two CNs are never collapsed to one)."""
        cns = self.common_names
        return cns[0] if len(cns) == 1 else None

    @property
    def issuer(self) -> str:
        if self._issuer is _UNSET:
            object.__setattr__(self, "_issuer", names.render(self._readable(), issuer=True))
        return self._issuer

    @property
    def issuer_rdns(self) -> names.ParsedName | None:
        if self._issuer_rdns is _UNSET:
            rdns = names.parsed_subject(self._readable(), issuer=True)
            object.__setattr__(self, "_issuer_rdns", rdns)
        return self._issuer_rdns

    def _san(self) -> _SANs:
        if self._sans is _UNSET:
            object.__setattr__(self, "_sans", _read_sans(self._readable()))
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
    def spiffe_uris(self) -> tuple[str, ...]:
        """Every URI SAN with the ``spiffe`` scheme, valid or not."""
        return self._san().spiffe_uris

    @property
    def spiffe(self) -> SpiffeID | None:
        """The parsed SPIFFE ID (see ``spiffe_id``)."""
        return self._san().spiffe

    @property
    def spiffe_id(self) -> str | None:
        """The certificate's SPIFFE ID: ``None`` unless exactly one ``spiffe:`` URI SAN is
        present and it is valid per the SPIFFE ID specification."""
        parsed = self._san().spiffe
        return str(parsed) if parsed is not None else None

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
            "common_names": list(self.common_names),
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
    spiffe: Final = None
    fingerprint_sha256: Final = None
    x5t_s256: Final = None
    serial_hex: Final = None
    common_names: Final[tuple[str, ...]] = ()
    spiffe_uris: Final[tuple[str, ...]] = ()
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
