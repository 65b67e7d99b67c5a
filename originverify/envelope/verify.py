"""The origin side: ``SignedEnvelope``, the source proof that checks the edge's signature.

Per request: both signature fields parsed once (``sfv``), the cheap policy first (label, key,
algorithm, time window, coverage), then the signature base built once (``base``) and checked
with one Ed25519 verify or one HMAC, then the replay store. Every failure has its own reason.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import ConfigurationError, Reason, VerificationError
from ..source import RequestContext, SourceProof
from .base import request_base
from .binding import DigestBinding
from .constants import (
    DEFAULT_EXTRA_HEADERS,
    MAX_INPUT_BYTES,
    MAX_SIGNATURE_BYTES,
    REQUIRED_COMPONENTS,
    SIGNATURE_BYTES,
    SIGNATURE_HEADERS,
    TAG,
)
from .fields import Parsed, parse_fields
from .keys import (
    HmacSecret,
    VerificationKeyInput,
    algorithm_of,
    check_key_id,
    load_verification_key,
)
from .keys import read_text as _read
from .replay import MemoryReplayStore, ReplayStore, ReplayStoreUnavailable
from .sfv import Params

log = logging.getLogger("originverify")

_DERIVED = frozenset(REQUIRED_COMPONENTS)


@dataclass(frozen=True, slots=True)
class _Key:
    algorithm: str
    verify: Callable[[bytes, bytes], bool]  # (signature, base) -> valid


def _key_checker(key: Ed25519PublicKey | HmacSecret) -> Callable[[bytes, bytes], bool]:
    if isinstance(key, HmacSecret):
        secret = key.secret

        def check_hmac(signature: bytes, base: bytes) -> bool:
            return hmac.compare_digest(hmac.digest(secret, base, "sha256"), signature)

        return check_hmac

    def check_ed25519(signature: bytes, base: bytes) -> bool:
        try:
            key.verify(signature, base)
        except InvalidSignature:
            return False
        return True

    return check_ed25519


def seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class SignedEnvelope(SourceProof):
    """Accept a request only if the edge signed it, the certificate headers and the request
    line together (RFC 9421), recently, with one of the configured keys.

    ``keys`` maps key id → key; several live at once is how keys rotate (add the new public
    key, switch the edge, remove the old one). ``max_age`` bounds the signature's age whatever
    ``expires`` says; ``clock_skew`` tolerates edge/origin clock drift. ``replay_store`` (a
    ``ReplayStore``) or ``nonce_cache`` (entries of a per-process store; 0 or None disables)
    refuses a second request with the same nonce inside the window. ``replay_fail_open``
    accepts requests while the store is unreachable (report-only rollouts); by default they
    are refused with ``replay_store_unavailable``. ``extra_headers`` are non-certificate
    headers the edge may sign (its secret header). ``digest_binding``
    (``CLOUDFRONT_DIGEST_BINDING``) accepts an uncovered leaf whose SHA-256 the signature
    covers, for edges that cannot see the certificate they forward.
    """

    header_names = SIGNATURE_HEADERS

    def __init__(
        self,
        keys: Mapping[str, VerificationKeyInput],
        *,
        max_age: float | timedelta = 60,
        clock_skew: float | timedelta = 5,
        nonce_cache: ReplayStore | int | None = 65536,
        replay_store: ReplayStore | None = None,
        replay_fail_open: bool = False,
        extra_headers: Iterable[str] = DEFAULT_EXTRA_HEADERS,
        digest_binding: DigestBinding | None = None,
    ) -> None:
        if not keys:
            raise ConfigurationError("SignedEnvelope needs at least one key")
        self.max_age = seconds(max_age)
        self.clock_skew = seconds(clock_skew)
        if not 0 < self.max_age <= 3600:
            raise ConfigurationError("SignedEnvelope max_age must be between 0 and 3600 seconds")
        if not 0 <= self.clock_skew <= 300:
            raise ConfigurationError("SignedEnvelope clock_skew must be between 0 and 300 seconds")
        self._keys: dict[str, _Key] = {}
        for key_id, value in keys.items():
            key = load_verification_key(value, f"key {key_id!r}")
            # One checker per key id, bound to that key's algorithm: no key confusion.
            self._keys[check_key_id(key_id)] = _Key(algorithm_of(key), _key_checker(key))
        if isinstance(nonce_cache, int):
            nonce_cache = MemoryReplayStore(nonce_cache) if nonce_cache > 0 else None
        self.nonce_cache: ReplayStore | None = replay_store or nonce_cache
        self.replay_fail_open = bool(replay_fail_open)
        self._store_down = False
        self.extra_headers = tuple(h.lower() for h in extra_headers)
        self.digest_binding = digest_binding
        self._certificate_headers: tuple[str, ...] | None = None
        self._allowed: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        keys = ", ".join(f"{k}:{v.algorithm}" for k, v in self._keys.items())
        return f"SignedEnvelope(keys=[{keys}], max_age={self.max_age:g}s)"

    @property
    def replay_store(self) -> ReplayStore | None:
        return self.nonce_cache

    @property
    def label(self) -> str:
        return "signed_envelope"

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def bind(self, certificate_headers: tuple[str, ...]) -> None:
        certificate = tuple(h.lower() for h in certificate_headers)
        self._certificate_headers = certificate
        self._allowed = frozenset(certificate) | frozenset(self.extra_headers)
        if self._allowed & set(SIGNATURE_HEADERS):
            raise ConfigurationError("the signature headers cannot themselves be signed")
        binding = self.digest_binding
        if binding is not None and not set(binding.names()) <= set(certificate):
            raise ConfigurationError(
                f"digest_binding names headers the format does not read: {binding}"
            )

    # -- construction from files and the environment ------------------------------------------

    @classmethod
    def from_files(cls, files: Mapping[str, str | Path], **options: Any) -> SignedEnvelope:
        """Keys from files, one per key id: ``{"edge-2026-11": "edge-2026-11.pub"}``. A file
        holds a PEM public key or ``hmac-sha256:<base64>`` (keep that one 0600)."""
        return cls({k: _read(p, f"key file for {k!r}") for k, p in files.items()}, **options)

    @classmethod
    def from_env(cls, variables: Mapping[str, str], **options: Any) -> SignedEnvelope:
        """Keys from environment variables, one per key id (PEM text, ``ed25519:<base64>`` or
        ``hmac-sha256:<base64>``)."""
        keys: dict[str, VerificationKeyInput] = {}
        for key_id, variable in variables.items():
            value = os.environ.get(variable)
            if not value:
                raise ConfigurationError(f"environment variable {variable} is not set or empty")
            keys[key_id] = value
        return cls(keys, **options)

    # -- the check ------------------------------------------------------------------------

    def check(self, request: RequestContext) -> str:
        signature_input, signature_value = self._fields(request)
        parsed = parse_fields(signature_input, signature_value)
        params = parsed.params
        key_id, key = self._policy(parsed)
        now = time.time()
        until = self._check_time(params, now)
        self._check_coverage(parsed.components, request)
        base = self._base(request, parsed)
        if not key.verify(parsed.signature, base):
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"signature by {key_id!r} does not verify"
            )
        binding = self.digest_binding
        if binding is not None and binding.exempt([c for c, _ in parsed.components]):
            binding.verify(request.headers)  # the forwarded leaf hashes to the signed digest
        nonce = params["nonce"]
        assert isinstance(nonce, str)
        self._remember(key_id, nonce, until, now)
        created = params["created"]
        assert isinstance(created, int)
        return f"signed by {key_id} ({key.algorithm}), {len(parsed.components)} components, " + (
            f"{max(0, int(now) - created)}s old"
        )

    def _fields(self, request: RequestContext) -> tuple[str, str]:
        """The one ``Signature-Input`` and ``Signature`` value, and the request line present."""
        headers = request.headers
        inputs = headers.get_all("signature-input")
        signatures = headers.get_all("signature")
        if not inputs or not signatures:
            missing = "Signature-Input" if not inputs else "Signature"
            raise VerificationError(
                Reason.SIGNATURE_MISSING, f"no {missing} header: request not signed"
            )
        if len(inputs) > 1 or len(signatures) > 1:
            raise VerificationError(
                Reason.DUPLICATE_HEADER, "Signature or Signature-Input appears twice"
            )
        if "signature-input" in headers.underscored_names():
            raise VerificationError(
                Reason.AMBIGUOUS_HEADER_NAME, "underscore spelling of Signature-Input"
            )
        if len(inputs[0]) > MAX_INPUT_BYTES or len(signatures[0]) > MAX_SIGNATURE_BYTES:
            raise VerificationError(
                Reason.HEADER_TOO_LARGE, "Signature or Signature-Input too large"
            )
        if self._certificate_headers is None:
            raise VerificationError(
                Reason.SIGNATURE_COVERAGE, "SignedEnvelope used without a Verifier (bind)"
            )
        if not request.method or not request.target or not request.authority:
            raise VerificationError(
                Reason.SIGNATURE_COVERAGE,
                "the adapter must pass method, target and authority to verify_request "
                "(a signature binds them)",
            )
        return inputs[0], signatures[0]

    def _policy(self, parsed: Parsed) -> tuple[str, _Key]:
        """Key id, algorithm, signature length, required parameters and tag."""
        params = parsed.params
        key_id = params.get("keyid")
        if key_id is None:
            raise VerificationError(Reason.SIGNATURE_COVERAGE, "signature has no keyid parameter")
        assert isinstance(key_id, str)
        key = self._keys.get(key_id)
        if key is None:
            raise VerificationError(
                Reason.SIGNATURE_UNKNOWN_KEY, f"keyid {key_id[:64]!r} is not configured"
            )
        algorithm = params.get("alg")
        if algorithm is None:
            raise VerificationError(Reason.SIGNATURE_ALGORITHM, "signature has no alg parameter")
        if algorithm != key.algorithm:
            raise VerificationError(
                Reason.SIGNATURE_ALGORITHM,
                f"alg {str(algorithm)[:32]!r} but key {key_id!r} is {key.algorithm}",
            )
        if len(parsed.signature) != SIGNATURE_BYTES[key.algorithm]:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"{len(parsed.signature)}-byte {key.algorithm} signature"
            )
        for required in ("created", "nonce"):
            if required not in params:
                raise VerificationError(
                    Reason.SIGNATURE_COVERAGE, f"signature has no {required} parameter"
                )
        if params.get("tag") != TAG:
            raise VerificationError(Reason.SIGNATURE_INVALID, f"signature tag is not {TAG!r}")
        return key_id, key

    def _base(self, request: RequestContext, parsed: Parsed) -> bytes:
        """The RFC 9421 signature base of this request, in the signature's component order."""
        assert request.method and request.authority and request.target
        try:
            base, _ = request_base(
                request.method,
                request.authority,
                request.target,
                request.headers.get_all,
                parsed.components,
                parsed.params,
                parsed.params_value,
            )
            return base
        except (ValueError, UnicodeEncodeError) as exc:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"cannot build the signature base: {exc}"[:300]
            ) from None

    def _remember(self, key_id: str, nonce: str, until: float, now: float) -> None:
        """The replay check: refuse a nonce seen before; an unreachable store fails closed
        unless ``replay_fail_open``."""
        store = self.nonce_cache
        if store is None:
            return
        try:
            fresh = store.add(key_id, nonce, until, now)
        except ReplayStoreUnavailable as exc:
            self._store_failed(store, exc)
            return
        if self._store_down:
            self._store_down = False
            log.warning("originverify: replay store %r answers again", store)
        if not fresh:
            raise VerificationError(
                Reason.SIGNATURE_REPLAYED, f"nonce already seen from {key_id!r}"
            )

    def _store_failed(self, store: ReplayStore, exc: ReplayStoreUnavailable) -> None:
        if not self._store_down:
            self._store_down = True
            log.error(
                "originverify: replay store %r unreachable (%s): signed requests are %s until "
                "it answers again",
                store,
                exc,
                "ACCEPTED WITHOUT REPLAY CHECK" if self.replay_fail_open else "refused (503)",
            )
        if not self.replay_fail_open:
            raise VerificationError(
                Reason.REPLAY_STORE_UNAVAILABLE, f"replay store {store!r} unreachable: {exc}"[:300]
            )

    def _check_time(self, params: Params, now: float) -> float:
        """Refuse signatures outside the window; return when the nonce may be forgotten."""
        created = params["created"]
        assert isinstance(created, int)
        skew = self.clock_skew
        if created > now + skew:
            raise VerificationError(
                Reason.SIGNATURE_EXPIRED, f"created {created - now:.0f}s in the future (clock?)"
            )
        age = now - created
        if age > self.max_age + skew:
            raise VerificationError(
                Reason.SIGNATURE_EXPIRED, f"signature {age:.0f}s old, max age {self.max_age:g}s"
            )
        until = created + self.max_age
        expires = params.get("expires")
        if expires is not None:
            assert isinstance(expires, int)
            if expires < created:
                raise VerificationError(Reason.SIGNATURE_INVALID, "expires before created")
            if expires < now - skew:
                raise VerificationError(
                    Reason.SIGNATURE_EXPIRED, f"signature expired {now - expires:.0f}s ago"
                )
            until = min(until, expires)
        return until + skew

    def _check_coverage(self, components: list[tuple[str, bool]], request: RequestContext) -> None:
        """The request line, every certificate header present, nothing the edge does not set."""
        get_all = request.headers.get_all
        derived = {c for c, _ in components if c[:1] == "@"}
        if derived != _DERIVED:
            _refuse_derived(derived)
        fields = [c for c, _ in components if c[:1] != "@"]
        if not self._allowed.issuperset(fields):
            name = next(f for f in fields if f not in self._allowed)
            raise VerificationError(
                Reason.SIGNATURE_COVERAGE,
                f"covers {name[:40]!r}, a header the edge does not set "
                "(add it to extra_headers if the edge does)",
            )
        for name in fields:
            count = len(get_all(name))
            if count != 1:
                raise VerificationError(
                    Reason.SIGNATURE_COVERAGE if count == 0 else Reason.DUPLICATE_HEADER,
                    f"covered header {name!r} is "
                    + ("absent" if count == 0 else "repeated (appears twice)"),
                )
        assert self._certificate_headers is not None
        binding = self.digest_binding
        exempt = binding.exempt(fields) if binding is not None else frozenset()
        for name in self._certificate_headers:
            if name not in fields and name not in exempt and get_all(name):
                raise VerificationError(
                    Reason.SIGNATURE_COVERAGE,
                    f"certificate header {name!r} is present but not covered by the signature",
                )


def _refuse_derived(derived: set[str]) -> None:
    for required in REQUIRED_COMPONENTS:
        if required not in derived:
            raise VerificationError(Reason.SIGNATURE_COVERAGE, f"{required} is not covered")
    raise VerificationError(
        Reason.SIGNATURE_COVERAGE,
        f"covers {', '.join(sorted(derived - _DERIVED))[:80]}; the envelope covers "
        f"{', '.join(REQUIRED_COMPONENTS)} only",
    )
