"""System checks: configuration mistakes reported by ``manage.py check`` (and before
``runserver``/``migrate``), each with a stable id and a hint.

The middleware refuses to start on the same errors (``ImproperlyConfigured``), so a server
that never runs the checks (gunicorn, uvicorn) cannot start misconfigured either; the checks
add ids, hints, and the warnings that do not stop a server.

======================  =================================================================
``originverify.E001``   ``ORIGINVERIFY`` missing or not a dict
``originverify.E002``   a setting is invalid (unknown key, bad value, unset secret variable)
``originverify.E003``   no trust anchors
``originverify.E004``   trust anchors unreadable or not certificates
``originverify.E005``   no source proof (edge secret, trusted proxies)
``originverify.E006``   source proof switched off while ``DEBUG = False``
``originverify.E007``   ``ClientCertMiddleware`` not in ``MIDDLEWARE``
``originverify.E008``   ``LOGIN_USERS`` but ``AuthenticationMiddleware`` missing or after it
``originverify.E009``   ``LOGIN_USERS`` but no ``ClientCertBackend`` in the backends
``originverify.E010``   a Django option is invalid (``FAILURE_VIEW``, ``USER_MAPPING``, ...)
``originverify.E011``   ``CREATE_UNKNOWN_USERS`` with a ``USER_FIELD`` across a relation
``originverify.W001``   source proof switched off (``DEBUG = True``)
``originverify.W002``   ``report_only`` mode while ``DEBUG = False``: nothing is enforced
``originverify.W003``   a trust anchor has expired
======================  =================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from originverify import ConfigurationError, build_verifier, load_certificates
from originverify.config import parse_flag
from originverify.settings import normalize

from . import conf

DOCS = "see docs/django.md"
MIDDLEWARE = "django_originverify.middleware.ClientCertMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
BACKEND = "django_originverify.backends.ClientCertBackend"
_PROOF_KEYS = ("edge_secrets", "edge_secrets_env", "edge_secrets_file", "trusted_proxies")


@checks.register("originverify", checks.Tags.security)
def check_originverify(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every originverify check, in the order a newcomer would fix them."""
    raw = getattr(settings, conf.SETTING, None)
    if not isinstance(raw, Mapping):
        what = "missing" if raw is None else f"a {type(raw).__name__}, not a dict"
        return [
            checks.Error(
                f"settings.ORIGINVERIFY is {what}",
                hint="ORIGINVERIFY = {'ANCHORS': 'client-ca.pem', 'EDGE_SECRETS_ENV': "
                f"'ORIGINVERIFY_EDGE_SECRET'}}; {DOCS}",
                id="originverify.E001",
            )
        ]
    core, own = conf.split_settings(raw)
    messages: list[checks.CheckMessage] = []
    options: conf.Options | None = None
    try:
        options = conf.load_options(own)
    except ConfigurationError as exc:
        messages.append(
            checks.Error(
                str(exc), hint=f"Django options of ORIGINVERIFY; {DOCS}", id="originverify.E010"
            )
        )
    core_messages = _check_core(core)
    messages += core_messages
    if not any(m.is_serious() for m in core_messages):
        messages += _check_build(core, options is not None)
    messages += _check_middleware(options)
    messages += _check_users(options)
    return messages


def _check_core(core: Mapping[str, Any]) -> list[checks.CheckMessage]:
    try:
        s = normalize(core)
    except ConfigurationError as exc:
        return [_invalid(exc)]
    messages = _check_trust(s) + _check_source(s)
    if str(s.get("mode", "required")).lower() == "report_only" and not settings.DEBUG:
        messages.append(
            checks.Warning(
                "ORIGINVERIFY['MODE'] is 'report_only': no request is refused",
                hint="meant for rolling out mTLS; switch to 'required' or 'optional' once the "
                "logs show no unexpected rejections",
                id="originverify.W002",
            )
        )
    return messages


def _check_trust(s: Mapping[str, Any]) -> list[checks.CheckMessage]:
    anchors = s.get("anchors")
    if anchors not in (None, "", [], ()):
        return _check_anchors(anchors)
    if s.get("trust_edge_verdict"):
        return []
    return [
        checks.Error(
            "no trust anchors configured: no forwarded certificate can be verified",
            hint="set ORIGINVERIFY['ANCHORS'] to the PEM file (or directory) of the CA "
            "that issues your client certificates",
            id="originverify.E003",
        )
    ]


def _check_source(s: Mapping[str, Any]) -> list[checks.CheckMessage]:
    source = s.get("source")
    if source is not None:
        insecure = bool(getattr(source, "insecure", False))
    else:
        has_proof = any(s.get(key) for key in _PROOF_KEYS)
        try:
            opted_out = parse_flag(s.get("insecure_no_source_proof"), "insecure_no_source_proof")
        except ConfigurationError as exc:
            return [_invalid(exc)]
        insecure = opted_out and not has_proof
        if not has_proof and not insecure:
            return [
                checks.Error(
                    "no source proof configured: anyone who can reach this origin directly "
                    "could paste a stolen certificate into a header",
                    hint="set ORIGINVERIFY['EDGE_SECRETS_ENV'] (a secret header your edge "
                    "adds) and/or ORIGINVERIFY['TRUSTED_PROXIES'] (the edge's networks)",
                    id="originverify.E005",
                )
            ]
    if not insecure:
        return []
    if settings.DEBUG:
        return [
            checks.Warning(
                "source proof is switched off (INSECURE_NO_SOURCE_PROOF)",
                hint="fine for local development; configure EDGE_SECRETS_ENV or "
                "TRUSTED_PROXIES before deploying",
                id="originverify.W001",
            )
        ]
    return [
        checks.Error(
            "source proof is switched off (INSECURE_NO_SOURCE_PROOF) while DEBUG = "
            "False: any client reaching the origin can forge a certificate header",
            hint="configure EDGE_SECRETS_ENV or TRUSTED_PROXIES; only if the origin is "
            "unreachable except through the edge by construction, add "
            "'originverify.E006' to SILENCED_SYSTEM_CHECKS",
            id="originverify.E006",
        )
    ]


def _check_anchors(anchors: Any) -> list[checks.CheckMessage]:
    try:
        certificates = load_certificates(anchors, "trust anchors")
    except ConfigurationError as exc:
        return [
            checks.Error(
                str(exc),
                hint="ORIGINVERIFY['ANCHORS'] must name a readable PEM/DER file or a "
                "directory of .pem/.crt/.cer files (paths are relative to the working "
                "directory; prefer BASE_DIR / 'client-ca.pem')",
                id="originverify.E004",
            )
        ]
    except (TypeError, ValueError) as exc:
        return [
            checks.Error(
                f"trust anchors: {exc}",
                hint="ANCHORS takes a path, PEM/DER bytes, or a list of those",
                id="originverify.E004",
            )
        ]
    if not certificates:
        return [
            checks.Error(
                "trust anchors: no certificate found",
                hint="ORIGINVERIFY['ANCHORS'] must contain at least one CA certificate",
                id="originverify.E003",
            )
        ]
    now = datetime.now(UTC)
    return [
        checks.Warning(
            f"trust anchor {cert.subject.rfc4514_string()!r} expired on "
            f"{cert.not_valid_after_utc:%Y-%m-%d}",
            hint="no certificate can chain to an expired anchor; replace it",
            id="originverify.W003",
        )
        for cert in certificates
        if cert.not_valid_after_utc < now
    ]


def _check_build(core: Mapping[str, Any], options_ok: bool) -> list[checks.CheckMessage]:
    """Everything the targeted checks did not catch: build it as start-up will."""
    try:
        if options_ok:
            conf.configured()  # cached: the middleware reuses this verifier
        else:
            build_verifier(core)
    except ImproperlyConfigured as exc:
        return [_invalid(exc)]
    except ConfigurationError as exc:
        return [_invalid(exc)]
    return []


def _invalid(exc: Exception) -> checks.CheckMessage:
    text = str(exc).removeprefix(f"{conf.SETTING}: ")
    return checks.Error(
        f"invalid ORIGINVERIFY setting: {text}",
        hint=f"keys are listed in originverify.settings.KEYS and conf.DJANGO_KEYS; {DOCS}",
        id="originverify.E002",
    )


def _is(path: str, expected: str) -> bool:
    """``path`` names ``expected`` or a subclass of it."""
    if path == expected:
        return True
    try:
        found, wanted = import_string(path), import_string(expected)
    except ImportError:
        return False
    return isinstance(found, type) and isinstance(wanted, type) and issubclass(found, wanted)


def _index(entries: Sequence[str], expected: str) -> int | None:
    return next((i for i, path in enumerate(entries) if _is(path, expected)), None)


def _check_middleware(options: conf.Options | None) -> list[checks.CheckMessage]:
    entries = [str(path) for path in settings.MIDDLEWARE]
    ours = _index(entries, MIDDLEWARE)
    if ours is None:
        return [
            checks.Error(
                "ClientCertMiddleware is not in MIDDLEWARE: no certificate is verified and "
                "request.client_cert is never set",
                hint=f"add '{MIDDLEWARE}' near the top of MIDDLEWARE",
                id="originverify.E007",
            )
        ]
    if options is not None and options.login_users:
        auth_index = _index(entries, AUTH_MIDDLEWARE)
        if auth_index is None or auth_index > ours:
            return [
                checks.Error(
                    "ORIGINVERIFY['LOGIN_USERS'] is on but ClientCertMiddleware runs before "
                    "AuthenticationMiddleware (or it is missing), which would replace the "
                    "certificate's user with the session's",
                    hint=f"put '{MIDDLEWARE}' right after '{AUTH_MIDDLEWARE}' (as for "
                    "RemoteUserMiddleware)",
                    id="originverify.E008",
                )
            ]
    return []


def _check_users(options: conf.Options | None) -> list[checks.CheckMessage]:
    if options is None:
        return []
    messages: list[checks.CheckMessage] = []
    if options.login_users and _index(list(settings.AUTHENTICATION_BACKENDS), BACKEND) is None:
        messages.append(
            checks.Error(
                "ORIGINVERIFY['LOGIN_USERS'] is on but no ClientCertBackend is in "
                "AUTHENTICATION_BACKENDS: no certificate can map to a user",
                hint=f"add '{BACKEND}' to AUTHENTICATION_BACKENDS",
                id="originverify.E009",
            )
        )
    if options.create_unknown_users and options.user_field and "__" in options.user_field:
        messages.append(
            checks.Error(
                f"CREATE_UNKNOWN_USERS cannot create users looked up by "
                f"USER_FIELD={options.user_field!r} (a lookup across a relation)",
                hint="match a field of the user model itself, or create users and their "
                "certificate records yourself (override ClientCertBackend.authenticate)",
                id="originverify.E011",
            )
        )
    return messages
