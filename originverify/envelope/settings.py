"""Settings keys of the envelope and of its replay store, and ``from_settings``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from .binding import CLOUDFRONT_DIGEST_BINDING
from .keys import VerificationKeyInput, read_text
from .replay import DEFAULT_PREFIX, ReplayStore
from .verify import SignedEnvelope

#: Settings keys ``from_settings`` reads (for ``originverify.settings.KEYS``).
SETTINGS_KEYS: dict[str, str] = {
    "signature_keys": "signed envelope: mapping key id -> key (PEM, 'ed25519:..', "
    "'hmac-sha256:..', or a key object)",
    "signature_key_files": "signed envelope: mapping key id -> key file",
    "signature_key_env": "signed envelope: mapping key id -> environment variable",
    "signature_max_age": "signed envelope: oldest signature accepted, seconds (default 60)",
    "signature_clock_skew": "signed envelope: tolerated edge/origin clock drift (default 5)",
    "signature_nonce_cache": "signed envelope: nonces remembered (default 65536, 0 disables)",
    "signature_extra_headers": "signed envelope: non-certificate headers the edge signs "
    "(default ['x-origin-verify'])",
    "signature_digest_binding": "signed envelope: 'cloudfront' accepts Client-Cert bound by a "
    "signed CloudFront-Viewer-Cert-Sha256 (CloudFront Function signing)",
    "signature_replay_store": "signed envelope: where nonces are remembered: 'memory' (default, "
    "this process only), 'redis', 'django' (a Django cache) or a ReplayStore object",
    "signature_replay_redis_url": "signed envelope: redis:// or rediss:// URL of the replay store "
    "(user, password and db may be in the URL)",
    "signature_replay_redis_options": "signed envelope: extra redis-py connection options "
    "(password, ssl_ca_certs, ssl_certfile, max_connections, socket_timeout, db, ...)",
    "signature_replay_prefix": "signed envelope: key prefix in the shared replay store "
    "(default 'originverify:nonce:')",
    "signature_replay_cache": "signed envelope: Django cache alias of the replay store "
    "(default 'default')",
    "signature_replay_fail_open": "signed envelope: accept requests while the replay store is "
    "unreachable (default False: refuse with 503 replay_store_unavailable)",
    "signature_replay_single_process": "signed envelope: declare one process only, so a "
    "per-process Django cache (LocMem) passes the system check (default False)",
}


def from_settings(settings: Mapping[str, Any]) -> SignedEnvelope | None:
    """The ``SignedEnvelope`` normalized settings describe, or None if no key is configured."""
    keys: dict[str, VerificationKeyInput] = {}
    for setting, loader in (
        ("signature_keys", lambda k, v: v),
        ("signature_key_files", lambda k, v: read_text(v, f"key file for {k!r}")),
        ("signature_key_env", lambda k, v: _env(v)),
    ):
        value = settings.get(setting)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"{setting!r} must map key ids to keys")
        for key_id, item in value.items():
            if key_id in keys:
                raise ConfigurationError(f"key id {key_id!r} configured twice")
            keys[str(key_id)] = loader(key_id, item)
    if not keys:
        return None
    options: dict[str, Any] = {}
    for setting, option in (
        ("signature_max_age", "max_age"),
        ("signature_clock_skew", "clock_skew"),
    ):
        if settings.get(setting) is not None:
            options[option] = float(settings[setting])
    if settings.get("signature_nonce_cache") is not None:
        options["nonce_cache"] = int(settings["signature_nonce_cache"])
    store = replay_store_from_settings(settings)
    if store is not None:
        options["replay_store"] = store
    if settings.get("signature_replay_fail_open") is not None:
        options["replay_fail_open"] = _flag(settings["signature_replay_fail_open"])
    extra = settings.get("signature_extra_headers")
    if extra is not None:
        options["extra_headers"] = [extra] if isinstance(extra, str) else list(extra)
    binding = settings.get("signature_digest_binding")
    if binding is not None:
        if binding != "cloudfront":
            raise ConfigurationError("signature_digest_binding: the only value is 'cloudfront'")
        options["digest_binding"] = CLOUDFRONT_DIGEST_BINDING
    return SignedEnvelope(keys, **options)


def _env(variable: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise ConfigurationError(f"environment variable {variable} is not set or empty")
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"expected true or false, not {value!r}")


def replay_store_from_settings(settings: Mapping[str, Any]) -> ReplayStore | None:
    """The shared replay store the settings name; None for the default per-process store."""
    kind = settings.get("signature_replay_store")
    prefix = settings.get("signature_replay_prefix") or DEFAULT_PREFIX
    if kind is None or kind == "memory":
        return None
    if isinstance(kind, ReplayStore):
        return kind
    if kind == "redis":
        from .redis_store import RedisReplayStore

        url = settings.get("signature_replay_redis_url")
        if not url:
            raise ConfigurationError(
                "signature_replay_store = 'redis' needs signature_replay_redis_url"
            )
        options = settings.get("signature_replay_redis_options") or {}
        if not isinstance(options, Mapping):
            raise ConfigurationError("signature_replay_redis_options must be a mapping")
        return RedisReplayStore(str(url), prefix=str(prefix), **dict(options))
    if kind == "django":
        try:
            from django_originverify.replay import DjangoCacheReplayStore
        except ImportError as exc:
            raise ConfigurationError(
                f"signature_replay_store = 'django' needs Django and django_originverify ({exc})"
            ) from None
        alias = str(settings.get("signature_replay_cache") or "default")
        return DjangoCacheReplayStore(alias, prefix=str(prefix))
    raise ConfigurationError(
        f"signature_replay_store {kind!r}: use 'memory', 'redis', 'django' or a ReplayStore"
    )
