"""The signed edge envelope: an RFC 9421 HTTP Message Signature binding the forwarded
certificate headers to the request they arrived with.

A static secret header never changes, leaks into logs, and says nothing about *which* request
it came with: request smuggling on a shared edge→origin connection can pair one client's
certificate headers (and the secret) with another request. Here the edge signs, per request,
``@method``, ``@authority``, ``@path``, ``@query`` and every certificate header it set, with
``created``/``expires``/``nonce``/``keyid``/``alg``/``tag`` parameters. The origin checks the
cheap policy first (labels, key, algorithm, time window, coverage), then the signature, then
the nonce cache. Every failure has its own reason code.

Three parts live here:

* ``SignedEnvelope``: the origin-side ``SourceProof`` (composes with ``EdgeSecret`` and
  ``TrustedProxies`` through ``AllOf`` / ``AnyOf``).
* ``EnvelopeSigner``: what the forwarder calls to sign the headers it set after stripping.
* ``keygen``: create an Ed25519 key pair (or an HMAC secret) and the origin's configuration.

RFC 9421 itself is implemented by ``http-message-signatures`` (the ``signed`` extra), imported
lazily so the core still imports without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import ConfigurationError, OriginVerifyError, Reason, VerificationError
from .headers import Headers
from .source import RequestContext, SourceProof

if TYPE_CHECKING:  # pragma: no cover - types only; the module is imported lazily
    from http_message_signatures import (
        HTTPMessageSigner,
        HTTPMessageVerifier,
        HTTPSignatureAlgorithm,
        PreparedSignature,
    )

log = logging.getLogger("originverify")

#: The ``Signature`` / ``Signature-Input`` dictionary member the edge writes.
LABEL = "originverify"
#: Signed application tag (the label is not signed): a signature made with the same key for
#: another purpose cannot pass as an edge envelope.
TAG = "originverify"
#: Derived components every envelope covers. Not ``@target-uri``: the scheme the client used
#: (https) differs from the one the origin sees behind the forwarder (http).
REQUIRED_COMPONENTS: tuple[str, ...] = ("@method", "@authority", "@path", "@query")
ED25519 = "ed25519"
HMAC_SHA256 = "hmac-sha256"
SIGNATURE_HEADERS: tuple[str, ...] = ("signature", "signature-input")
#: The edge secret header is signed too when the forwarder sets it.
DEFAULT_EXTRA_HEADERS: tuple[str, ...] = ("x-origin-verify",)
INSTALL_HINT = "pip install 'originverify[signed]'"

_PARAMETERS = frozenset({"created", "expires", "keyid", "nonce", "alg", "tag"})
_SIGNATURE_BYTES = {ED25519: 64, HMAC_SHA256: 32}
_MAX_INPUT_BYTES = 4096
_MAX_SIGNATURE_BYTES = 512
_MAX_COMPONENTS = 32
_MAX_NONCE = 128
_MIN_HMAC_BYTES = 32
_KEY_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# RFC 3986 reg-name (unreserved only), IPv4, or an IP literal, then an optional port.
_AUTHORITY = re.compile(r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# Bytes outside RFC 3986 pchar / query, and any '%' not starting a valid escape.
_UNSAFE_PATH = re.compile(rb"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9._~!$&'()*+,;=:@/%-]")
_UNSAFE_QUERY = re.compile(rb"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9._~!$&'()*+,;=:@/?%-]")
# The URL's scheme is never covered (see REQUIRED_COMPONENTS); both sides use the same one so
# that @authority drops a default port identically.
_SCHEME = "https"
_VISIBLE = re.compile(r"[\t\x20-\x7e]*")


class SigningError(OriginVerifyError, ValueError):
    """The forwarder cannot sign this request (e.g. a malformed Host); answer it with 400."""


def _library() -> ModuleType:
    """``http_message_signatures``, or a ConfigurationError that says how to install it."""
    try:
        import http_message_signatures
    except ImportError:
        raise ConfigurationError(
            f"signed edge envelopes need the 'http-message-signatures' package: {INSTALL_HINT}"
        ) from None
    return http_message_signatures


# -- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HmacSecret:
    """An HMAC-SHA256 key shared by edge and origin.

    Wrapped, never plain ``bytes``: a 32-byte value could be an Ed25519 public key, and a
    public key mistaken for an HMAC secret would let anyone forge signatures.
    """

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < _MIN_HMAC_BYTES:
            raise ConfigurationError(
                f"HMAC secrets must be at least {_MIN_HMAC_BYTES} random bytes "
                "(originverify keygen --hmac creates one)"
            )

    def __repr__(self) -> str:
        return "HmacSecret(<hidden>)"

    def spec(self) -> str:
        """The text form files and environment variables hold: ``hmac-sha256:<base64>``."""
        return f"{HMAC_SHA256}:{base64.b64encode(self.secret).decode()}"


VerificationKeyInput = Ed25519PublicKey | HmacSecret | bytes | str
SigningKeyInput = Ed25519PrivateKey | HmacSecret | bytes | str


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{what}: not valid base64") from None


def load_verification_key(
    value: VerificationKeyInput, what: str = "key"
) -> Ed25519PublicKey | HmacSecret:
    """An origin-side key from an object or text.

    Accepted: an ``Ed25519PublicKey``; a ``HmacSecret``; a PEM ``PUBLIC KEY`` (Ed25519);
    ``ed25519:<base64 of the 32 raw public bytes>``; ``hmac-sha256:<base64 secret>``; or the
    32 raw bytes of an Ed25519 public key.
    """
    if isinstance(value, Ed25519PublicKey | HmacSecret):
        return value
    if isinstance(value, Ed25519PrivateKey):
        raise ConfigurationError(f"{what}: give the origin the public key, not the private key")
    if isinstance(value, bytes) and len(value) == 32 and not value.startswith(b"-----"):
        return Ed25519PublicKey.from_public_bytes(value)
    if not isinstance(value, str | bytes):
        raise ConfigurationError(
            f"{what}: expected an Ed25519 public key, HmacSecret or key text, not "
            f"{type(value).__name__}"
        )
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    text = text.strip()
    if text.startswith("-----BEGIN"):
        if "PRIVATE KEY" in text.split("\n", 1)[0]:
            raise ConfigurationError(f"{what}: this is a private key; the origin needs the .pub")
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as exc:
            raise ConfigurationError(f"{what}: unreadable PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigurationError(
                f"{what}: only Ed25519 public keys are supported, not {type(key).__name__}"
            )
        return key
    scheme, sep, payload = text.partition(":")
    if sep and scheme.lower() == ED25519:
        raw = _b64(payload, what)
        if len(raw) != 32:
            raise ConfigurationError(f"{what}: an Ed25519 public key is 32 bytes, not {len(raw)}")
        return Ed25519PublicKey.from_public_bytes(raw)
    if sep and scheme.lower() == HMAC_SHA256:
        return HmacSecret(_b64(payload, what))
    raise ConfigurationError(
        f"{what}: expected a PEM public key, 'ed25519:<base64>' or 'hmac-sha256:<base64>'"
    )


def load_signing_key(
    value: SigningKeyInput, what: str = "signing key"
) -> Ed25519PrivateKey | HmacSecret:
    """A forwarder-side key: an ``Ed25519PrivateKey``, a ``HmacSecret``, a PEM ``PRIVATE KEY``
    (Ed25519, unencrypted) or ``hmac-sha256:<base64 secret>``."""
    if isinstance(value, Ed25519PrivateKey | HmacSecret):
        return value
    if not isinstance(value, str | bytes):
        raise ConfigurationError(
            f"{what}: expected an Ed25519 private key or HmacSecret, not {type(value).__name__}"
        )
    text = (value.decode("ascii", "replace") if isinstance(value, bytes) else value).strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{what}: unreadable PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(
                f"{what}: only Ed25519 private keys are supported, not {type(key).__name__}"
            )
        return key
    scheme, sep, payload = text.partition(":")
    if sep and scheme.lower() == HMAC_SHA256:
        return HmacSecret(_b64(payload, what))
    raise ConfigurationError(f"{what}: expected a PEM private key or 'hmac-sha256:<base64>'")


def _algorithm_of(key: Ed25519PublicKey | Ed25519PrivateKey | HmacSecret) -> str:
    return HMAC_SHA256 if isinstance(key, HmacSecret) else ED25519


def _check_key_id(key_id: str) -> str:
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ConfigurationError(
            f"key id {key_id!r}: use 1-128 characters from A-Z a-z 0-9 . _ : @ / + = -"
        )
    return key_id


def _read(path: str | Path, what: str) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc}") from None


# -- the message view the library reads ------------------------------------------------------


class _Fields:
    """Field lines in order, read-only, as ``http_message_signatures`` reads them: ``items()``
    keeps repeated lines. Only the covered headers and the signature fields go in."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self._pairs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lower = name.lower()
        return any(n.lower() == lower for n, _ in self._pairs)


@dataclass(slots=True)
class _Message:
    method: str
    url: str
    headers: _Fields


def _text(value: str | bytes) -> str:
    """Octets as latin-1 code points, as servers hand header values to applications; text
    beyond latin-1 goes on the wire as UTF-8."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8").decode("latin-1")
    return value


def _field_components(pairs: list[tuple[str, str]]) -> list[str]:
    """Each header name once; ``;bs`` (RFC 9421 §2.1.3) where a value is not visible ASCII
    (an RFC 4514 subject with UTF-8, say), since the signature base must be ASCII."""
    plain: dict[str, bool] = {}
    for name, value in pairs:
        plain[name] = plain.get(name, True) and _VISIBLE.fullmatch(value) is not None
    return [name if ok else f'"{name}";bs' for name, ok in plain.items()]


def _escape(raw: bytes, unsafe: re.Pattern[bytes]) -> str:
    return unsafe.sub(lambda m: b"%%%02X" % m.group()[0], raw).decode("ascii")


def request_url(authority: str, target: str) -> str:
    """The absolute URL both sides build from ``Host`` and the request target.

    Signer and verifier must derive ``@authority``, ``@path`` and ``@query`` identically, and
    the library accepts only RFC 3986 URLs: bytes a client may still send raw (``|``, ``{``,
    ``"``, non-ASCII, a stray ``%``) are percent-encoded the same way on both sides. Valid
    targets are left exactly as sent. Raises ``ValueError`` for a target that is not in
    origin form or a malformed authority.
    """
    if not _AUTHORITY.fullmatch(authority):
        raise ValueError(f"authority {authority[:80]!r} is not host[:port]")
    if not target.startswith("/"):
        raise ValueError(f"request target {target[:80]!r} is not in origin form (/path?query)")
    try:
        raw = target.encode("latin-1")
    except UnicodeEncodeError:
        raw = target.encode("utf-8")
    path, sep, query = raw.partition(b"?")
    url = f"{_SCHEME}://{authority}{_escape(path, _UNSAFE_PATH)}"
    return url + "?" + _escape(query, _UNSAFE_QUERY) if sep else url


# -- replay protection -----------------------------------------------------------------------


class NonceCache:
    """Bounded memory of the nonces seen inside the signature window, per key id.

    An entry is dropped once its signature would be refused as expired anyway, so the cache
    needs about (requests per second × window) entries per process. When full of live entries
    the oldest is evicted (and counted in ``evictions``): a replay of that one request would
    then pass, which is why the size should exceed the peak rate × window. Each process has its
    own cache; replays across workers are stopped by the short window only.
    """

    def __init__(self, max_entries: int = 65536) -> None:
        if max_entries < 1:
            raise ConfigurationError("NonceCache needs at least one entry")
        self.max_entries = max_entries
        self.evictions = 0
        self._entries: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, key_id: str, nonce: str, until: float, now: float) -> bool:
        """Remember ``nonce`` until ``until``; False if it is already remembered (a replay)."""
        key = (key_id, nonce)
        entries = self._entries
        with self._lock:
            seen = entries.get(key)
            if seen is not None and seen >= now:
                return False
            # Entries arrive in (almost) expiry order: drop expired ones from the front.
            while entries:
                oldest_key, oldest_until = next(iter(entries.items()))
                if oldest_until >= now:
                    break
                del entries[oldest_key]
            if len(entries) >= self.max_entries:
                entries.popitem(last=False)
                self.evictions += 1
                if self.evictions == 1 or self.evictions % 10000 == 0:
                    log.warning(
                        "originverify: nonce cache full (%d entries): evicted a live nonce "
                        "(%d so far); raise signature_nonce_cache above peak requests x window",
                        self.max_entries,
                        self.evictions,
                    )
            entries[key] = until
            entries.move_to_end(key)
            return True


# -- certificate headers bound by a signed digest (CloudFront Functions) ---------------------


@dataclass(frozen=True, slots=True)
class DigestBinding:
    """Lets a signature leave the leaf certificate header uncovered when it covers the leaf's
    SHA-256 instead: the origin hashes the forwarded leaf and refuses a mismatch
    (``edge_mismatch``). The chain header may then stay uncovered too: intermediates prove
    nothing by themselves, they are validated against the origin's own anchors.

    For an edge that can sign what it *sees* but not the certificate it forwards: a CloudFront
    Function sees ``CloudFront-Viewer-Cert-Sha256`` but never ``Client-Cert``
    (docs/cloudfront-signing.md). The leaf is an RFC 9440 byte sequence; the digest 64 hex.
    """

    certificate: str = "client-cert"
    digest: str = "cloudfront-viewer-cert-sha256"
    chain: str = "client-cert-chain"

    def names(self) -> tuple[str, str, str]:
        return (self.certificate.lower(), self.digest.lower(), self.chain.lower())

    def exempt(self, covered: list[str]) -> frozenset[str]:
        """The certificate headers a signature covering ``covered`` may leave uncovered."""
        certificate, digest, chain = self.names()
        if digest not in covered or certificate in covered:
            return frozenset()
        return frozenset((certificate, chain))

    def verify(self, headers: Headers) -> None:
        """After the signature verified: the forwarded leaf hashes to the signed digest."""
        certificate, digest, _ = self.names()
        leaves = headers.get_all(certificate)
        if not leaves:  # the edge hashed a certificate that did not arrive
            raise VerificationError(
                Reason.EDGE_MISMATCH, f"signed {digest!r} but no {certificate!r} forwarded"
            )
        if len(leaves) > 1:
            raise VerificationError(Reason.DUPLICATE_HEADER, f"{certificate!r} appears twice")
        value = leaves[0].strip()
        try:
            if len(value) < 2 or value[0] != ":" or value[-1] != ":":
                raise ValueError("not an RFC 9440 byte sequence")
            der = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VerificationError(
                Reason.MALFORMED_HEADER, f"{certificate!r}: {exc}"[:120]
            ) from None
        signed = headers.get_all(digest)[0].strip().lower()  # covered: present exactly once
        if not hmac.compare_digest(hashlib.sha256(der).hexdigest(), signed):
            raise VerificationError(
                Reason.EDGE_MISMATCH, f"{certificate!r} does not hash to the signed {digest!r}"
            )


#: CloudFront passthrough: ``Client-Cert`` bound by ``CloudFront-Viewer-Cert-Sha256``.
CLOUDFRONT_DIGEST_BINDING = DigestBinding()


# -- origin side -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Key:
    algorithm: str
    verifier: HTTPMessageVerifier


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class SignedEnvelope(SourceProof):
    """Accept a request only if the edge signed it, the certificate headers and the request
    line together (RFC 9421), recently, with one of the configured keys.

    ``keys`` maps key id → key; several live at once is how keys rotate (add the new public
    key, switch the edge, remove the old one). ``max_age`` bounds the signature's age whatever
    ``expires`` says; ``clock_skew`` tolerates edge/origin clock drift. ``nonce_cache`` (entries;
    0 or None disables) refuses a second request with the same nonce inside the window.
    ``extra_headers`` are non-certificate headers the edge may sign (its secret header).
    ``digest_binding`` (``CLOUDFRONT_DIGEST_BINDING``) accepts an uncovered leaf whose SHA-256
    the signature covers, for edges that cannot see the certificate they forward.
    """

    header_names = SIGNATURE_HEADERS

    def __init__(
        self,
        keys: Mapping[str, VerificationKeyInput],
        *,
        max_age: float | timedelta = 60,
        clock_skew: float | timedelta = 5,
        nonce_cache: NonceCache | int | None = 65536,
        extra_headers: Iterable[str] = DEFAULT_EXTRA_HEADERS,
        digest_binding: DigestBinding | None = None,
    ) -> None:
        library = _library()
        if not keys:
            raise ConfigurationError("SignedEnvelope needs at least one key")
        self.max_age = _seconds(max_age)
        self.clock_skew = _seconds(clock_skew)
        if not 0 < self.max_age <= 3600:
            raise ConfigurationError("SignedEnvelope max_age must be between 0 and 3600 seconds")
        if not 0 <= self.clock_skew <= 300:
            raise ConfigurationError("SignedEnvelope clock_skew must be between 0 and 300 seconds")
        algorithms = {
            ED25519: library.algorithms.ED25519,
            HMAC_SHA256: library.algorithms.HMAC_SHA256,
        }
        self._keys: dict[str, _Key] = {}
        for key_id, value in keys.items():
            key = load_verification_key(value, f"key {key_id!r}")
            algorithm = _algorithm_of(key)
            material = key.secret if isinstance(key, HmacSecret) else key
            # One verifier per key id, bound to that key's algorithm: no key confusion.
            verifier = library.HTTPMessageVerifier(
                signature_algorithm=algorithms[algorithm],
                key_resolver=library.MappingKeyResolver(
                    public_keys={_check_key_id(key_id): material}, private_keys={}
                ),
            )
            verifier.max_clock_skew = timedelta(seconds=self.clock_skew)
            self._keys[key_id] = _Key(algorithm, verifier)
        if isinstance(nonce_cache, int):
            nonce_cache = NonceCache(nonce_cache) if nonce_cache > 0 else None
        self.nonce_cache = nonce_cache
        self.extra_headers = tuple(h.lower() for h in extra_headers)
        self.digest_binding = digest_binding
        self._certificate_headers: tuple[str, ...] | None = None
        self._allowed: frozenset[str] = frozenset()
        self._http_sf = _http_sf()
        self._library_error: type[Exception] = library.HTTPMessageSignaturesException

    def __repr__(self) -> str:
        keys = ", ".join(f"{k}:{v.algorithm}" for k, v in self._keys.items())
        return f"SignedEnvelope(keys=[{keys}], max_age={self.max_age:g}s)"

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
        if self.digest_binding is not None and not set(self.digest_binding.names()) <= set(
            certificate
        ):
            raise ConfigurationError(
                f"digest_binding names headers the format does not read: {self.digest_binding}"
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
        if len(inputs[0]) > _MAX_INPUT_BYTES or len(signatures[0]) > _MAX_SIGNATURE_BYTES:
            raise VerificationError(
                Reason.HEADER_TOO_LARGE, "Signature or Signature-Input too large"
            )
        if self._certificate_headers is None:
            raise VerificationError(
                Reason.SIGNATURE_COVERAGE, "SignedEnvelope used without a Verifier (bind)"
            )
        method, target, authority = request.method, request.target, request.authority
        if not method or not target or not authority:
            raise VerificationError(
                Reason.SIGNATURE_COVERAGE,
                "the adapter must pass method, target and authority to verify_request "
                "(a signature binds them)",
            )

        components, params, signature = self._parse(inputs[0], signatures[0])

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
        if len(signature) != _SIGNATURE_BYTES[key.algorithm]:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"{len(signature)}-byte {key.algorithm} signature"
            )
        for required in ("created", "nonce"):
            if required not in params:
                raise VerificationError(
                    Reason.SIGNATURE_COVERAGE, f"signature has no {required} parameter"
                )
        if params.get("tag") != TAG:
            raise VerificationError(Reason.SIGNATURE_INVALID, f"signature tag is not {TAG!r}")

        now = time.time()  # the library re-checks created/expires against the same clock
        until = self._check_time(params, now)
        fields = self._check_coverage(components, request)

        pairs = [(name, value) for name in fields for value in headers.get_all(name)]
        pairs.append(("signature-input", inputs[0]))
        pairs.append(("signature", signatures[0]))
        try:
            message = _Message(method, request_url(authority, target), _Fields(pairs))
            key.verifier.verify(message, max_age=None)
        except (self._library_error, ValueError, TypeError) as exc:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"signature by {key_id!r} does not verify: {exc}"[:300]
            ) from None
        if self.digest_binding is not None and self.digest_binding.exempt(fields):
            self.digest_binding.verify(headers)

        nonce = params["nonce"]
        assert isinstance(nonce, str)
        if self.nonce_cache is not None and not self.nonce_cache.add(key_id, nonce, until, now):
            raise VerificationError(
                Reason.SIGNATURE_REPLAYED, f"nonce already seen from {key_id!r}"
            )
        created = params["created"]
        assert isinstance(created, int)
        return f"signed by {key_id} ({key.algorithm}), {len(components)} components, " + (
            f"{max(0, int(now) - created)}s old"
        )

    def _parse(
        self, signature_input: str, signature: str
    ) -> tuple[list[str], dict[str, int | str], bytes]:
        """Both dictionaries, reduced to our one label; shape errors are ``signature_invalid``."""

        def reject_duplicate(key: str, context: str) -> None:
            raise ValueError(f"duplicate {context} key {key!r}")

        parsed: list[dict[str, Any]] = []
        for name, value in (("Signature-Input", signature_input), ("Signature", signature)):
            try:
                member = self._http_sf.parse(
                    value.encode("latin-1"), tltype="dictionary", on_duplicate_key=reject_duplicate
                )
            except (ValueError, UnicodeEncodeError) as exc:
                raise VerificationError(
                    Reason.SIGNATURE_INVALID, f"malformed {name}: {exc}"[:200]
                ) from None
            parsed.append(member)
        inputs, values = parsed
        if LABEL not in inputs or LABEL not in values:
            labels = ", ".join(sorted(set(inputs) | set(values)))[:100]
            raise VerificationError(
                Reason.SIGNATURE_MISSING, f"no {LABEL!r} signature (labels: {labels})"
            )
        if len(inputs) != 1 or len(values) != 1:
            others = ", ".join(sorted((set(inputs) | set(values)) - {LABEL}))[:100]
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"unexpected signature labels: {others}"
            )
        items, params = inputs[LABEL]
        raw, raw_params = values[LABEL]
        if not isinstance(items, list) or not isinstance(raw, bytes) or raw_params:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, "Signature-Input or Signature has the wrong shape"
            )
        if len(items) > _MAX_COMPONENTS:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"more than {_MAX_COMPONENTS} components"
            )
        components: list[str] = []
        for name, component_params in items:
            if type(name) is not str:
                raise VerificationError(
                    Reason.SIGNATURE_INVALID, "a covered component is not a string"
                )
            # Whole components only; ``bs`` (each field line as a byte sequence) is how the
            # signer covers values that are not visible ASCII, and still covers every byte.
            if component_params and (name.startswith("@") or component_params != {"bs": True}):
                raise VerificationError(
                    Reason.SIGNATURE_COVERAGE,
                    f"component {name[:40]!r} has parameters; only whole components count",
                )
            if name in components:
                raise VerificationError(Reason.SIGNATURE_INVALID, f"{name[:40]!r} covered twice")
            components.append(name)
        for param, value in params.items():
            if param not in _PARAMETERS:
                raise VerificationError(
                    Reason.SIGNATURE_INVALID, f"unknown signature parameter {param[:32]!r}"
                )
            wanted: type = int if param in ("created", "expires") else str
            if type(value) is not wanted:
                raise VerificationError(
                    Reason.SIGNATURE_INVALID, f"parameter {param} has the wrong type"
                )
        nonce = params.get("nonce")
        if isinstance(nonce, str) and not 0 < len(nonce) <= _MAX_NONCE:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"nonce must be 1-{_MAX_NONCE} characters"
            )
        return components, params, raw

    def _check_time(self, params: Mapping[str, int | str], now: float) -> float:
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

    def _check_coverage(self, components: list[str], request: RequestContext) -> list[str]:
        """The request line, every certificate header present, nothing the edge does not set;
        returns the covered header names."""
        headers = request.headers
        derived = [c for c in components if c.startswith("@")]
        for required in REQUIRED_COMPONENTS:
            if required not in derived:
                raise VerificationError(Reason.SIGNATURE_COVERAGE, f"{required} is not covered")
        unexpected = set(derived) - set(REQUIRED_COMPONENTS)
        if unexpected:
            raise VerificationError(
                Reason.SIGNATURE_COVERAGE,
                f"covers {', '.join(sorted(unexpected))[:80]}; the envelope covers "
                f"{', '.join(REQUIRED_COMPONENTS)} only",
            )
        fields = [c for c in components if not c.startswith("@")]
        for name in fields:
            if name not in self._allowed:
                raise VerificationError(
                    Reason.SIGNATURE_COVERAGE,
                    f"covers {name[:40]!r}, a header the edge does not set "
                    "(add it to extra_headers if the edge does)",
                )
            count = len(headers.get_all(name))
            if count == 0:
                raise VerificationError(
                    Reason.SIGNATURE_COVERAGE, f"covered header {name!r} is absent"
                )
            if count > 1:
                raise VerificationError(
                    Reason.DUPLICATE_HEADER, f"covered header {name!r} appears twice"
                )
        assert self._certificate_headers is not None
        binding = self.digest_binding
        exempt = binding.exempt(fields) if binding is not None else frozenset()
        for name in self._certificate_headers:
            if name not in fields and name not in exempt and headers.get_all(name):
                raise VerificationError(
                    Reason.SIGNATURE_COVERAGE,
                    f"certificate header {name!r} is present but not covered by the signature",
                )
        return fields


def _http_sf() -> ModuleType:
    try:
        import http_sf
    except ImportError:  # pragma: no cover - a dependency of http-message-signatures
        raise ConfigurationError(f"signed edge envelopes need 'http-sf': {INSTALL_HINT}") from None
    return http_sf


# -- forwarder side --------------------------------------------------------------------------


class EnvelopeSigner:
    """Signs what the forwarder sets: call ``sign`` with the request line and the certificate
    (and edge secret) headers it set *after* stripping the client's, and add the two returned
    header pairs. Thread-safe; about one Ed25519 signature per request."""

    def __init__(
        self,
        key: SigningKeyInput,
        key_id: str,
        *,
        lifetime: float | timedelta = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        library = _library()
        self.key = load_signing_key(key)
        self.key_id = _check_key_id(key_id)
        self.algorithm = _algorithm_of(self.key)
        self.lifetime = _seconds(lifetime)
        if not 0 < self.lifetime <= 3600:
            raise ConfigurationError("EnvelopeSigner lifetime must be between 0 and 3600 seconds")
        self._clock = clock
        material = self.key.secret if isinstance(self.key, HmacSecret) else self.key
        algorithm = (
            library.algorithms.ED25519
            if self.algorithm == ED25519
            else library.algorithms.HMAC_SHA256
        )
        # prepare() builds the RFC 9421 signature base; signing it and writing the two
        # dictionary members ourselves skips apply()'s second pass over the message.
        self._signer: HTTPMessageSigner = library.HTTPMessageSigner(signature_algorithm=algorithm)
        self._algorithm: HTTPSignatureAlgorithm = algorithm(private_key=material)
        self._exception: type[Exception] = library.HTTPMessageSignaturesException

    def __repr__(self) -> str:
        return f"EnvelopeSigner(key_id={self.key_id!r}, algorithm={self.algorithm!r})"

    @classmethod
    def from_file(cls, path: str | Path, key_id: str, **options: Any) -> EnvelopeSigner:
        """``originverify edge --sign-key FILE --key-id ID``: a PEM Ed25519 private key or an
        ``hmac-sha256:<base64>`` file, as ``originverify keygen`` writes them."""
        return cls(
            load_signing_key(_read(path, "signing key file"), f"signing key {path}"),
            key_id,
            **options,
        )

    def sign(
        self,
        method: str | bytes,
        authority: str | bytes,
        path_and_query: str | bytes,
        headers: Iterable[tuple[str | bytes, str | bytes]],
    ) -> list[tuple[str, str]]:
        """The ``Signature-Input`` and ``Signature`` pairs to add to the forwarded request.

        ``method``, ``authority`` (the ``Host`` forwarded unchanged) and ``path_and_query``
        (the target as forwarded) are what the origin's adapter will see. ``headers`` are the
        headers the edge set after stripping the client's (certificate, claims, its secret),
        never the client's own; each name is covered once, all its values in order (as a byte
        sequence per line when a value is not visible ASCII). Pass wire bytes where you have
        them; they are read as latin-1, as servers read the wire. Raises ``SigningError`` when
        the request cannot be signed (malformed Host or target, lower-case method): answer 400.
        """
        pairs: list[tuple[str, str]] = []
        for raw_name, raw_value in headers:
            name = _text(raw_name).lower()
            if name in SIGNATURE_HEADERS:
                raise SigningError("the signature headers cannot be signed")
            pairs.append((name, _text(raw_value)))
        method, authority, path_and_query = (
            _text(method),
            _text(authority),
            _text(path_and_query),
        )
        now = self._clock()
        created = datetime.fromtimestamp(int(now), UTC)
        try:
            message = _Message(method, request_url(authority, path_and_query), _Fields(pairs))
            prepared = self._signer.prepare(
                message,
                key_id=self.key_id,
                created=created,
                expires=created + timedelta(seconds=self.lifetime),
                nonce=secrets.token_urlsafe(16),
                label=LABEL,
                tag=TAG,
                include_alg=True,
                covered_component_ids=(*REQUIRED_COMPONENTS, *_field_components(pairs)),
            )
        except (self._exception, ValueError) as exc:
            raise SigningError(f"cannot sign request: {exc}") from None
        return signature_headers(prepared, self._algorithm)


def signature_headers(
    prepared: PreparedSignature, algorithm: HTTPSignatureAlgorithm
) -> list[tuple[str, str]]:
    """Sign a prepared RFC 9421 signature base and serialize the two dictionary fields."""
    signature = base64.b64encode(algorithm.sign(prepared.signature_base)).decode()
    return [
        ("Signature-Input", f"{prepared.label}={prepared.signature_params}"),
        ("Signature", f"{prepared.label}=:{signature}:"),
    ]


# -- keygen ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    """What ``keygen`` wrote, and the configuration each side needs."""

    key_id: str
    algorithm: str
    signing_key: Path  # keep on the edge only (0600)
    verification_key: Path  # give to the origin (the same file for HMAC)
    origin_config: str


def default_key_id(now: datetime | None = None) -> str:
    """``edge-YYYY-MM``: dated ids make rotation visible in logs."""
    return f"edge-{(now or datetime.now(UTC)):%Y-%m}"


def _write(path: Path, data: bytes, mode: int, overwrite: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise ConfigurationError(f"{path} exists; pass --force to overwrite it") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # also when overwriting a file created with other permissions


def keygen(
    directory: str | Path = ".",
    key_id: str | None = None,
    *,
    algorithm: str = ED25519,
    overwrite: bool = False,
) -> GeneratedKey:
    """Create a signing key for the edge and print-ready origin configuration.

    Ed25519 (recommended): ``<id>.key`` (private, 0600, edge only) and ``<id>.pub`` (origin).
    HMAC-SHA256: one ``<id>.hmac`` secret (0600) both sides hold; a leak at the origin then
    lets the holder sign, which is why Ed25519 is the default.
    """
    key_id = _check_key_id(key_id or default_key_id())
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    if algorithm == ED25519:
        private = Ed25519PrivateKey.generate()
        signing, verification = folder / f"{key_id}.key", folder / f"{key_id}.pub"
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private_pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(signing, private_pem, 0o600, overwrite)
        _write(verification, public_pem, 0o644, overwrite)
    elif algorithm == HMAC_SHA256:
        signing = verification = folder / f"{key_id}.hmac"
        spec = HmacSecret(secrets.token_bytes(32)).spec()
        _write(signing, (spec + "\n").encode(), 0o600, overwrite)
    else:
        raise ConfigurationError(f"unknown algorithm {algorithm!r}; use {ED25519} or {HMAC_SHA256}")
    return GeneratedKey(
        key_id, algorithm, signing, verification, origin_config(key_id, verification, signing)
    )


def origin_config(key_id: str, verification: Path, signing: Path) -> str:
    """The text ``originverify keygen`` prints: both sides' configuration."""
    return f"""\
# Edge (reference forwarder): keep {signing} on the edge only.
originverify edge --sign-key {signing} --key-id {key_id} ...

# Origin, Python:
from originverify.signatures import SignedEnvelope
source = SignedEnvelope.from_files({{{key_id!r}: {str(verification)!r}}})

# Origin, settings (Flask app.config / Django ORIGINVERIFY):
signature_key_files = {{{key_id!r}: {str(verification)!r}}}

# Rotation: create the next key, add it next to this one on the origin, switch the edge,
# then remove this one.
"""


# -- settings --------------------------------------------------------------------------------

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
}


def from_settings(settings: Mapping[str, Any]) -> SignedEnvelope | None:
    """The ``SignedEnvelope`` normalized settings describe, or None if no key is configured."""
    keys: dict[str, VerificationKeyInput] = {}
    for setting, loader in (
        ("signature_keys", lambda k, v: v),
        ("signature_key_files", lambda k, v: _read(v, f"key file for {k!r}")),
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
