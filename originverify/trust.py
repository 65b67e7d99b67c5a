"""The origin's own trust anchors, parsed once, swappable at run time.

Only certificates configured here are ever anchors: whatever a client sends in its chain
(including a self-signed root with the same subject as ours) is an untrusted intermediate.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


def _parse_bytes(data: bytes, what: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ConfigurationError(f"{what}: not a PEM or DER certificate ({exc})") from None


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
        return TrustSnapshot(
            anchors=tuple(_dedupe(anchors)),
            extra_intermediates=tuple(_dedupe(extra)),
            store=Store(list(_dedupe(anchors))),
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
