"""The Flask extension: settings from ``app.config``, decorators, ``current_client``.

The request path, top to bottom:

1. ``_WithholdHeaders`` (wraps ``app.wsgi_app``) moves the edge secret and the certificate
   headers out of the environ before Flask builds the request, so no view, extension or
   error page sees them.
2. The first time a request needs its client (a decorator, the app-wide hook or
   ``current_client``), ``originverify.wsgi.verify_environ`` makes the one core call on the
   withheld fields; the outcome is kept in ``g`` for the rest of the request.
3. The view's requirement (required / optional / exempt) and its rules turn the outcome
   into a ``ClientIdentity``, an ``AnonymousClient``, or a Werkzeug HTTP exception.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import wraps
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast, overload

from flask import Flask, current_app, g, request
from werkzeug.local import LocalProxy

from originverify import (
    ANONYMOUS,
    AnonymousClient,
    ClientIdentity,
    ConfigurationError,
    Mode,
    Outcome,
    Rules,
    Verifier,
    build_verifier,
)
from originverify.adapters import request_from_environ
from originverify.config import parse_flag
from originverify.wsgi import environ_keys, refuse_unsafe_gunicorn, strip_protected

from .errors import http_error
from .signals import client_rejected, client_verified

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

F = TypeVar("F", bound=Callable[..., Any])

#: ``app.config`` keys start with this; the rest is a key of ``originverify.settings.KEYS``
#: or one of the Flask-only keys below.
PREFIX: Final = "ORIGINVERIFY_"
#: Flask-only settings, with their defaults.
FLASK_KEYS: Final[dict[str, bool]] = {"app_wide": False, "strip_headers": True}
EXTENSION_KEY: Final = "originverify"

_POLICY_ATTR = "_originverify_policy"
_WITHHELD_KEY = "originverify.withheld"
_G_OUTCOME = "_originverify_outcome"
_G_ANNOUNCED = "_originverify_announced"


class Requirement(StrEnum):
    """What a view asks of the client."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    EXEMPT = "exempt"


@dataclass(frozen=True, slots=True)
class ViewPolicy:
    """Attached to decorated views; built once, at decoration time."""

    requirement: Requirement
    rules: Rules | None = None


CurrentClient = ClientIdentity | AnonymousClient


class _Withheld:
    """Protected header fields taken out of the environ; the repr hides the values, so
    environ dumps (debuggers, error reporters) do not show the edge secret."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields

    def __repr__(self) -> str:
        return f"<originverify: {len(self.fields)} header field(s) withheld>"


class _WithholdHeaders:
    """WSGI wrapper run before Flask builds the request object."""

    def __init__(self, app: WSGIApplication, keys: tuple[str, ...]) -> None:
        self.app = app
        self.keys = keys

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        environ[_WITHHELD_KEY] = _Withheld(strip_protected(environ, self.keys))
        return self.app(environ, start_response)


@dataclass(frozen=True, slots=True)
class _AppState:
    verifier: Verifier
    app_wide: bool
    strip_headers: bool
    principal: Principal | None = None


#: ``ORIGINVERIFY_PRINCIPAL``: maps a verified client to the application's own user object
#: (like Django's ``USER_MAPPING``); ``None`` means "no such user".
Principal = Callable[[ClientIdentity], Any]


def _principal(value: Any) -> Principal | None:
    if value is None or callable(value):
        return cast("Principal | None", value)
    if isinstance(value, str):
        module, _, name = value.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigurationError(f"{PREFIX}PRINCIPAL {value!r}: {exc}") from None
        if callable(found):
            return cast(Principal, found)
    raise ConfigurationError(f"{PREFIX}PRINCIPAL must be a callable or a dotted path")


def _flag(value: Any, key: str) -> bool:
    return parse_flag(value, f"{PREFIX}{key.upper()}")


class OriginVerify:
    """Flask extension: ``OriginVerify(app)`` or ``ext = OriginVerify(); ext.init_app(app)``.

    Settings come from ``app.config`` (``ORIGINVERIFY_ANCHORS``, ``ORIGINVERIFY_MODE``, ...,
    every key of ``originverify.settings.KEYS``), then keyword arguments (``anchors=...``),
    which win. Flask-only keys: ``APP_WIDE`` (verify every request, not only decorated
    views) and ``STRIP_HEADERS`` (default on). A prebuilt ``verifier=`` replaces the core
    keys. Every mistake raises ``ConfigurationError`` in ``init_app``.
    """

    def __init__(
        self, app: Flask | None = None, *, verifier: Verifier | None = None, **settings: Any
    ) -> None:
        self.app = app
        self._verifier = verifier
        self._settings = settings
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, verifier: Verifier | None = None, **settings: Any) -> None:
        """Build the verifier for ``app`` now, so configuration errors stop start-up."""
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError("OriginVerify is already initialised on this app")
        merged: dict[str, Any] = {
            key: value for key, value in app.config.items() if key.startswith(PREFIX)
        }
        for key, value in {**self._settings, **settings}.items():
            merged[PREFIX + key.upper()] = value
        options = {
            name: _flag(merged.pop(PREFIX + name.upper(), default), name)
            for name, default in FLASK_KEYS.items()
        }
        principal = _principal(merged.pop(PREFIX + "PRINCIPAL", None))
        verifier = verifier or self._verifier
        if verifier is None:
            verifier = build_verifier(merged, prefix=PREFIX)
        elif merged:
            raise ConfigurationError(
                f"verifier= given together with settings {', '.join(sorted(merged))}; "
                "pass one or the other"
            )
        if not isinstance(verifier, Verifier):
            raise ConfigurationError("verifier= must be an originverify.Verifier")
        refuse_unsafe_gunicorn(verifier.protected_headers)
        state = _AppState(verifier, options["app_wide"], options["strip_headers"], principal)
        app.extensions[EXTENSION_KEY] = state
        if state.strip_headers:
            keys = environ_keys(verifier.protected_headers)
            app.wsgi_app = _WithholdHeaders(app.wsgi_app, keys)  # type: ignore[method-assign]
        if state.app_wide:
            app.before_request(_enforce_app_wide)

    @property
    def verifier(self) -> Verifier:
        """The verifier of ``self.app`` (constructor form) or of ``current_app``."""
        return _state(self.app).verifier


def _state(app: Flask | None = None) -> _AppState:
    app = app if app is not None else current_app
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, _AppState):
        raise RuntimeError("OriginVerify is not initialised on this app (OriginVerify(app))")
    return state


def _facts() -> Any:
    environ = request.environ
    withheld = environ.get(_WITHHELD_KEY)
    return request_from_environ(
        environ, withheld.fields if isinstance(withheld, _Withheld) else None
    )


def _outcome(state: _AppState) -> Outcome:
    """The core's verdict on this request, once per request (anonymous allowed: each view
    states its own requirement)."""
    outcome = g.get(_G_OUTCOME)
    if isinstance(outcome, Outcome):
        return outcome
    outcome = state.verifier.check(_facts(), required=False)
    setattr(g, _G_OUTCOME, outcome)
    if outcome.error is not None:
        _announce_refusal(outcome)
    return outcome


def _sender() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]


def _announce_refusal(outcome: Outcome) -> None:
    """``client_rejected`` with the core's reason; raise the HTTP error when enforced."""
    assert outcome.error is not None
    client_rejected.send(_sender(), error=outcome.error, enforced=outcome.enforced)
    if outcome.enforced:
        # Error handlers that read current_client see an anonymous client, not a new refusal.
        g.client_identity = ANONYMOUS
        raise http_error(outcome.error)


def authenticate(requirement: Requirement, rules: Rules | None = None) -> CurrentClient:
    """The client of the current request under ``requirement``; raises the HTTP error.

    Public for adapters built on this extension (e.g. a Flask-RESTX decorator).
    """
    state = _state()
    outcome = _outcome(state)
    if outcome.refused:
        assert outcome.error is not None
        raise http_error(outcome.error)
    identity = outcome.identity
    needs_gate = rules is not None or (identity is None and requirement is Requirement.REQUIRED)
    if needs_gate and requirement is not Requirement.EXEMPT:
        gate = state.verifier.require(identity, _facts(), rules=rules)
        if gate.error is not None:
            _announce_refusal(gate)  # raises when enforced; report-only keeps the identity
    client: CurrentClient = identity if identity is not None else ANONYMOUS
    g.client_identity = client
    if identity is not None and not g.get(_G_ANNOUNCED):
        setattr(g, _G_ANNOUNCED, True)
        if client_verified.receivers:  # sending to no one still costs a lookup per request
            client_verified.send(_sender(), identity=identity)
    return client


def require_token_binding(claims: Mapping[str, Any]) -> CurrentClient:
    """RFC 8705: the current request's access token (its validated ``claims``) must be
    bound to the verified client certificate (``cnf.x5t#S256``). Refuses with 401
    (``missing_certificate``, ``token_not_bound``, ``token_binding_mismatch``) through the
    core, so it is logged, counted and not enforced in report-only mode."""
    state = _state()
    client = authenticate(Requirement.REQUIRED)
    identity = client if isinstance(client, ClientIdentity) else None
    gate = state.verifier.require(identity, _facts(), token_claims=claims)
    if gate.error is not None:
        _announce_refusal(gate)
    return client


def _enforce_app_wide() -> None:
    """``before_request`` hook of ``APP_WIDE``: decorated views decide for themselves."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, _POLICY_ATTR, None) is not None:
        return
    mode = _state().verifier.mode
    authenticate(Requirement.REQUIRED if mode is Mode.REQUIRED else Requirement.OPTIONAL)


def _current_client() -> CurrentClient:
    client = g.get("client_identity")
    if isinstance(client, ClientIdentity | AnonymousClient):
        return client
    return authenticate(Requirement.OPTIONAL)


#: The client of the current request, like ``flask_login.current_user``: a
#: ``ClientIdentity``, or an ``AnonymousClient`` when none was presented. Outside decorated
#: views it verifies on first use with optional semantics (an invalid certificate → 403).
current_client: CurrentClient = cast(CurrentClient, LocalProxy(_current_client))


def _current_principal() -> Any:
    if "_originverify_principal" in g:
        return g._originverify_principal
    client = _current_client()
    principal = _state().principal
    found = (
        principal(client) if principal is not None and isinstance(client, ClientIdentity) else None
    )
    g._originverify_principal = found
    return found


#: What ``ORIGINVERIFY_PRINCIPAL`` maps the current client to (``None``: anonymous, no
#: mapping configured, or no such user), computed once per request.
current_principal: Any = LocalProxy(_current_principal)


def _mark(view: F, policy: ViewPolicy) -> F:
    # Flask's ensure_sync inspects the view on every call; only coroutine views need it.
    is_async = inspect.iscoroutinefunction(view)

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if policy.requirement is not Requirement.EXEMPT:
            authenticate(policy.requirement, policy.rules)
        if is_async:
            return current_app.ensure_sync(view)(*args, **kwargs)
        return view(*args, **kwargs)

    setattr(wrapper, _POLICY_ATTR, policy)
    return cast(F, wrapper)


def _rules(rules: Rules | Mapping[str, Any] | None, patterns: Mapping[str, Any]) -> Rules | None:
    given = {key: value for key, value in patterns.items() if value}
    if rules is not None and given:
        raise ConfigurationError("pass either rules= or rule keywords, not both")
    if given:
        built = Rules.from_mapping(given)
    elif rules is None:
        return None
    else:
        built = rules if isinstance(rules, Rules) else Rules.from_mapping(rules)
    return None if built.empty else built


@overload
def client_cert_required(view: F, /) -> F: ...
@overload
def client_cert_required(
    view: None = None,
    /,
    *,
    rules: Rules | Mapping[str, Any] | None = None,
    subjects: str | Iterable[str] = (),
    common_names: str | Iterable[str] = (),
    dns_names: str | Iterable[str] = (),
    uris: str | Iterable[str] = (),
    emails: str | Iterable[str] = (),
    spiffe_ids: str | Iterable[str] = (),
    issuers: str | Iterable[str] = (),
    fingerprints: str | Iterable[str] = (),
    predicate: Callable[[ClientIdentity], bool] | None = None,
) -> Callable[[F], F]: ...
def client_cert_required(
    view: F | None = None,
    /,
    *,
    rules: Rules | Mapping[str, Any] | None = None,
    subjects: str | Iterable[str] = (),
    common_names: str | Iterable[str] = (),
    dns_names: str | Iterable[str] = (),
    uris: str | Iterable[str] = (),
    emails: str | Iterable[str] = (),
    spiffe_ids: str | Iterable[str] = (),
    issuers: str | Iterable[str] = (),
    fingerprints: str | Iterable[str] = (),
    predicate: Callable[[ClientIdentity], bool] | None = None,
) -> F | Callable[[F], F]:
    """The view needs a verified client certificate (401 without, 403 if invalid/denied).

    Bare (``@client_cert_required``) or with rules, compiled once here: patterns matched
    on parsed names per category (all configured categories must match, any pattern within
    one; the pattern language is in docs/configuration.md), e.g.
    ``@client_cert_required(spiffe_ids=["spiffe://example.org/billing/**"])``.
    """
    policy = ViewPolicy(
        Requirement.REQUIRED,
        _rules(
            rules,
            {
                "subjects": subjects,
                "common_names": common_names,
                "dns_names": dns_names,
                "uris": uris,
                "emails": emails,
                "spiffe_ids": spiffe_ids,
                "issuers": issuers,
                "fingerprints": fingerprints,
                "predicate": predicate,
            },
        ),
    )
    if view is not None:
        return _mark(view, policy)

    def decorate(inner: F) -> F:
        return _mark(inner, policy)

    return decorate


_OPTIONAL = ViewPolicy(Requirement.OPTIONAL)
_EXEMPT = ViewPolicy(Requirement.EXEMPT)


def client_cert_optional(view: F) -> F:
    """No certificate → ``current_client`` is anonymous; an invalid one → 403 (or 400)."""
    return _mark(view, _OPTIONAL)


def client_cert_exempt(view: F) -> F:
    """Skip ``APP_WIDE`` verification for this view (health checks)."""
    return _mark(view, _EXEMPT)
