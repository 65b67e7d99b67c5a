"""Blinker signals for audit logging, like Flask's own (``request_finished``, ...).

``client_verified(app, identity=ClientIdentity)`` once per request with a verified client;
``client_rejected(app, error=VerificationError, enforced=bool)`` for every refusal, with
``enforced=False`` when report-only mode let the request through anyway. Refusals the core
swallows in report-only mode are logged and counted by the core (``Verifier.stats``) only.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

client_verified = _signals.signal("originverify-client-verified")
client_rejected = _signals.signal("originverify-client-rejected")
