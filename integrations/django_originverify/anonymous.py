"""``request.client_cert`` for requests without a verified certificate.

Like ``AnonymousUser``: always present, falsy, ``is_authenticated`` False, so templates and
views can write ``if request.client_cert:`` without ``hasattr`` checks. The class is the
core's ``AnonymousClient``, shared with the Flask extension.
"""

from __future__ import annotations

from typing import Final

from originverify.identity import AnonymousClient


class AnonymousClientCert(AnonymousClient):
    """The Django name of the core's anonymous client."""

    __slots__ = ()


ANONYMOUS_CLIENT_CERT: Final = AnonymousClientCert()
