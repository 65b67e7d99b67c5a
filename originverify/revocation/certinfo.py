"""What revocation checking reads from a certificate: distribution points (RFC 5280 §4.2.1.13),
OCSP responders, the CA flag. Malformed extensions read as "nothing usable", never as "good"."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

#: What reading a certificate's extensions raises when they are malformed.
BAD_EXTENSIONS = (ValueError, x509.DuplicateExtension)

#: The reason codes a distribution point or an issuingDistributionPoint can restrict to
#: (RFC 5280 ReasonFlags bits 1-8). A certificate is covered only when all are.
ALL_REASONS: frozenset[x509.ReasonFlags] = frozenset(
    {
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.ca_compromise,
        x509.ReasonFlags.affiliation_changed,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.certificate_hold,
        x509.ReasonFlags.privilege_withdrawn,
        x509.ReasonFlags.aa_compromise,
    }
)


@dataclass(frozen=True)
class DistributionPoint:
    """One CRL distribution point of a certificate, its names made absolute.

    ``names`` is ``None`` when the point has no distributionPoint field; a
    nameRelativeToCRLIssuer becomes the directoryName (CRL issuer + RDN) it stands for.
    ``crl_issuers`` holds the directoryNames of cRLIssuer (an indirect CRL), else ``None``.
    """

    names: frozenset[x509.GeneralName] | None
    reasons: frozenset[x509.ReasonFlags]
    crl_issuers: tuple[x509.Name, ...] | None
    malformed: bool = False

    @functools.cached_property
    def crl_issuers_der(self) -> tuple[bytes, ...] | None:
        if self.crl_issuers is None:
            return None
        return tuple(n.public_bytes() for n in self.crl_issuers)


def relative_to(issuer: x509.Name, rdn: x509.RelativeDistinguishedName) -> x509.GeneralName:
    return x509.DirectoryName(x509.Name([*issuer.rdns, rdn]))


def _point(dp: x509.DistributionPoint, cert_issuer: x509.Name) -> DistributionPoint:
    crl_issuers: tuple[x509.Name, ...] | None = None
    malformed = False
    if dp.crl_issuer is not None:
        crl_issuers = tuple(n.value for n in dp.crl_issuer if isinstance(n, x509.DirectoryName))
        malformed = not crl_issuers  # a cRLIssuer we cannot match by name
    names: frozenset[x509.GeneralName] | None = None
    if dp.full_name is not None:
        names = frozenset(dp.full_name)
    elif dp.relative_name is not None:
        # RFC 5280 §4.2.1.13: relative to the cRLIssuer if present, else the cert's issuer.
        bases = crl_issuers or (cert_issuer,)
        names = frozenset(relative_to(base, dp.relative_name) for base in bases)
    reasons = frozenset(dp.reasons) if dp.reasons is not None else ALL_REASONS
    return DistributionPoint(names, reasons & ALL_REASONS, crl_issuers, malformed)


#: The implicit point of a certificate without the extension: its issuer, every reason.
DEFAULT_POINT = DistributionPoint(None, ALL_REASONS, None)


def distribution_points(cert: x509.Certificate) -> tuple[DistributionPoint, ...]:
    """The certificate's CRL distribution points (RFC 5280 §6.3.3's "DP"s)."""
    try:
        dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return (DEFAULT_POINT,)
    except BAD_EXTENSIONS:
        return (DistributionPoint(None, ALL_REASONS, None, malformed=True),)
    return tuple(_point(dp, cert.issuer) for dp in dps) or (DEFAULT_POINT,)


def _uris(names: object) -> set[str]:
    return {
        n.value
        for n in names or ()  # type: ignore[attr-defined]
        if isinstance(n, x509.UniformResourceIdentifier)
        and n.value.lower().startswith(("http://", "https://"))
    }


def fetchable_uris(cert: x509.Certificate) -> frozenset[str]:
    """http(s) URIs of the CRL distribution points and freshest-CRL (delta) points."""
    out: set[str] = set()
    for oid in (ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.FRESHEST_CRL):
        try:
            points = cert.extensions.get_extension_for_oid(oid).value
        except (x509.ExtensionNotFound, *BAD_EXTENSIONS):
            continue
        if isinstance(points, x509.CRLDistributionPoints | x509.FreshestCRL):
            for dp in points:
                out |= _uris(dp.full_name)
    return frozenset(out)


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, *BAD_EXTENSIONS):
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and d.access_location.value.lower().startswith(("http://", "https://"))
    ]


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
    except BAD_EXTENSIONS:
        return True  # unreadable: assume CA, which no user-only CRL covers


def key_id(cert: x509.Certificate) -> bytes:
    """subjectKeyIdentifier, or the SHA-1 of the key (what AKIs usually carry)."""
    try:
        return cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.key_identifier
    except (x509.ExtensionNotFound, *BAD_EXTENSIONS):
        return key_hash(cert)


def key_hash(cert: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey bits: OCSP's ``byKey`` responder id."""
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def may_sign_crls(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    except BAD_EXTENSIONS:
        return False
    return usage.crl_sign


def may_sign_certs(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    except BAD_EXTENSIONS:
        return False
    return usage.key_cert_sign


@dataclass(frozen=True, slots=True)
class Facts:
    """What revocation reads from one certificate, parsed once (see ``facts``)."""

    subject_der: bytes
    issuer_der: bytes
    points: tuple[DistributionPoint, ...]
    ca: bool
    key_id: bytes
    may_sign_crls: bool
    may_sign_certs: bool


_FACTS: dict[bytes, Facts] = {}


def facts(cert: x509.Certificate) -> Facts:
    """``Facts`` of ``cert``, memoized by its signature value: certificates here come from
    validated paths (or configured signers), so one signature value is one certificate.
    Reading ``cert.signature`` costs far less than parsing names and extensions again."""
    found = _FACTS.get(cert.signature)
    if found is None:
        found = Facts(
            cert.subject.public_bytes(),
            cert.issuer.public_bytes(),
            distribution_points(cert),
            is_ca(cert),
            key_id(cert),
            may_sign_crls(cert),
            may_sign_certs(cert),
        )
        if len(_FACTS) >= 4096:
            _FACTS.clear()
        _FACTS[cert.signature] = found
    return found
