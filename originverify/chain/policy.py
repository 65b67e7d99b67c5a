"""The validation policy, its two profiles, and pyca's extension policies built from it.

Two profiles:

* ``private`` (default): what private CAs really issue. A leaf may lack subjectAltName or
  authorityKeyIdentifier, and may mark EKU or SAN critical. clientAuth is still enforced
  when an EKU is present (and required when ``require_eku``).
* ``webpki``: cryptography's defaults unchanged (SAN and AKI required, non-critical EKU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import Criticality, ExtensionPolicy

from ..errors import ConfigurationError

Profile = Literal["private", "webpki"]
PROFILES: tuple[Profile, ...] = ("private", "webpki")


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Everything that decides whether a chain is acceptable (part of the cache key)."""

    profile: Profile = "private"
    require_eku: bool = False
    #: Tolerated clock error: the path is accepted when every certificate on it is valid at
    #: one common instant within ``clock_skew`` of now (see ``chain.clock``).
    clock_skew: timedelta = timedelta(0)
    max_chain_depth: int = 5
    validation_time: datetime | None = None
    min_rsa_bits: int = 2048
    max_rsa_bits: int = 4096
    rsa_exponents: frozenset[int] = frozenset({65537})
    #: The purpose the leaf (and every CA's EKU, where present) must allow. Client
    #: authentication in production; the conformance harness also runs serverAuth cases.
    extended_key_usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigurationError(f"profile must be one of {PROFILES}, not {self.profile!r}")
        if self.clock_skew < timedelta(0):
            raise ConfigurationError("clock_skew must not be negative")
        if not 0 <= self.max_chain_depth <= 255:
            raise ConfigurationError("max_chain_depth must be between 0 and 255")
        if not 1024 <= self.min_rsa_bits <= self.max_rsa_bits <= 16384:
            raise ConfigurationError("need 1024 <= min_rsa_bits <= max_rsa_bits <= 16384")
        if self.validation_time is not None and self.validation_time.tzinfo is None:
            raise ConfigurationError("validation_time must be timezone-aware")


ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
}
EKUCheck = Callable[[Any, x509.Certificate, x509.ExtendedKeyUsage | None], None]


def eku_name(purpose: x509.ObjectIdentifier) -> str:
    return EKU_NAMES.get(purpose, purpose.dotted_string)


def _eku_checks(purpose: x509.ObjectIdentifier) -> tuple[EKUCheck, EKUCheck]:
    """pyca fixes a client verifier's EKU to clientAuth; these validators make it ours."""
    name = eku_name(purpose)

    def leaf(_policy: Any, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
        if eku is not None and purpose not in eku and ANY_EKU not in eku:
            raise ValueError(f"leaf EKU does not allow {name}")

    def ca(_policy: Any, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
        if eku is not None and purpose not in eku and ANY_EKU not in eku:
            raise ValueError(f"CA EKU allows neither {name} nor anyExtendedKeyUsage")

    return leaf, ca


def extension_policies(policy: ValidationPolicy) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    """pyca's (CA, end-entity) extension policies for ``policy``'s profile."""
    leaf_eku, ca_eku = _eku_checks(policy.extended_key_usage)
    private = policy.profile == "private"
    eku_criticality = Criticality.AGNOSTIC if private else Criticality.NON_CRITICAL
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, eku_criticality, ca_eku
    )
    ee = ExtensionPolicy.webpki_defaults_ee()
    if private:
        ee = ee.may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        ee = ee.may_be_present(x509.AuthorityKeyIdentifier, Criticality.AGNOSTIC, None)
    if policy.require_eku:
        ee = ee.require_present(x509.ExtendedKeyUsage, eku_criticality, leaf_eku)
    else:
        ee = ee.may_be_present(x509.ExtendedKeyUsage, eku_criticality, leaf_eku)
    return ca, ee
