"""How a verified ``ClientIdentity`` becomes the value a ``User`` is looked up by.

Kept free of models and settings so that ``ORIGINVERIFY["USER_MAPPING"]`` can be validated
(and unit-tested) before the app registry is ready.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from originverify import ClientIdentity

log = logging.getLogger("originverify.django")

UserMapping = Callable[[ClientIdentity], str | None]


def _single(kind: str, values: tuple[str, ...], identity: ClientIdentity) -> str | None:
    # Several SANs of one kind give no single answer; picking the first would make the
    # account depend on the CA's ordering. Refuse, and let a custom mapping decide.
    if len(values) == 1:
        return values[0]
    if values:
        log.warning(
            "originverify: %s has %d %s SANs; USER_MAPPING=%r needs exactly one "
            "(write a mapping function to choose)",
            identity.subject,
            len(values),
            kind,
            kind,
        )
    return None


def by_common_name(identity: ClientIdentity) -> str | None:
    """The subject's CN (private PKIs often issue CN-only certificates)."""
    return identity.common_name


def by_email(identity: ClientIdentity) -> str | None:
    """The one rfc822Name SAN."""
    return _single("email", identity.emails, identity)


def by_dns_name(identity: ClientIdentity) -> str | None:
    """The one dNSName SAN (service certificates)."""
    return _single("dns_name", identity.dns_names, identity)


def by_uri(identity: ClientIdentity) -> str | None:
    """The one URI SAN."""
    return _single("uri", identity.uris, identity)


def by_spiffe_id(identity: ClientIdentity) -> str | None:
    """The SPIFFE ID of an X.509-SVID (workload identity)."""
    return identity.spiffe_id


def by_fingerprint(identity: ClientIdentity) -> str | None:
    """SHA-256 of the leaf, lower-case hex: pins one certificate, not a name."""
    return identity.fingerprint_sha256


def by_subject(identity: ClientIdentity) -> str | None:
    """The whole subject DN as an RFC 4514 string."""
    return identity.subject


PRESETS: dict[str, UserMapping] = {
    "common_name": by_common_name,
    "email": by_email,
    "dns_name": by_dns_name,
    "uri": by_uri,
    "spiffe_id": by_spiffe_id,
    "fingerprint": by_fingerprint,
    "subject": by_subject,
}
