"""The ``ORIGINVERIFY`` setting: parsed once, into one ``Verifier`` and the Django options.

Certificate, trust and source-proof keys go to ``originverify.settings.build_verifier``, the
parser every framework shares, so a key means the same thing under Flask and Django and a
mistake reads the same. Only the keys below are Django's own. Keys are case-insensitive.

The result is cached for the life of the process (no file I/O per request) and dropped when a
test changes the setting (``override_settings`` sends ``setting_changed``).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.module_loading import import_string

from originverify import ConfigurationError, VerificationError, Verifier, build_verifier

from .mapping import PRESETS, UserMapping, by_common_name

SETTING = "ORIGINVERIFY"
DEFAULT_FAILURE_VIEW = "django_originverify.views.verification_failed"

FailureView = Callable[
    [HttpRequest, VerificationError], HttpResponseBase | Awaitable[HttpResponseBase]
]

#: Keys only the Django integration reads; every other key belongs to the core parser.
DJANGO_KEYS: dict[str, str] = {
    "failure_view": "view (or dotted path) called as view(request, error) for 400/401/403",
    "login_users": "map each verified certificate to a User per request (no session)",
    "user_mapping": f"how a certificate names its user: {', '.join(PRESETS)}, or a "
    "callable / dotted path taking a ClientIdentity",
    "user_field": "User field (or ORM lookup such as 'certs__fingerprint') matched "
    "against that value; default: USERNAME_FIELD",
    "create_unknown_users": "create a User when none matches (RemoteUserBackend-style)",
    "keep_headers": "leave certificate headers in request.META (the edge secret is always removed)",
}


@dataclass(frozen=True)
class Options:
    """The Django-specific part of ``ORIGINVERIFY``, resolved and type-checked."""

    failure_view: FailureView
    login_users: bool = False
    user_mapping: UserMapping = by_common_name
    user_field: str | None = None
    create_unknown_users: bool = False
    keep_headers: bool = False


def split_settings(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(core keys as given, Django keys lower-cased)."""
    core: dict[str, Any] = {}
    own: dict[str, Any] = {}
    for key, value in raw.items():
        lowered = str(key).lower()
        if lowered in DJANGO_KEYS:
            own[lowered] = value
        else:
            core[key] = value
    return core, own


def _flag(own: Mapping[str, Any], key: str) -> bool:
    # Strict: the string "false" is truthy, and these flags weaken or strengthen security.
    value = own.get(key, False)
    if not isinstance(value, bool):
        raise ConfigurationError(f"{key.upper()} must be True or False, not {value!r}")
    return value


def _callable(value: Any, key: str) -> Callable[..., Any]:
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ConfigurationError(f"{key.upper()}: cannot import {value!r}: {exc}") from None
    if not callable(value):
        raise ConfigurationError(f"{key.upper()} must be callable or a dotted path to one")
    return value  # type: ignore[no-any-return]


def load_options(own: Mapping[str, Any]) -> Options:
    """Resolve the Django keys; ``ConfigurationError`` on any mistake."""
    failure_view = _callable(own.get("failure_view") or DEFAULT_FAILURE_VIEW, "failure_view")
    mapping_value = own.get("user_mapping", "common_name")
    if isinstance(mapping_value, str) and mapping_value.lower() in PRESETS:
        user_mapping: UserMapping = PRESETS[mapping_value.lower()]
    elif isinstance(mapping_value, str) and "." not in mapping_value:
        raise ConfigurationError(
            f"USER_MAPPING {mapping_value!r} is not one of {', '.join(PRESETS)} "
            "nor a dotted path to a function"
        )
    else:
        user_mapping = _callable(mapping_value, "user_mapping")
    user_field = own.get("user_field")
    if user_field is not None and (not isinstance(user_field, str) or not user_field):
        raise ConfigurationError("USER_FIELD must be a field name such as 'username'")
    return Options(
        failure_view=failure_view,
        login_users=_flag(own, "login_users"),
        user_mapping=user_mapping,
        user_field=user_field,
        create_unknown_users=_flag(own, "create_unknown_users"),
        keep_headers=_flag(own, "keep_headers"),
    )


def load_settings(raw: Any) -> tuple[Verifier, Options]:
    """Build what start-up builds from an ``ORIGINVERIFY`` dict; no Django project needed.

    Raises ``originverify.ConfigurationError`` with the same text start-up would show.
    """
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{SETTING} must be a dict, not {type(raw).__name__}")
    core, own = split_settings(raw)
    options = load_options(own)
    return build_verifier(core), options


def raw_settings() -> Mapping[str, Any]:
    """``settings.ORIGINVERIFY``, or ``ImproperlyConfigured`` if it is missing."""
    raw = getattr(settings, SETTING, None)
    if raw is None:
        raise ImproperlyConfigured(
            f"settings.{SETTING} is missing: django_originverify needs at least the trust "
            "anchors and a source proof, e.g. ORIGINVERIFY = {'ANCHORS': 'client-ca.pem', "
            "'EDGE_SECRETS_ENV': 'ORIGINVERIFY_EDGE_SECRET'}"
        )
    return raw  # type: ignore[no-any-return]


_lock = threading.Lock()
_state: tuple[Verifier, Options] | None = None


def configured() -> tuple[Verifier, Options]:
    """The process-wide verifier and options, built on first use (middleware start-up)."""
    global _state
    state = _state
    if state is None:
        with _lock:
            if _state is None:
                try:
                    _state = load_settings(raw_settings())
                except ConfigurationError as exc:
                    raise ImproperlyConfigured(f"{SETTING}: {exc}") from None
            state = _state
    return state


def get_verifier() -> Verifier:
    return configured()[0]


def get_options() -> Options:
    return configured()[1]


def reset() -> None:
    """Forget the built verifier; the next request rebuilds it from the settings."""
    global _state
    with _lock:
        _state = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="django_originverify.conf.reset")
