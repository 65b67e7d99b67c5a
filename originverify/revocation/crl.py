"""CRL parsing: structure checks at load time and an index built once per CRL.

A CRL is refused at load (``CRLError``) when RFC 5280 forbids it or when it carries a critical
extension we do not implement; everything it *does* carry is recorded so that the scope
checks (``scope.py``) can decide, per certificate, whether the CRL covers it. Revoked serials
are indexed per certificate issuer (indirect CRLs name several) in ``frozenset``s: O(1)
lookups, where ``get_revoked_certificate_by_serial_number`` is a linear scan.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from .certinfo import ALL_REASONS, relative_to

_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)
_KNOWN_CRL_EXTENSIONS = (
    x509.AuthorityKeyIdentifier,
    x509.CRLNumber,
    x509.DeltaCRLIndicator,
    x509.IssuingDistributionPoint,
    x509.FreshestCRL,
    x509.AuthorityInformationAccess,
)
_KNOWN_ENTRY_EXTENSIONS = (x509.CRLReason, x509.InvalidityDate, x509.CertificateIssuer)


class CRLError(ValueError):
    """A CRL we refuse to use (malformed, forbidden by RFC 5280, unknown critical extension)."""


@dataclass(eq=False)
class LoadedCRL:
    """One parsed, structurally checked CRL; its signature is checked per signer on use."""

    crl: x509.CertificateRevocationList
    source: str
    issuer: x509.Name
    issuer_der: bytes
    key_id: bytes | None  # authorityKeyIdentifier.keyIdentifier, if the CRL has one
    this_update: datetime
    next_update: datetime
    number: int
    delta_base: int | None = None  # DeltaCRLIndicator: the base CRL number
    idp: x509.IssuingDistributionPoint | None = None
    idp_names: frozenset[x509.GeneralName] | None = None  # absolute distributionPoint names
    reasons: frozenset[x509.ReasonFlags] = ALL_REASONS  # onlySomeReasons, else all
    revoked: dict[bytes, frozenset[int]] = field(default_factory=dict)  # issuer DER -> serials
    removed: dict[bytes, frozenset[int]] = field(default_factory=dict)  # delta removeFromCRL
    # signer certificate (keyed by its signature value) -> signature verifies
    _signature_ok: dict[bytes, bool] = field(default_factory=dict, repr=False)

    @property
    def is_delta(self) -> bool:
        return self.delta_base is not None

    @property
    def indirect(self) -> bool:
        return self.idp is not None and self.idp.indirect_crl

    @property
    def serials(self) -> frozenset[int]:
        """Serials revoked for the CRL issuer's own certificates."""
        return self.revoked.get(self.issuer_der, frozenset())

    @property
    def entries(self) -> int:
        return sum(len(s) for s in self.revoked.values()) + sum(
            len(s) for s in self.removed.values()
        )

    @functools.cached_property
    def description(self) -> str:
        """Rendered once: DN and date formatting cost more than the whole lookup."""
        kind = f"delta CRL (base #{self.delta_base})" if self.is_delta else "CRL"
        return (
            f"{kind} #{self.number} {self.issuer.rfc4514_string()!r} from {self.source} "
            f"(thisUpdate {self.this_update:%Y-%m-%dT%H:%M:%SZ}, "
            f"nextUpdate {self.next_update:%Y-%m-%dT%H:%M:%SZ})"
        )

    def lists(self, issuer_der: bytes, serial: int) -> bool:
        serials = self.revoked.get(issuer_der)
        return serials is not None and serial in serials

    def removes(self, issuer_der: bytes, serial: int) -> bool:
        serials = self.removed.get(issuer_der)
        return serials is not None and serial in serials

    def signed_by(self, signer: x509.Certificate) -> bool:
        """The signature verifies with ``signer``'s key (cached per signer certificate).
        Whether ``signer`` may sign this CRL is ``issuers.py``'s question."""
        known = self._signature_ok.get(signer.signature)
        if known is not None:
            return known
        try:
            ok = self.crl.is_signature_valid(signer.public_key())  # type: ignore[arg-type]
        except (TypeError, ValueError, UnsupportedAlgorithm):
            ok = False
        if len(self._signature_ok) < 64:
            self._signature_ok[signer.signature] = ok
        return ok

    def newer_than(self, other: LoadedCRL) -> bool:
        return (self.number, self.this_update) > (other.number, other.this_update)

    def same_scope(self, other: LoadedCRL) -> bool:
        """Same issuer and issuingDistributionPoint (RFC 5280 §5.2.4 for delta CRLs)."""
        return self.issuer_der == other.issuer_der and self.idp == other.idp


def _read_idp(
    crl: LoadedCRL, value: x509.IssuingDistributionPoint, source: str, critical: bool
) -> None:
    if not critical:
        raise CRLError(f"{source}: issuingDistributionPoint must be critical (RFC 5280 §5.2.5)")
    if (
        value.only_contains_user_certs
        + value.only_contains_ca_certs
        + (value.only_contains_attribute_certs)
        > 1
    ):
        raise CRLError(f"{source}: issuingDistributionPoint asserts more than one 'only' scope")
    crl.idp = value
    if value.full_name is not None:
        crl.idp_names = frozenset(value.full_name)
    elif value.relative_name is not None:
        crl.idp_names = frozenset({relative_to(crl.issuer, value.relative_name)})
    if value.only_some_reasons is not None:
        crl.reasons = frozenset(value.only_some_reasons) & ALL_REASONS


def _read_extensions(crl: LoadedCRL, source: str) -> tuple[bool, int | None]:
    """Fill ``crl`` from the CRL extensions; returns (has CRLNumber, delta base)."""
    try:
        extensions = crl.crl.extensions
    except ValueError as exc:
        raise CRLError(f"{source}: unreadable CRL extensions: {exc}") from None
    has_number, base = False, None
    for ext in extensions:
        value = ext.value
        if not isinstance(value, _KNOWN_CRL_EXTENSIONS):
            if ext.critical:
                raise CRLError(
                    f"{source}: unsupported critical CRL extension {ext.oid.dotted_string}"
                )
        elif isinstance(value, x509.AuthorityKeyIdentifier):
            crl.key_id = value.key_identifier
        elif isinstance(value, x509.CRLNumber):
            if ext.critical:
                raise CRLError(f"{source}: CRLNumber must not be critical (RFC 5280 §5.2.3)")
            crl.number, has_number = value.crl_number, True
        elif isinstance(value, x509.DeltaCRLIndicator):
            if not ext.critical:
                raise CRLError(f"{source}: DeltaCRLIndicator must be critical (RFC 5280 §5.2.4)")
            base = value.crl_number
        elif isinstance(value, x509.IssuingDistributionPoint):
            _read_idp(crl, value, source, ext.critical)
    return has_number, base


def _read_entries(crl: LoadedCRL, source: str) -> None:
    """Index the entries by certificate issuer (RFC 5280 §5.3.3 for indirect CRLs)."""
    revoked: dict[bytes, set[int]] = {}
    removed: dict[bytes, set[int]] = {}
    current = [crl.issuer_der]  # entries belong to the CRL issuer until certificateIssuer
    try:
        for entry in crl.crl:
            reason = None
            for ext in entry.extensions:
                value = ext.value
                if isinstance(value, x509.CertificateIssuer):
                    if not crl.indirect:
                        raise CRLError(f"{source}: certificateIssuer entry in a direct CRL")
                    current = [
                        n.value.public_bytes() for n in value if isinstance(n, x509.DirectoryName)
                    ]
                elif isinstance(value, x509.CRLReason):
                    reason = value.reason
                elif ext.critical and not isinstance(value, _KNOWN_ENTRY_EXTENSIONS):
                    raise CRLError(
                        f"{source}: unsupported critical CRL entry extension "
                        f"{ext.oid.dotted_string}"
                    )
            # removeFromCRL means something only in a delta; in a complete CRL the entry
            # stays a revocation (fail closed).
            target = (
                removed if reason is x509.ReasonFlags.remove_from_crl and crl.is_delta else revoked
            )
            for name in current:
                target.setdefault(name, set()).add(entry.serial_number)
    except ValueError as exc:
        if isinstance(exc, CRLError):
            raise
        raise CRLError(f"{source}: unreadable CRL entry: {exc}") from None
    crl.revoked = {name: frozenset(s) for name, s in revoked.items()}
    crl.removed = {name: frozenset(s) for name, s in removed.items()}


def parse_crl(crl: x509.CertificateRevocationList, source: str) -> LoadedCRL:
    """Check a CRL's structure and index its entries; raises ``CRLError``."""
    try:
        return _parse(crl, source)
    except CRLError:
        raise
    except (ValueError, x509.InvalidVersion) as exc:  # pyca parses lazily
        raise CRLError(f"{source}: malformed CRL: {exc}") from None


def _parse(crl: x509.CertificateRevocationList, source: str) -> LoadedCRL:
    next_update = crl.next_update_utc
    if next_update is None:
        raise CRLError(f"{source}: CRL has no nextUpdate (RFC 5280 requires one)")
    loaded = LoadedCRL(
        crl=crl,
        source=source,
        issuer=crl.issuer,
        issuer_der=crl.issuer.public_bytes(),
        key_id=None,
        this_update=crl.last_update_utc,
        next_update=next_update,
        number=-1,
    )
    has_number, loaded.delta_base = _read_extensions(loaded, source)
    if not has_number:
        raise CRLError(f"{source}: CRL has no CRLNumber (RFC 5280 §5.2.3 requires one)")
    if loaded.delta_base is not None and loaded.delta_base >= loaded.number:
        raise CRLError(f"{source}: delta CRL #{loaded.number} for a base not older than it")
    _read_entries(loaded, source)
    return loaded


def load_crls(data: bytes, source: str) -> list[LoadedCRL]:
    """Every CRL in PEM (one or more blocks) or DER ``data``; raises ``CRLError``."""
    try:
        if b"-----BEGIN" in data:
            blocks = _PEM_CRL.findall(data)
            if not blocks:
                raise CRLError(f"{source}: no 'X509 CRL' PEM block")
            crls = [x509.load_pem_x509_crl(block) for block in blocks]
        else:
            crls = [x509.load_der_x509_crl(data)]
    except (ValueError, x509.InvalidVersion) as exc:
        if isinstance(exc, CRLError):
            raise
        raise CRLError(f"{source}: not a PEM or DER CRL ({exc})") from None
    return [parse_crl(crl, source) for crl in crls]
