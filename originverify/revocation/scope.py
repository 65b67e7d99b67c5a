"""RFC 5280 §6.3.3 (b)-(d): does a CRL cover a certificate, and for which reasons?

``covers`` answers for one certificate distribution point (or the implicit one of a
certificate without the extension) and one CRL: the CRL issuer is the one the point names
(an indirect CRL for a cRLIssuer), the issuingDistributionPoint names one of the point's
names in any GeneralName form, and the only-user/CA/attribute flags admit the certificate.
``interim_reasons`` is §6.3.3 (c). Anything unproven is "not covered": the caller then ends
with "unknown", never "good".
"""

from __future__ import annotations

from cryptography import x509

from .certinfo import DistributionPoint
from .crl import LoadedCRL


def _normal(name: x509.GeneralName) -> object:
    """A comparison key: URIs compare with scheme and host case-folded (RFC 3986 §6.2.2.1)."""
    if isinstance(name, x509.UniformResourceIdentifier):
        scheme, sep, rest = name.value.partition("://")
        if sep:
            host, slash, path = rest.partition("/")
            return ("uri", f"{scheme.lower()}://{host.lower()}{slash}{path}")
        return ("uri", name.value)
    if isinstance(name, x509.DirectoryName):
        return ("dn", name.value)
    return (type(name).__name__, name)


def names_match(ours: frozenset[x509.GeneralName], theirs: frozenset[x509.GeneralName]) -> bool:
    """One name in common, whatever its GeneralName form."""
    return not {_normal(n) for n in ours}.isdisjoint(_normal(n) for n in theirs)


def covers(
    crl: LoadedCRL, point: DistributionPoint, cert_issuer_der: bytes, ca: bool
) -> str | None:
    """``None`` when ``crl`` covers certificates of ``point``, else why not."""
    if point.malformed:
        return "the certificate's distribution point cannot be interpreted"
    # (b)(1): the CRL issuer
    crl_issuers = point.crl_issuers_der
    if crl_issuers is not None:
        if crl.issuer_der not in crl_issuers:
            return "issued by another CRL issuer than the distribution point names"
        if not crl.indirect:
            return "the distribution point names a CRL issuer but the CRL is not indirect"
    elif crl.issuer_der != cert_issuer_der:
        return "not issued by the certificate's issuer"
    # (b)(2): the issuing distribution point
    idp = crl.idp
    if idp is None:
        return None
    if crl.idp_names is not None:
        if point.names is not None:
            if not names_match(crl.idp_names, point.names):
                return "a partition for another distribution point"
        elif point.crl_issuers is not None:
            if not names_match(
                crl.idp_names, frozenset(x509.DirectoryName(n) for n in point.crl_issuers)
            ):
                return "a partition that names none of the distribution point's CRL issuers"
        else:
            return "a partition, and the certificate names no distribution point"
    if idp.only_contains_user_certs and ca:
        return "covers end-entity certificates only"
    if idp.only_contains_ca_certs and not ca:
        return "covers CA certificates only"
    if idp.only_contains_attribute_certs:
        return "covers attribute certificates only"
    return None


def interim_reasons(crl: LoadedCRL, point: DistributionPoint) -> frozenset[x509.ReasonFlags]:
    """§6.3.3 (c): the reasons both the point and the CRL cover."""
    return crl.reasons & point.reasons
