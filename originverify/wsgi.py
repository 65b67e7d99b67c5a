"""WSGI middleware: verify the forwarded client certificate before any framework runs.

What a WSGI adapter can see is what the server left in the environ: duplicate field lines
already joined with ``,`` (the strict decoders refuse the joined ``Client-Cert``, so that is
still caught), and underscore spellings (``Client_Cert``) either folded into the same
``HTTP_CLIENT_CERT`` key or dropped. Only the server can refuse those, so run gunicorn with
its default ``header_map = "drop"`` (or ``"refuse"``); this module refuses to start under
gunicorn's ``header_map = "dangerous"``.

The helpers here (``verify_environ``, ``strip_protected``, ``refuse_unsafe_gunicorn``) are the
whole WSGI side; the Flask extension is built on them, so both make the same core call.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .adapters import (
    ENVIRON_KEY,
    Refusal,
    RefusalBuilder,
    peer_address,
    reason_refusal,
    refusal,
    request_from_environ,
    request_target,
)
from .errors import ConfigurationError, VerificationError
from .identity import ClientIdentity
from .outcome import Outcome
from .verifier import Verifier

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("originverify")

#: The environ key of 0.1 (deprecated; set next to ``ENVIRON_KEY`` for one release).
LEGACY_ENVIRON_KEY = "originverify.identity"

#: ``(status, headers, body)`` of a refusal; what ``error_response`` callables return.
ErrorResponse = tuple[int, list[tuple[str, str]], bytes]

__all__ = [
    "ENVIRON_KEY",
    "ClientCertMiddleware",
    "ErrorResponse",
    "check_environ",
    "client_identity",
    "default_error_response",
    "environ_keys",
    "peer_address",
    "reason_error_response",
    "refuse_unsafe_gunicorn",
    "request_target",
    "strip_protected",
    "verify_environ",
]

#: The default refusal and the one with the reason code (the kernel's, under their 0.1 names).
default_error_response = refusal
reason_error_response = reason_refusal


def check_environ(
    verifier: Verifier,
    environ: Mapping[str, Any],
    headers: Mapping[str, Any] | None = None,
    **options: Any,
) -> Outcome:
    """The one core call for a WSGI request; ``options`` go to ``Verifier.check``."""
    return verifier.check(request_from_environ(environ, headers), **options)


def verify_environ(
    verifier: Verifier,
    environ: Mapping[str, Any],
    headers: Mapping[str, Any] | None = None,
) -> ClientIdentity | None:
    """``check_environ`` as identity-or-raise (``VerificationError`` when enforced)."""
    return check_environ(verifier, environ, headers).raise_for_refusal()


def environ_keys(header_names: Iterable[str]) -> tuple[str, ...]:
    """``HTTP_*`` keys for header names. In an environ ``Client_Cert`` and ``Client-Cert``
    share one key, so removing that key removes both spellings."""
    keys = []
    for name in header_names:
        key = name.upper().replace("-", "_")
        keys.append(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key)
    return tuple(dict.fromkeys(keys))


def strip_protected(environ: WSGIEnvironment, keys: Iterable[str]) -> dict[str, str]:
    """Remove ``keys`` from the environ; return what was removed (never log it: secrets)."""
    removed: dict[str, str] = {}
    for key in keys:
        value = environ.pop(key, None)
        if value is not None:
            removed[key] = value
    return removed


def client_identity(environ: Mapping[str, Any], key: str = ENVIRON_KEY) -> ClientIdentity | None:
    """The identity ``ClientCertMiddleware`` stored (``None``: anonymous request).

    Raises ``LookupError`` when the middleware did not run: a missing middleware must not
    look like an anonymous client.
    """
    if key not in environ and key == ENVIRON_KEY and LEGACY_ENVIRON_KEY in environ:
        warnings.warn(
            f"{LEGACY_ENVIRON_KEY!r} is deprecated; read {ENVIRON_KEY!r}",
            DeprecationWarning,
            stacklevel=2,
        )
        key = LEGACY_ENVIRON_KEY
    try:
        identity = environ[key]
    except KeyError:
        raise LookupError(
            f"no {key!r} in the WSGI environ: is originverify's ClientCertMiddleware installed?"
        ) from None
    if identity is not None and not isinstance(identity, ClientIdentity):
        raise TypeError(f"{key!r} holds {type(identity).__name__}, not a ClientIdentity")
    return identity


def refuse_unsafe_gunicorn(protected_headers: Iterable[str] = ()) -> None:
    """Raise ``ConfigurationError`` when running under gunicorn with ``header_map=dangerous``.

    With that setting gunicorn folds ``Client_Cert`` into ``HTTP_CLIENT_CERT``, so a client
    can smuggle a certificate header past an edge that only strips ``Client-Cert``; nothing
    in the environ tells the two apart afterwards. gunicorn does not put its configuration
    in the environ, but while it loads the application its own objects (arbiter, worker,
    application) are on the call stack; we look there once, at start-up. Under any other
    server this is a no-op.
    """
    if "gunicorn" not in sys.modules:
        return
    cfg = _gunicorn_config()
    if cfg is None:
        return
    header_map = getattr(cfg, "header_map", None)
    if header_map == "dangerous":
        raise ConfigurationError(
            "gunicorn runs with header_map='dangerous': it merges underscore spellings "
            "(Client_Cert) into the real header names, so forged certificate headers could "
            "reach the verifier. Use the default header_map='drop' or, better, 'refuse'"
        )
    forwarded = {str(h).upper() for h in getattr(cfg, "forwarder_headers", None) or ()}
    risky = forwarded & ({"*"} | {h.upper().replace("-", "_") for h in protected_headers})
    if risky:
        log.warning(
            "originverify: gunicorn forwarder_headers=%s lets peers in forwarded_allow_ips send "
            "underscore spellings of protected headers; keep certificate headers out of it",
            ",".join(sorted(risky)),
        )


def _gunicorn_config() -> Any:
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if owner is not None and any(
            klass.__module__.startswith("gunicorn.") for klass in type(owner).__mro__
        ):
            cfg = getattr(owner, "cfg", None)
            if cfg is not None and hasattr(cfg, "settings"):
                return cfg
        frame = frame.f_back  # type: ignore[assignment]
    return None


class ClientCertMiddleware:
    """Verify every request, put the identity in ``environ[environ_key]``, strip headers.

    Refused requests never reach the application: they get the kernel's refusal (400
    malformed headers, 401 no certificate, 403 anything else) with a short public message.
    In ``optional`` mode, and for a refusal report-only mode does not enforce, the
    application runs with ``None`` (anonymous).

    ``strip_headers`` (default on) removes the edge secret, the certificate headers and the
    edge's claim headers (``Verifier.protected_headers``) before the application sees the
    environ. ``on_success(identity, environ)`` and ``on_failure(error, environ)`` are audit
    hooks (``on_failure`` for enforced refusals); ``error_response(error, accept_header)``
    replaces the refusal.
    """

    def __init__(
        self,
        app: WSGIApplication,
        verifier: Verifier,
        *,
        strip_headers: bool = True,
        environ_key: str = ENVIRON_KEY,
        on_success: Callable[[ClientIdentity, WSGIEnvironment], None] | None = None,
        on_failure: Callable[[VerificationError, WSGIEnvironment], None] | None = None,
        error_response: RefusalBuilder | None = None,
    ) -> None:
        if not isinstance(verifier, Verifier):
            raise ConfigurationError(
                "ClientCertMiddleware needs a Verifier (see originverify.build_verifier)"
            )
        refuse_unsafe_gunicorn(verifier.protected_headers)
        self.app = app
        self.verifier = verifier
        self.environ_key = environ_key
        self.strip_keys = environ_keys(verifier.protected_headers) if strip_headers else ()
        self.on_success = on_success
        self.on_failure = on_failure
        self.error_response: RefusalBuilder = error_response or refusal

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        outcome = check_environ(self.verifier, environ)
        if outcome.refused:
            assert outcome.error is not None
            if self.on_failure is not None:
                self.on_failure(outcome.error, environ)
            answer = Refusal(*self.error_response(outcome.error, environ.get("HTTP_ACCEPT")))
            start_response(answer.status_line, answer.headers)
            return [answer.body]
        identity = outcome.identity
        environ[self.environ_key] = identity
        environ[LEGACY_ENVIRON_KEY] = identity
        strip_protected(environ, self.strip_keys)
        if identity is not None and self.on_success is not None:
            self.on_success(identity, environ)
        return self.app(environ, start_response)
