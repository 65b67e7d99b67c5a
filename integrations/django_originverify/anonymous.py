"""``request.client_identity`` for requests without a verified certificate.

Like ``AnonymousUser``: always present, falsy, ``is_authenticated`` False, so templates and
views can write ``if request.client_identity:`` without ``hasattr`` checks. It is the core's
``ANONYMOUS``, the same object every adapter uses.
"""

from __future__ import annotations

from typing import Final

from originverify.identity import ANONYMOUS, AnonymousClient

ANONYMOUS_CLIENT: Final = ANONYMOUS

#: The 0.1 names (deprecated): the core's class and object.
AnonymousClientCert = AnonymousClient
ANONYMOUS_CLIENT_CERT: Final = ANONYMOUS
