"""The signed edge envelope: an RFC 9421 HTTP Message Signature binding the forwarded
certificate headers to the request they arrived with.

A static secret header never changes, leaks into logs, and says nothing about *which* request
it came with. Here the edge signs, per request, ``@method``, ``@authority``, ``@path``,
``@query`` and every certificate header it set, with ``created``/``expires``/``nonce``/
``keyid``/``alg``/``tag`` parameters. The origin checks the cheap policy first, then the
signature, then the replay store. Every failure has its own reason code.

Modules: ``base`` (canonicalisation: the signature base), ``sfv`` (the structured fields it
parses and writes), ``verify`` (``SignedEnvelope``, origin side), ``sign`` (``EnvelopeSigner``,
forwarder side), ``keys``, ``keygen``, ``settings`` and the replay stores (``replay``,
``redis_store``). Only ``cryptography`` is needed; ``http-message-signatures`` is the test
oracle, never imported here.
"""

from __future__ import annotations

from .base import request_url
from .binding import CLOUDFRONT_DIGEST_BINDING, DigestBinding
from .constants import (
    DEFAULT_EXTRA_HEADERS,
    ED25519,
    HMAC_SHA256,
    INSTALL_HINT,
    LABEL,
    REQUIRED_COMPONENTS,
    SIGNATURE_HEADERS,
    TAG,
)
from .keygen import GeneratedKey, default_key_id, keygen, origin_config
from .keys import (
    HmacSecret,
    SigningKeyInput,
    VerificationKeyInput,
    load_signing_key,
    load_verification_key,
)
from .redis_store import RedisReplayStore
from .replay import (
    MemoryReplayStore,
    NonceCache,
    ReplayStore,
    ReplayStoreUnavailable,
)
from .settings import SETTINGS_KEYS, from_settings, replay_store_from_settings
from .sign import EnvelopeSigner, SigningError
from .verify import SignedEnvelope

__all__ = [
    "CLOUDFRONT_DIGEST_BINDING",
    "DEFAULT_EXTRA_HEADERS",
    "ED25519",
    "HMAC_SHA256",
    "INSTALL_HINT",
    "LABEL",
    "REQUIRED_COMPONENTS",
    "SETTINGS_KEYS",
    "SIGNATURE_HEADERS",
    "TAG",
    "DigestBinding",
    "EnvelopeSigner",
    "GeneratedKey",
    "HmacSecret",
    "MemoryReplayStore",
    "NonceCache",
    "RedisReplayStore",
    "ReplayStore",
    "ReplayStoreUnavailable",
    "SignedEnvelope",
    "SigningError",
    "SigningKeyInput",
    "VerificationKeyInput",
    "default_key_id",
    "from_settings",
    "keygen",
    "load_signing_key",
    "load_verification_key",
    "origin_config",
    "replay_store_from_settings",
    "request_url",
]
