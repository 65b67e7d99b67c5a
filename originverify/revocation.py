"""Revocation checking: CRLs loaded off the request path, OCSP as an opt-in fallback.

pyca's verifier has no revocation support, so this layer runs after chain validation, on the
path the engine returned (``RevocationChecker`` in ``verify.py``). Design points:

* **No network on the request path for CRLs.** CRLs come from files, directories and URLs
  (and, opt-in, from the CRL distribution points of the certificates seen); they are read at
  start-up and by a background thread that refreshes each one before its ``nextUpdate``,
  with jitter and a bounded exponential retry. A request only does dict lookups.
* **A CRL proves nothing until verified against the issuer in the validated path:** same
  issuer name (and key id, when the CRL names one), a signature that verifies with that
  issuer's key, an issuer allowed to sign CRLs, ``thisUpdate <= at < nextUpdate``. A CRL
  that fails any of these never marks anything good. Delta and indirect CRLs are refused
  with a clear error at load time rather than half-supported.
* **O(1) lookup:** each CRL becomes a ``frozenset`` of revoked serials, indexed by issuer
  name; ``CertificateRevocationList.get_revoked_certificate_by_serial_number`` is a linear
  scan (~18 ms on 100k entries, measured), so it is never called per request.
* **OCSP** (opt-in) asks the responder in the certificate's AIA when no current CRL
  answers. It is the one network call the request path may make: bounded by ``ocsp_timeout``
  (a total deadline, not a socket timeout), shared by concurrent requests for the same
  certificate, cached until the response's ``nextUpdate``, and skipped for ``ocsp_backoff``
  seconds after a responder failed.
* **Unknown is not good.** ``mode="hard"`` refuses a certificate whose status cannot be
  established (``revocation_unknown``); ``mode="soft"`` lets it through. ``revoked`` is
  refused in both modes.
* ``generation`` changes whenever the data changes (a CRL installed) or expires (a CRL or
  cached OCSP response passes ``nextUpdate``), so the verifier re-checks cached results.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    SignatureAlgorithmOID,
)

from .errors import ConfigurationError, Reason, VerificationError

log = logging.getLogger("originverify")

Mode = Literal["soft", "hard"]
Scope = Literal["leaf", "chain"]
MODES: tuple[Mode, ...] = ("soft", "hard")
SCOPES: tuple[Scope, ...] = ("leaf", "chain")

CRLInput = str | Path | bytes | x509.CertificateRevocationList
#: Fetches ``url`` (with an optional POST body and content type) within ``timeout`` seconds
#: and returns at most ``limit`` bytes; raises ``OSError`` on any failure.
Fetcher = Callable[[str, bytes | None, str | None, float, int], bytes]

_CRL_SUFFIXES = {".crl", ".pem", ".der"}
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)
_KNOWN_CRL_EXTENSIONS = (
    x509.AuthorityKeyIdentifier,
    x509.CRLNumber,
    x509.IssuingDistributionPoint,
    x509.FreshestCRL,
    x509.AuthorityInformationAccess,
)
_KNOWN_ENTRY_EXTENSIONS = (x509.CRLReason, x509.InvalidityDate)
#: What reading a certificate's extensions raises when they are malformed.
_BAD_EXTENSIONS = (ValueError, x509.DuplicateExtension)


class CRLError(ValueError):
    """A CRL we refuse to use (malformed, delta, indirect, unknown critical extension)."""


def urllib_fetch(
    url: str, body: bytes | None, content_type: str | None, timeout: float, limit: int
) -> bytes:
    """The default ``Fetcher``: ``urllib.request`` (standard library), http(s) only."""
    if not url.lower().startswith(("http://", "https://")):
        raise OSError(f"unsupported URL scheme in {url!r}")
    headers = {"User-Agent": "originverify"}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data: bytes = response.read(limit + 1)
    except (urllib.error.URLError, ValueError, TimeoutError) as exc:
        raise OSError(f"{url}: {exc}") from None
    if len(data) > limit:
        raise OSError(f"{url}: response larger than {limit} bytes")
    return data


# -- CRLs ---------------------------------------------------------------------------------


@dataclass(eq=False)
class LoadedCRL:
    """One parsed, structurally checked CRL; its signature is checked per issuer on use."""

    crl: x509.CertificateRevocationList
    source: str
    issuer_der: bytes
    key_id: bytes | None  # authorityKeyIdentifier.keyIdentifier, if the CRL has one
    this_update: datetime
    next_update: datetime
    number: int | None
    serials: frozenset[int]
    only_user: bool = False
    only_ca: bool = False
    partial: bool = False  # onlySomeReasons: a listed serial is revoked, absence proves nothing
    dp_uris: frozenset[str] = frozenset()  # issuingDistributionPoint full names (URIs)
    # issuer certificate (keyed by its signature value, see Revocation._issuer_info) -> ok
    _signature_ok: dict[bytes, bool] = field(default_factory=dict, repr=False)

    @property
    def entries(self) -> int:
        return len(self.serials)

    @functools.cached_property
    def description(self) -> str:
        """Rendered once: DN and date formatting cost more than the whole lookup."""
        return (
            f"CRL {self.crl.issuer.rfc4514_string()!r} from {self.source} "
            f"(thisUpdate {self.this_update:%Y-%m-%dT%H:%M:%SZ}, "
            f"nextUpdate {self.next_update:%Y-%m-%dT%H:%M:%SZ})"
        )

    def verified_by(self, issuer: x509.Certificate) -> bool:
        """Signed by ``issuer``'s key, and ``issuer`` may sign CRLs (cached per issuer)."""
        known = self._signature_ok.get(issuer.signature)
        if known is not None:
            return known
        ok = issuer.subject.public_bytes() == self.issuer_der and _may_sign_crls(issuer)
        if ok:
            try:
                ok = self.crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
            except (TypeError, ValueError, UnsupportedAlgorithm):
                ok = False
        if len(self._signature_ok) < 64:
            self._signature_ok[issuer.signature] = ok
        return ok

    def covers(self, cert: x509.Certificate, is_ca: bool, dp_uris: frozenset[str]) -> bool:
        """Whether this CRL's scope (issuingDistributionPoint) includes ``cert``."""
        if (self.only_ca and not is_ca) or (self.only_user and is_ca):
            return False
        return not (self.dp_uris and dp_uris and not self.dp_uris & dp_uris)

    def newer_than(self, other: LoadedCRL) -> bool:
        if self.number is not None and other.number is not None:
            return self.number > other.number
        return self.this_update > other.this_update


def _may_sign_crls(issuer: x509.Certificate) -> bool:
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    except _BAD_EXTENSIONS:
        return False
    return usage.crl_sign


def parse_crl(crl: x509.CertificateRevocationList, source: str) -> LoadedCRL:
    """Check a CRL's structure and index its serials; raises ``CRLError``."""
    try:
        extensions = crl.extensions
    except ValueError as exc:
        raise CRLError(f"{source}: unreadable CRL extensions: {exc}") from None
    key_id = number = None
    only_user = only_ca = partial = False
    dp_uris: frozenset[str] = frozenset()
    for ext in extensions:
        value = ext.value
        if isinstance(value, x509.DeltaCRLIndicator):
            raise CRLError(
                f"{source}: delta CRLs are not supported (DeltaCRLIndicator, base CRL "
                f"#{value.crl_number}); configure the full (base) CRL instead"
            )
        if not isinstance(value, _KNOWN_CRL_EXTENSIONS):
            if ext.critical:
                raise CRLError(
                    f"{source}: unsupported critical CRL extension {ext.oid.dotted_string}"
                )
            continue
        if isinstance(value, x509.AuthorityKeyIdentifier):
            key_id = value.key_identifier
        elif isinstance(value, x509.CRLNumber):
            if ext.critical:
                raise CRLError(f"{source}: CRLNumber must not be critical (RFC 5280 §5.2.3)")
            number = value.crl_number
        elif isinstance(value, x509.IssuingDistributionPoint):
            if value.indirect_crl:
                raise CRLError(f"{source}: indirect CRLs are not supported")
            if value.only_contains_attribute_certs:
                raise CRLError(f"{source}: CRL covers attribute certificates only")
            if value.relative_name is not None:
                raise CRLError(f"{source}: relative distribution point names are not supported")
            only_user = value.only_contains_user_certs
            only_ca = value.only_contains_ca_certs
            partial = value.only_some_reasons is not None
            dp_uris = frozenset(
                n.value
                for n in value.full_name or ()
                if isinstance(n, x509.UniformResourceIdentifier)
            )
    if number is None:
        raise CRLError(f"{source}: CRL has no CRLNumber (RFC 5280 §5.2.3 requires one)")
    next_update = crl.next_update_utc
    if next_update is None:
        raise CRLError(f"{source}: CRL has no nextUpdate (RFC 5280 requires one)")
    serials = []
    try:
        for entry in crl:
            serials.append(entry.serial_number)
            entry_extensions = entry.extensions
            if not entry_extensions:
                continue
            for ext in entry_extensions:
                if isinstance(ext.value, x509.CertificateIssuer):
                    raise CRLError(f"{source}: certificateIssuer entries (indirect CRL)")
                if ext.critical and not isinstance(ext.value, _KNOWN_ENTRY_EXTENSIONS):
                    raise CRLError(
                        f"{source}: unsupported critical CRL entry extension "
                        f"{ext.oid.dotted_string}"
                    )
    except ValueError as exc:
        raise CRLError(f"{source}: unreadable CRL entry: {exc}") from None
    return LoadedCRL(
        crl=crl,
        source=source,
        issuer_der=crl.issuer.public_bytes(),
        key_id=key_id,
        this_update=crl.last_update_utc,
        next_update=next_update,
        number=number,
        serials=frozenset(serials),
        only_user=only_user,
        only_ca=only_ca,
        partial=partial,
        dp_uris=dp_uris,
    )


def load_crls(data: bytes, source: str) -> list[LoadedCRL]:
    """Every CRL in PEM (one or more blocks) or DER ``data``; raises ``CRLError``."""
    try:
        if b"-----BEGIN" in data:
            blocks = _PEM_CRL.findall(data)
            if not blocks:
                raise CRLError(f"{source}: no 'X509 CRL' PEM block")
            crls = [x509.load_pem_x509_crl(block) for block in blocks]
        else:
            crls = [x509.load_der_x509_crl(data)]
    except ValueError as exc:
        if isinstance(exc, CRLError):
            raise
        raise CRLError(f"{source}: not a PEM or DER CRL ({exc})") from None
    return [parse_crl(crl, source) for crl in crls]


@dataclass
class _Source:
    """Somewhere CRLs come from, and when to look again."""

    label: str
    kind: Literal["file", "url", "static"]
    path: Path | None = None
    learned: bool = False  # a distribution point seen in a certificate
    crls: tuple[LoadedCRL, ...] = ()
    due: float = 0.0
    failures: int = 0
    stamp: tuple[tuple[str, int, int], ...] | None = None  # (name, mtime_ns, size) per file
    last_error: str | None = None


# -- OCSP ---------------------------------------------------------------------------------


class _OCSPError(Exception):
    """An OCSP exchange that yields no usable answer (network, format, signature, time)."""


@dataclass(frozen=True, slots=True)
class _OCSPAnswer:
    status: Literal["good", "revoked", "unknown"]
    detail: str
    expires: float  # wall clock; served from the cache until then
    next_update: datetime


def _verify_signature(
    key: Any, signature: bytes, data: bytes, hash_algorithm: Any, algorithm_oid: Any
) -> None:
    """Verify a raw signature (cryptography has no ``is_signature_valid`` for OCSP)."""
    if isinstance(key, rsa.RSAPublicKey):
        if algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS or hash_algorithm is None:
            raise _OCSPError("unsupported RSA signature scheme")
        key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if hash_algorithm is None:
            raise _OCSPError("ECDSA signature without a hash")
        key.verify(signature, data, ec.ECDSA(hash_algorithm))
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key.verify(signature, data)
    else:
        raise _OCSPError(f"unsupported responder key type {type(key).__name__}")


def _key_hash(cert: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey bits: OCSP's ``byKey`` responder id."""
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _cert_id(cert: x509.Certificate, issuer: x509.Certificate, algorithm: Any) -> ocsp.OCSPRequest:
    return ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm).build()


def check_ocsp_response(
    der: bytes, cert: x509.Certificate, issuer: x509.Certificate, at: datetime, skew: timedelta
) -> tuple[Literal["good", "revoked", "unknown"], datetime | None, datetime | None, str]:
    """Validate an OCSP response for ``cert`` (RFC 6960 3.2); raises ``_OCSPError``.

    Returns ``(status, thisUpdate, nextUpdate, signer description)``. The signer is the
    issuer itself or a delegated responder certificate issued directly by the issuer and
    carrying the OCSP-signing EKU.
    """
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise _OCSPError(f"malformed response: {exc}") from None
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise _OCSPError(f"responder says {response.response_status.name}")
    single = None
    for candidate in response.responses:
        if candidate.serial_number != cert.serial_number:
            continue
        expected = _cert_id(cert, issuer, candidate.hash_algorithm)
        if (
            candidate.issuer_key_hash == expected.issuer_key_hash
            and candidate.issuer_name_hash == expected.issuer_name_hash
        ):
            single = candidate
            break
    if single is None:
        raise _OCSPError("response does not cover this certificate")

    signer, signer_name = issuer, "issuer"
    by_name, by_key = response.responder_name, response.responder_key_hash
    if not (by_name == issuer.subject if by_name is not None else by_key == _key_hash(issuer)):
        for candidate_cert in response.certificates:
            matches = (
                candidate_cert.subject == by_name
                if by_name is not None
                else _key_hash(candidate_cert) == by_key
            )
            if matches:
                _check_delegate(candidate_cert, issuer, at, skew)
                signer, signer_name = candidate_cert, "delegated responder"
                break
        else:
            raise _OCSPError("response signed by neither the issuer nor a delegated responder")
    try:
        _verify_signature(
            signer.public_key(),
            response.signature,
            response.tbs_response_bytes,
            response.signature_hash_algorithm,
            response.signature_algorithm_oid,
        )
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError) as exc:
        raise _OCSPError(f"bad response signature ({type(exc).__name__})") from None

    this_update, next_update = single.this_update_utc, single.next_update_utc
    if this_update > at + skew:
        raise _OCSPError(f"response not valid before {this_update:%Y-%m-%dT%H:%M:%SZ}")
    if next_update is not None and next_update <= at:
        raise _OCSPError(f"stale response (nextUpdate {next_update:%Y-%m-%dT%H:%M:%SZ})")
    status = single.certificate_status
    if status is ocsp.OCSPCertStatus.GOOD:
        return "good", this_update, next_update, signer_name
    if status is ocsp.OCSPCertStatus.REVOKED:
        return "revoked", this_update, next_update, signer_name
    return "unknown", this_update, next_update, signer_name


def _check_delegate(
    delegate: x509.Certificate, issuer: x509.Certificate, at: datetime, skew: timedelta
) -> None:
    try:
        delegate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as exc:
        raise _OCSPError(f"delegated responder not issued by the issuer ({exc})") from None
    try:
        eku = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, *_BAD_EXTENSIONS):
        raise _OCSPError("delegated responder lacks the OCSP-signing EKU") from None
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        raise _OCSPError("delegated responder lacks the OCSP-signing EKU")
    if not delegate.not_valid_before_utc - skew <= at <= delegate.not_valid_after_utc + skew:
        raise _OCSPError("delegated responder certificate outside its validity period")


def _ocsp_urls(cert: x509.Certificate) -> list[str]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, *_BAD_EXTENSIONS):
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and d.access_location.value.lower().startswith(("http://", "https://"))
    ]


def _distribution_point_uris(cert: x509.Certificate) -> frozenset[str]:
    try:
        dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, *_BAD_EXTENSIONS):
        return frozenset()
    return frozenset(
        name.value
        for dp in dps
        if dp.crl_issuer is None  # a DP naming another CRL issuer means an indirect CRL
        for name in dp.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, *_BAD_EXTENSIONS):
        return False


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the checker --------------------------------------------------------------------------


class Revocation:
    """Implements ``RevocationChecker``: pass it as ``Verifier(revocation=...)``.

    Construction loads every configured file and URL (a bad file is a ``ConfigurationError``;
    an unreachable URL is logged and retried by the refresher). ``start()`` runs the
    background refresher, ``close()`` stops it; the object is also a context manager.

    * ``crls``: CRL files, directories (``.crl``/``.pem``/``.der``), bytes or objects;
      ``crl_urls``: http(s) URLs; ``distribution_points``: also fetch (in the background)
      the CRL distribution points of certificates in validated paths.
    * ``mode``: ``hard`` refuses an unknown status (``revocation_unknown``), ``soft`` lets
      it through; ``scope``: ``leaf`` or ``chain`` (every certificate but the anchor).
    * ``ocsp``: ask the AIA responder when no current CRL answers; a request waits at most
      ``ocsp_timeout`` seconds, a failed responder is skipped for ``ocsp_backoff``.
    * Refresh: before ``nextUpdate``, at most every ``refresh_interval``, at least
      ``min_refresh_interval`` apart; failures retried after ``retry_delay`` doubling up to
      ``retry_max_delay`` (one attempt per ``retry_max_delay`` after ``max_retries``).
    * ``fetch_timeout`` (socket timeout of background fetches), ``max_crl_bytes``,
      ``clock_skew`` (tolerated on ``thisUpdate``), ``fetcher`` (replace ``urllib``).
    """

    def __init__(
        self,
        *,
        crls: CRLInput | Iterable[CRLInput] = (),
        crl_urls: Iterable[str] = (),
        distribution_points: bool = False,
        ocsp: bool = False,
        mode: Mode = "hard",
        scope: Scope = "leaf",
        ocsp_timeout: float = 2.0,
        ocsp_backoff: float = 30.0,
        fetch_timeout: float = 15.0,
        refresh_interval: float = 3600.0,
        min_refresh_interval: float = 30.0,
        max_retries: int = 5,
        retry_delay: float = 5.0,
        retry_max_delay: float = 300.0,
        max_crl_bytes: int = 64 << 20,
        max_distribution_points: int = 64,
        clock_skew: timedelta | float = 300.0,
        fetcher: Fetcher = urllib_fetch,
    ) -> None:
        if mode not in MODES:
            raise ConfigurationError(f"revocation mode must be one of {MODES}, not {mode!r}")
        if scope not in SCOPES:
            raise ConfigurationError(f"revocation scope must be one of {SCOPES}, not {scope!r}")
        if ocsp_timeout <= 0 or fetch_timeout <= 0:
            raise ConfigurationError("timeouts must be positive")
        if not 0 < min_refresh_interval <= refresh_interval:
            raise ConfigurationError("need 0 < min_refresh_interval <= refresh_interval")
        if max_retries < 0 or not 0 < retry_delay <= retry_max_delay:
            raise ConfigurationError("need max_retries >= 0 and 0 < retry_delay <= retry_max_delay")
        self.mode: Mode = mode
        self.scope: Scope = scope
        self.ocsp = ocsp
        self.distribution_points = distribution_points
        self.ocsp_timeout = ocsp_timeout
        self.ocsp_backoff = ocsp_backoff
        self.fetch_timeout = fetch_timeout
        self.refresh_interval = refresh_interval
        self.min_refresh_interval = min_refresh_interval
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.retry_max_delay = retry_max_delay
        self.max_crl_bytes = max_crl_bytes
        self.max_distribution_points = max_distribution_points
        self.clock_skew = (
            clock_skew if isinstance(clock_skew, timedelta) else timedelta(seconds=clock_skew)
        )
        self._fetch = fetcher

        self._lock = threading.RLock()
        self._refreshing = threading.Lock()  # one refresh pass at a time (thread or caller)
        self._sources: dict[str, _Source] = {}
        self._index: dict[bytes, tuple[LoadedCRL, ...]] = {}
        self._generation = 0
        self._deadline = float("inf")  # when the next CRL / OCSP answer expires
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._issuers: dict[bytes, tuple[bytes, bytes]] = {}

        self._ocsp_cache: OrderedDict[tuple[bytes, int], _OCSPAnswer] = OrderedDict()
        self._ocsp_inflight: dict[tuple[bytes, int], Future[_OCSPAnswer]] = {}
        self._ocsp_down: dict[str, float] = {}
        self._ocsp_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

        for item in _flatten(crls):
            self._add_local(item)
        for url in [crl_urls] if isinstance(crl_urls, str) else crl_urls:
            if not url.lower().startswith(("http://", "https://")):
                raise ConfigurationError(f"CRL URL must be http(s): {url!r}")
            self._sources.setdefault(url, _Source(url, "url"))
        now = time.time()
        for source in list(self._sources.values()):
            if source.kind != "static":
                self._refresh_source(source, now, initial=True)
        self._install()

    # -- configuration --------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Revocation | None:
        """A started ``Revocation`` from plain settings, or ``None`` when ``revocation`` is
        ``off`` (the default). Keys: ``revocation`` (off|soft|hard), ``revocation_scope``,
        ``crl_files``, ``crl_urls``, ``crl_distribution_points``, ``ocsp``,
        ``ocsp_timeout``, ``crl_refresh_interval``."""
        mode = str(settings.get("revocation", "off") or "off").lower()
        if mode == "off":
            return None
        if mode not in MODES:
            raise ConfigurationError(f"revocation must be 'off', 'soft' or 'hard', not {mode!r}")
        files = settings.get("crl_files") or ()
        urls = settings.get("crl_urls") or ()
        checker = cls(
            crls=[files] if isinstance(files, str | Path) else files,
            crl_urls=[urls] if isinstance(urls, str) else urls,
            distribution_points=bool(settings.get("crl_distribution_points", False)),
            ocsp=bool(settings.get("ocsp", False)),
            mode=mode,
            scope=settings.get("revocation_scope", "leaf"),
            ocsp_timeout=float(settings.get("ocsp_timeout", 2.0)),
            refresh_interval=float(settings.get("crl_refresh_interval", 3600.0)),
        )
        if not (checker._sources or checker.ocsp or checker.distribution_points):
            raise ConfigurationError(
                "revocation is on but no source is configured: set crl_files, crl_urls, "
                "crl_distribution_points or ocsp"
            )
        return checker.start()

    def _add_local(self, item: CRLInput) -> None:
        if isinstance(item, x509.CertificateRevocationList):
            label = f"<CRL object #{len(self._sources)}>"
            loaded = self._parse_or_fail(lambda: [parse_crl(item, label)])
            self._sources[label] = _Source(label, "static", crls=tuple(loaded))
        elif isinstance(item, bytes):
            label = f"<CRL bytes #{len(self._sources)}>"
            loaded = self._parse_or_fail(lambda: load_crls(item, label))
            self._sources[label] = _Source(label, "static", crls=tuple(loaded))
        else:
            path = Path(item)
            if not path.exists():
                raise ConfigurationError(f"CRL source {path} does not exist")
            self._sources[str(path)] = _Source(str(path), "file", path=path)

    @staticmethod
    def _parse_or_fail(parse: Callable[[], list[LoadedCRL]]) -> list[LoadedCRL]:
        try:
            return parse()
        except CRLError as exc:
            raise ConfigurationError(str(exc)) from None

    # -- RevocationChecker ----------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Changes when a CRL is installed or any loaded revocation data expires."""
        if time.time() >= self._deadline:
            with self._lock:
                if time.time() >= self._deadline:
                    self._generation += 1
                    self._deadline = self._next_deadline(time.time())
        return self._generation

    def check(self, path: Sequence[x509.Certificate], at: datetime) -> str:
        """Status of the leaf (or every non-anchor certificate) of a validated path.

        Raises ``VerificationError``: ``revoked``, or ``revocation_unknown`` in hard mode.
        """
        if len(path) < 2:
            leaf = path[0]
            if leaf.subject == leaf.issuer:
                return "leaf is a configured anchor: nothing to check"
            return self._unknown("leaf", "its issuer is not in the path")
        last = len(path) - 1 if self.scope == "chain" else 1
        statuses = []
        for index in range(last):
            role = "leaf" if index == 0 else f"chain[{index - 1}]"
            statuses.append(self._check_one(role, path[index], path[index + 1], at))
        return "; ".join(statuses)

    def _check_one(
        self, role: str, cert: x509.Certificate, issuer: x509.Certificate, at: datetime
    ) -> str:
        status, detail = self._crl_status(cert, issuer, at)
        if status == "revoked":
            raise VerificationError(
                Reason.REVOKED,
                f"{role} {cert.subject.rfc4514_string()!r} serial {cert.serial_number:x} "
                f"listed in {detail}",
            )
        if status == "good":
            return f"{role}: good ({detail})"
        if self.ocsp:
            ocsp_status, ocsp_detail = self._ocsp_status(cert, issuer, at)
            if ocsp_status == "revoked":
                raise VerificationError(
                    Reason.REVOKED,
                    f"{role} {cert.subject.rfc4514_string()!r} serial {cert.serial_number:x} "
                    f"revoked per OCSP ({ocsp_detail})",
                )
            if ocsp_status == "good":
                return f"{role}: good (OCSP: {ocsp_detail})"
            detail = f"{detail}; OCSP: {ocsp_detail}"
        return self._unknown(role, detail)

    def _unknown(self, role: str, detail: str) -> str:
        if self.mode == "hard":
            raise VerificationError(Reason.REVOCATION_UNKNOWN, f"{role}: {detail}")
        log.debug("originverify: revocation status unknown (soft-fail) %s: %s", role, detail)
        return f"{role}: unknown, accepted (soft-fail: {detail})"

    def _issuer_info(self, issuer: x509.Certificate) -> tuple[bytes, bytes]:
        # Keyed by the certificate's signature value: ~0.4 µs to read against ~6 µs to hash
        # a Certificate. Issuers here come from a validated path, so two certificates with
        # the same signature value are the same certificate (anything else is a forgery).
        info = self._issuers.get(issuer.signature)
        if info is None:
            try:
                key_id = issuer.extensions.get_extension_for_class(
                    x509.SubjectKeyIdentifier
                ).value.key_identifier
            except (x509.ExtensionNotFound, *_BAD_EXTENSIONS):
                key_id = _key_hash(issuer)
            info = (issuer.subject.public_bytes(), key_id)
            if len(self._issuers) >= 256:
                self._issuers.clear()
            self._issuers[issuer.signature] = info
        return info

    def _crl_status(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime
    ) -> tuple[Literal["good", "revoked", "unknown"], str]:
        name, key_id = self._issuer_info(issuer)
        candidates = self._index.get(name, ())
        dp_uris: frozenset[str] = frozenset()
        if self.distribution_points or any(c.dp_uris for c in candidates):
            dp_uris = _distribution_point_uris(cert)
            if self.distribution_points and dp_uris:
                self._learn(dp_uris)
        if not candidates:
            return "unknown", f"no CRL for issuer {issuer.subject.rfc4514_string()!r}"
        problems = []
        good: LoadedCRL | None = None
        is_ca: bool | None = None
        for crl in candidates:
            if crl.key_id is not None and crl.key_id != key_id:
                continue  # same name, another key: not this issuer's CRL
            if (crl.only_ca or crl.only_user) and is_ca is None:
                is_ca = _is_ca(cert)
            if not crl.covers(cert, bool(is_ca), dp_uris):
                continue
            if not crl.verified_by(issuer):
                problems.append(f"{crl.source}: signature does not verify with the issuer's key")
                continue
            if cert.serial_number in crl.serials:
                return "revoked", crl.description
            if crl.partial:
                problems.append(f"{crl.source}: covers only some revocation reasons")
            elif crl.this_update > at + self.clock_skew:
                problems.append(
                    f"{crl.source}: not valid before {crl.this_update:%Y-%m-%dT%H:%M:%SZ}"
                )
            elif crl.next_update <= at:
                problems.append(f"{crl.source}: expired at {crl.next_update:%Y-%m-%dT%H:%M:%SZ}")
            elif good is None or crl.newer_than(good):
                good = crl
        if good is not None:
            return "good", good.description
        if not problems:
            problems.append(f"no applicable CRL for issuer {issuer.subject.rfc4514_string()!r}")
        return "unknown", "; ".join(problems)

    # -- OCSP -----------------------------------------------------------------------------

    def _ocsp_status(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime
    ) -> tuple[Literal["good", "revoked", "unknown"], str]:
        urls = _ocsp_urls(cert)
        if not urls:
            return "unknown", "no OCSP responder in the certificate"
        key = (self._issuer_info(issuer)[1], cert.serial_number)
        now = time.time()
        with self._ocsp_lock:
            cached = self._ocsp_cache.get(key)
            if cached is not None and now < cached.expires and at < cached.next_update:
                self._ocsp_cache.move_to_end(key)
                return cached.status, f"{cached.detail}, cached"
            url = urls[0]
            down_until = self._ocsp_down.get(url, 0.0)
            if now < down_until:
                return (
                    "unknown",
                    f"responder {url} failed or timed out recently; retry after {_utc(down_until)}",
                )
            future = self._ocsp_inflight.get(key)
            if future is None:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(4, thread_name_prefix="originverify-ocsp")
                future = self._pool.submit(self._ocsp_fetch, url, cert, issuer, at, key)
                self._ocsp_inflight[key] = future
        try:
            answer = future.result(timeout=self.ocsp_timeout)
        except FutureTimeout:
            # The fetch goes on in the background (its answer is cached for later requests);
            # meanwhile other requests skip this responder instead of each waiting.
            with self._ocsp_lock:
                self._ocsp_down[url] = max(self._ocsp_down.get(url, 0.0), now + self.ocsp_backoff)
            return "unknown", f"responder {url} did not answer within {self.ocsp_timeout:g}s"
        except Exception as exc:  # _OCSPError, or cancelled by close(): no answer either way
            return "unknown", f"{url}: {exc}"
        return answer.status, answer.detail

    def _ocsp_fetch(
        self,
        url: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: datetime,
        key: tuple[bytes, int],
    ) -> _OCSPAnswer:
        """Runs on the OCSP pool; stores the answer (or the failure) for later requests."""
        try:
            request = _cert_id(cert, issuer, hashes.SHA1())  # noqa: S303 - CertID per RFC 5019
            try:
                der = self._fetch(
                    url,
                    request.public_bytes(Encoding.DER),
                    "application/ocsp-request",
                    self.fetch_timeout,  # requests wait only ocsp_timeout for it
                    1 << 20,
                )
            except OSError as exc:
                raise _OCSPError(f"fetch failed: {exc}") from None
            status, this_update, next_update, signer = check_ocsp_response(
                der, cert, issuer, at, self.clock_skew
            )
        except Exception as exc:
            if not isinstance(exc, _OCSPError):
                exc = _OCSPError(f"{type(exc).__name__}: {exc}")
            with self._ocsp_lock:
                self._ocsp_inflight.pop(key, None)
                self._ocsp_down[url] = time.time() + self.ocsp_backoff
            log.warning("originverify: OCSP %s for serial %x: %s", url, cert.serial_number, exc)
            raise exc from None
        if next_update is None:  # "newer information is always available": keep briefly
            next_update = max(this_update or at, at) + timedelta(seconds=60)
        answer = _OCSPAnswer(
            status,
            f"{status} from {url}, signed by the {signer}, nextUpdate "
            f"{next_update:%Y-%m-%dT%H:%M:%SZ}",
            next_update.timestamp(),
            next_update,
        )
        with self._ocsp_lock:
            self._ocsp_inflight.pop(key, None)
            self._ocsp_down.pop(url, None)
            self._ocsp_cache[key] = answer
            self._ocsp_cache.move_to_end(key)
            while len(self._ocsp_cache) > 10_000:
                self._ocsp_cache.popitem(last=False)
        with self._lock:
            self._deadline = min(self._deadline, answer.expires)
        return answer

    # -- CRL loading and refreshing -------------------------------------------------------

    def _learn(self, uris: frozenset[str]) -> None:
        """Queue distribution points seen in validated certificates for the refresher."""
        new = [u for u in uris if u not in self._sources and u.lower().startswith("http")]
        if not new:
            return
        with self._lock:
            learned = sum(1 for s in self._sources.values() if s.learned)
            for uri in new:
                if learned >= self.max_distribution_points:
                    log.warning("originverify: too many CRL distribution points, ignoring %s", uri)
                    break
                if uri not in self._sources:
                    self._sources[uri] = _Source(uri, "url", learned=True)
                    learned += 1
        self._wake.set()

    def add_distribution_points(self, certificates: Iterable[x509.Certificate]) -> int:
        """Fetch now (at start-up, off the request path) the CRLs that ``certificates``
        point to, e.g. your intermediates'. Returns how many new sources were added."""
        uris: set[str] = set()
        for cert in certificates:
            uris |= _distribution_point_uris(cert)
        with self._lock:
            new = [u for u in sorted(uris) if u not in self._sources]
            for uri in new:
                self._sources[uri] = _Source(uri, "url", learned=True)
        with self._refreshing:
            now = time.time()
            for uri in new:
                self._refresh_source(self._sources[uri], now, initial=True)
            if new:
                self._install()
        return len(new)

    def refresh(self) -> bool:
        """Re-read every file and URL now (blocking); ``True`` if any CRL changed."""
        with self._refreshing:
            now = time.time()
            changed = False
            for source in list(self._sources.values()):
                if source.kind != "static":
                    changed |= self._refresh_source(source, now)
            if changed:
                self._install()
            return changed

    def _read(self, source: _Source) -> list[LoadedCRL] | None:
        """The CRLs a source holds now, or ``None`` when a file is unchanged."""
        if source.kind == "url":
            data = self._fetch(source.label, None, None, self.fetch_timeout, self.max_crl_bytes)
            return load_crls(data, source.label)
        assert source.path is not None
        path = source.path
        files = (
            sorted(p for p in path.iterdir() if p.suffix.lower() in _CRL_SUFFIXES)
            if path.is_dir()
            else [path]
        )
        stamp = tuple((str(f), (st := f.stat()).st_mtime_ns, st.st_size) for f in files)
        if stamp == source.stamp:
            return None
        loaded = [crl for f in files for crl in load_crls(f.read_bytes(), str(f))]
        source.stamp = stamp
        return loaded

    def _refresh_source(self, source: _Source, now: float, initial: bool = False) -> bool:
        """Load one source; on failure keep what it had and schedule a retry."""
        try:
            loaded = self._read(source)
        except (OSError, CRLError) as exc:
            source.failures += 1
            source.last_error = str(exc)
            if initial and source.kind == "file":
                raise ConfigurationError(f"CRL source {source.label}: {exc}") from None
            source.due = now + self._retry_delay(source)
            log.warning(
                "originverify: CRL refresh failed for %s (attempt %d): %s; next try %s",
                source.label,
                source.failures,
                exc,
                _utc(source.due),
            )
            return False
        source.failures = 0
        source.last_error = None
        if loaded is None:  # unchanged file
            source.due = now + self._refresh_delay(source.crls, now)
            return False
        kept = _keep_newest(source.crls, loaded)
        changed = kept != source.crls
        source.crls = kept
        source.due = now + self._refresh_delay(kept, now)
        if changed:
            log.info(
                "originverify: CRLs from %s: %s",
                source.label,
                ", ".join(
                    f"{c.entries} entries until {c.next_update:%Y-%m-%dT%H:%M:%SZ}" for c in kept
                )
                or "none",
            )
        return changed

    def _refresh_delay(self, crls: Sequence[LoadedCRL], now: float) -> float:
        """Well before the earliest nextUpdate, at most ``refresh_interval``, jittered
        only earlier so that many origins do not fetch in lockstep."""
        delay = self.refresh_interval
        for crl in crls:
            left = crl.next_update.timestamp() - now
            delay = min(delay, max(self.min_refresh_interval, left * 0.8))
        return delay * random.uniform(0.85, 1.0)  # noqa: S311 - jitter, not crypto

    def _retry_delay(self, source: _Source) -> float:
        """Exponential backoff with jitter (``retry_delay``, x2 per failure), capped at
        ``retry_max_delay``; after ``max_retries`` consecutive failures, one attempt per
        ``retry_max_delay`` so a dead server is never hammered."""
        if source.failures > self.max_retries:
            return self.retry_max_delay * random.uniform(0.9, 1.0)  # noqa: S311 - jitter
        base = min(self.retry_delay * 2.0 ** (source.failures - 1), self.retry_max_delay)
        return base * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto

    def _install(self) -> None:
        """Swap in a new issuer index built from every source; bump the generation."""
        with self._lock:
            index: dict[bytes, list[LoadedCRL]] = {}
            for source in self._sources.values():
                for crl in source.crls:
                    index.setdefault(crl.issuer_der, []).append(crl)
            self._index = {name: tuple(crls) for name, crls in index.items()}
            self._generation += 1
            self._deadline = self._next_deadline(time.time())

    def _next_deadline(self, now: float) -> float:
        deadline = float("inf")
        for crls in self._index.values():
            for crl in crls:
                expires = crl.next_update.timestamp()
                if expires > now:
                    deadline = min(deadline, expires)
        with self._ocsp_lock:
            for answer in self._ocsp_cache.values():
                if answer.expires > now:
                    deadline = min(deadline, answer.expires)
        return deadline

    # -- background thread ----------------------------------------------------------------

    def start(self) -> Revocation:
        """Start the refresher (a daemon thread); idempotent. Returns ``self``."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="originverify-crl-refresher", daemon=True
                )
                self._thread.start()
        return self

    def close(self) -> None:
        """Stop the refresher and the OCSP workers; safe to call twice."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.fetch_timeout + 5)
        self._thread = None
        with self._ocsp_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Revocation:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._refreshing:
                now = time.time()
                changed = False
                for source in list(self._sources.values()):
                    if self._stop.is_set():
                        return
                    if source.kind != "static" and source.due <= now:
                        try:
                            changed |= self._refresh_source(source, now)
                        except Exception:  # never let the refresher die
                            log.exception("originverify: CRL refresher error on %s", source.label)
                            source.due = now + self.min_refresh_interval
                if changed:
                    self._install()
            due = min(
                (s.due for s in self._sources.values() if s.kind != "static"),
                default=now + self.refresh_interval,
            )
            self._wake.wait(timeout=max(0.05, due - time.time()))
            self._wake.clear()

    # -- introspection --------------------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        """One row per source: what is loaded, until when, the last error."""
        rows = []
        for source in list(self._sources.values()):
            rows.append(
                {
                    "source": source.label,
                    "kind": source.kind,
                    "learned": source.learned,
                    "crls": [
                        {
                            "issuer": c.crl.issuer.rfc4514_string(),
                            "entries": c.entries,
                            "this_update": c.this_update.isoformat(),
                            "next_update": c.next_update.isoformat(),
                        }
                        for c in source.crls
                    ],
                    "next_refresh": _utc(source.due) if source.kind != "static" else None,
                    "last_error": source.last_error,
                }
            )
        return rows


def _keep_newest(
    current: tuple[LoadedCRL, ...], loaded: Sequence[LoadedCRL]
) -> tuple[LoadedCRL, ...]:
    """The freshly read CRLs, except where we already hold a newer one from the same issuer
    (a stale mirror must not roll revocations back)."""
    by_issuer = {(c.issuer_der, c.key_id): c for c in current}
    out: list[LoadedCRL] = []
    for crl in loaded:
        old = by_issuer.get((crl.issuer_der, crl.key_id))
        if old is not None and old.newer_than(crl):
            log.warning(
                "originverify: %s served an older CRL than the one loaded; keeping the newer",
                crl.source,
            )
            out.append(old)
        elif old is not None and old.crl == crl.crl:
            out.append(old)  # identical: keep the object (and its signature cache)
        else:
            out.append(crl)
    return tuple(out)


def _flatten(crls: CRLInput | Iterable[CRLInput]) -> list[CRLInput]:
    if isinstance(crls, str | Path | bytes | x509.CertificateRevocationList):
        return [crls]
    return list(crls)
