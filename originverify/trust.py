"""The origin's own trust anchors, parsed once, swappable at run time.

Only certificates configured here are ever anchors: whatever a client sends in its chain
(including a self-signed root with the same subject as ours) is an untrusted intermediate.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import Store

from .errors import ConfigurationError

PathLike = str | Path
CertSource = PathLike | bytes | x509.Certificate | Iterable["CertSource"]

_PEM_SUFFIXES = {".pem", ".crt", ".cer"}


def load_certificates(source: CertSource, what: str = "certificates") -> list[x509.Certificate]:
    """Certificates from a PEM/DER file, a directory of them, PEM/DER bytes, or a list."""
    if isinstance(source, x509.Certificate):
        return [source]
    if isinstance(source, bytes):
        return _parse_bytes(source, what)
    if isinstance(source, str | Path):
        return _load_path(Path(source), what)
    certs: list[x509.Certificate] = []
    for item in source:
        certs.extend(load_certificates(item, what))
    return certs


_BEGIN = re.compile(rb"-----BEGIN ([^-\r\n]*)-----")
_BLOCK = re.compile(rb"-----BEGIN ([^-\r\n]*)-----\r?\n.*?-----END \1-----", re.DOTALL)


def _parse_bytes(data: bytes, what: str) -> list[x509.Certificate]:
    """Every certificate in ``data``, or ``ConfigurationError``: never silently fewer.

    A half-written bundle (its last block cut off, a lone BEGIN line) and any block that
    does not parse are errors: ``load_pem_x509_certificates`` alone would skip them and the
    deployment would run with fewer anchors than configured.
    """
    if b"-----BEGIN" not in data:
        return [_checked(lambda: x509.load_der_x509_certificate(data), what)]
    blocks = list(_BLOCK.finditer(data))
    begins = len(_BEGIN.findall(data))
    if begins != len(blocks) or data.count(b"-----END") != len(blocks):
        raise ConfigurationError(
            f"{what}: {begins} PEM BEGIN line(s) but {len(blocks)} complete block(s): "
            "the file is truncated or malformed"
        )
    certs = []
    for index, block in enumerate(blocks, 1):
        label = block.group(1).decode("ascii", "replace")
        if label != "CERTIFICATE":
            raise ConfigurationError(f"{what}: PEM block {index} is {label!r}, not CERTIFICATE")
        pem = block.group(0)
        certs.append(_checked(partial(x509.load_pem_x509_certificate, pem), what, index))
    return certs


def _checked(
    load: Callable[[], x509.Certificate], what: str, index: int | None = None
) -> x509.Certificate:
    """Parse and read every part the engines will read, so that an unreadable anchor stops
    start-up with ``ConfigurationError`` instead of failing (or raising) on a request."""
    where = f"{what}" if index is None else f"{what}: certificate {index}"
    try:
        cert = load()
        cert.not_valid_before_utc, cert.not_valid_after_utc  # noqa: B018 - parse check
        cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
        list(cert.extensions)
        cert.public_key()
    except Exception as exc:  # InvalidVersion, ValueError, UnsupportedAlgorithm...
        raise ConfigurationError(
            f"{where}: not a usable certificate ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    return cert


def _load_path(path: Path, what: str) -> list[x509.Certificate]:
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in _PEM_SUFFIXES)
            if not files:
                raise ConfigurationError(f"{what}: no .pem/.crt/.cer files in {path}")
            return [c for f in files for c in _parse_bytes(f.read_bytes(), f"{what} ({f})")]
        return _parse_bytes(path.read_bytes(), f"{what} ({path})")
    except OSError as exc:
        raise ConfigurationError(f"{what}: cannot read {path}: {exc.strerror}") from None


@dataclass(frozen=True, slots=True)
class TrustSnapshot:
    """One immutable generation of the trust store; requests use one snapshot throughout."""

    anchors: tuple[x509.Certificate, ...]
    extra_intermediates: tuple[x509.Certificate, ...]
    store: Store
    generation: int
    digest: bytes  # identifies the exact anchor + intermediate set


class TrustStore:
    """Anchors plus optional extra intermediates (for edges that forward only the leaf).

    Built from paths, ``reload()`` re-reads them and swaps in a new generation atomically;
    the result cache keys on the generation so nothing validated under old anchors survives.
    """

    def __init__(
        self,
        anchors: CertSource,
        extra_intermediates: CertSource = (),
    ) -> None:
        self._sources = (anchors, extra_intermediates)
        self._lock = threading.Lock()
        self._snapshot = self._build(0)

    @property
    def snapshot(self) -> TrustSnapshot:
        return self._snapshot

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        return self._snapshot.anchors

    @property
    def generation(self) -> int:
        return self._snapshot.generation

    def watched_paths(self) -> list[Path]:
        """The files and directories the anchors and intermediates come from (for the
        watcher): a change to any of them means a reload."""
        return [p for source in self._sources for p in _paths_of(source)]

    def reload(self) -> TrustSnapshot:
        """Re-read the configured sources; on error the old generation stays in force."""
        with self._lock:
            self._snapshot = self._build(self._snapshot.generation + 1)
            return self._snapshot

    def _build(self, generation: int) -> TrustSnapshot:
        anchors = load_certificates(self._sources[0], "trust anchors")
        if not anchors:
            raise ConfigurationError("trust anchors: no certificates found")
        extra = load_certificates(self._sources[1], "extra intermediates")
        digest = hashlib.sha256()
        for cert in (*anchors, *extra):
            digest.update(hashlib.sha256(cert.public_bytes(Encoding.DER)).digest())
        try:
            store = Store(list(_dedupe(anchors)))
        except Exception as exc:  # the engine's own parse of the anchors
            raise ConfigurationError(f"trust anchors: rejected by the verifier: {exc}") from None
        return TrustSnapshot(
            anchors=tuple(_dedupe(anchors)),
            extra_intermediates=tuple(_dedupe(extra)),
            store=store,
            generation=generation,
            digest=digest.digest(),
        )


def _paths_of(source: CertSource) -> list[Path]:
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            return [path, *sorted(p for p in path.iterdir() if p.suffix.lower() in _PEM_SUFFIXES)]
        return [path]
    if isinstance(source, bytes | x509.Certificate):
        return []
    return [p for item in source for p in _paths_of(item)]


def _dedupe(certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    seen: set[x509.Certificate] = set()
    out = []
    for cert in certs:
        if cert not in seen:
            seen.add(cert)
            out.append(cert)
    return out
