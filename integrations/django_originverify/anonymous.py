"""``request.client_cert`` for requests without a verified certificate.

Like ``AnonymousUser``: always present, falsy, ``is_authenticated`` False, so templates and
views can write ``if request.client_cert:`` without ``hasattr`` checks.
"""

from __future__ import annotations

from typing import Final


class AnonymousClientCert:
    """No verified client certificate (``optional`` mode, or ``report_only``)."""

    __slots__ = ()

    is_authenticated: Final = False
    subject: Final = None
    common_name: Final = None
    issuer: Final = None
    spiffe_id: Final = None
    fingerprint_sha256: Final = None
    dns_names: Final[tuple[str, ...]] = ()
    uris: Final[tuple[str, ...]] = ()
    emails: Final[tuple[str, ...]] = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<AnonymousClientCert>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnonymousClientCert)

    def __hash__(self) -> int:
        return hash(AnonymousClientCert)


ANONYMOUS_CLIENT_CERT: Final = AnonymousClientCert()
