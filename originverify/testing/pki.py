"""Throwaway PKIs and client certificates for tests: ours, or trustme's.

``PKI()`` is a root and an issuing intermediate (the shape real private CAs have);
``pki.client(...)`` issues a client certificate. Certificates made with trustme
(``trustme.CA`` / ``LeafCert``) are accepted wherever a ``PKI`` or a ``ClientCert`` is,
because trustme is what Python projects already use for test certificates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .. import devpki

_PEM = serialization.Encoding.PEM
_DER = serialization.Encoding.DER


@dataclass(frozen=True)
class ClientCert:
    """A client certificate, the intermediates a client presents with it (issuer first, root
    excluded) and, when known, its private key (for a real TLS client such as curl)."""

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    private_key_pem: bytes | None = None

    @property
    def der(self) -> bytes:
        return self.leaf.public_bytes(_DER)

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        return tuple(c.public_bytes(_DER) for c in self.chain)

    @property
    def pem(self) -> bytes:
        """Leaf then intermediates, PEM: what ``curl --cert`` presents."""
        return b"".join(c.public_bytes(_PEM) for c in (self.leaf, *self.chain))

    @property
    def fingerprint_sha256(self) -> str:
        """Hex SHA-256 of the DER, as ``ClientIdentity.fingerprint_sha256`` and rules use it."""
        return hashlib.sha256(self.der).hexdigest()

    def write(self, directory: str | Path, stem: str = "client") -> dict[str, Path]:
        """``<stem>.pem`` (leaf + intermediates) and, if known, ``<stem>.key`` (mode 0600)."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"cert": folder / f"{stem}.pem"}
        paths["cert"].write_bytes(self.pem)
        if self.private_key_pem is not None:
            paths["key"] = folder / f"{stem}.key"
            paths["key"].write_bytes(self.private_key_pem)
            paths["key"].chmod(0o600)
        return paths


class PKI:
    """A throwaway root → issuing intermediate; every ``client()`` is issued by the latter.

    ``intermediate=False`` issues clients directly from the root. Keys are ECDSA P-256 unless
    ``key_type`` says ``"rsa"``, ``"p384"`` or ``"ed25519"``.
    """

    def __init__(
        self,
        name: str = "originverify testing",
        *,
        intermediate: bool = True,
        key_type: devpki.KeyType = "ec",
    ) -> None:
        self._root = devpki.CertificateAuthority.root_ca(f"{name} root", key_type=key_type)
        self._issuer = (
            self._root.intermediate(f"{name} intermediate", key_type=key_type)
            if intermediate
            else self._root
        )

    @property
    def root(self) -> x509.Certificate:
        return self._root.cert

    @property
    def anchors_pem(self) -> bytes:
        """The root, PEM: the origin's trust anchors (``anchors`` setting)."""
        return self._root.cert.public_bytes(_PEM)

    @property
    def intermediates_pem(self) -> bytes:
        """The issuing intermediate, PEM (``extra_intermediates``, for leaf-only edges)."""
        if self._issuer is self._root:
            return b""
        return self._issuer.cert.public_bytes(_PEM)

    def client(
        self,
        common_name: str | None = "client",
        *,
        dns: Sequence[str] = (),
        uris: Sequence[str] = (),
        emails: Sequence[str] = (),
        ips: Sequence[str] = (),
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key_type: devpki.KeyType = "ec",
        eku: Sequence[x509.ObjectIdentifier] | None = (devpki.CLIENT_AUTH,),
    ) -> ClientCert:
        """A client certificate with the given subject CN and SANs. ``eku`` defaults to
        clientAuth; ``eku=[ExtendedKeyUsageOID.SERVER_AUTH]`` makes one a verifier refuses
        (``bad_usage``), ``None`` one without the extension."""
        issued = self._issuer.issue(
            common_name,
            dns=dns,
            uris=uris,
            emails=emails,
            ips=ips,
            eku=eku,
            key_type=key_type,
            not_before=not_before or devpki.DEFAULT_NOT_BEFORE,
            not_after=not_after or devpki.DEFAULT_NOT_AFTER,
        )
        return ClientCert(issued.cert, issued.intermediates, devpki.key_pem(issued.key))

    def write_anchors(self, path: str | Path) -> Path:
        """Write the anchors PEM to ``path`` (for settings that take a file name)."""
        target = Path(path)
        target.write_bytes(self.anchors_pem)
        return target


class _Blob(Protocol):
    def bytes(self) -> bytes: ...


def client_cert(cert: Any, chain: Sequence[x509.Certificate | bytes] = ()) -> ClientCert:
    """A ``ClientCert`` from ours, a trustme ``LeafCert``, an ``x509.Certificate``, or PEM/DER
    bytes (``chain``: the intermediates, issuer first, for the last two)."""
    if isinstance(cert, ClientCert):
        return cert
    if hasattr(cert, "cert_chain_pems"):  # trustme.LeafCert
        blobs: list[_Blob] = list(cert.cert_chain_pems)
        certs = [x509.load_pem_x509_certificate(b.bytes()) for b in blobs]
        key = cert.private_key_pem.bytes()
        return ClientCert(certs[0], tuple(certs[1:]), key)
    if isinstance(cert, devpki.Issued):
        return ClientCert(cert.cert, cert.intermediates, devpki.key_pem(cert.key))
    return ClientCert(_load(cert), tuple(_load(c) for c in chain))


def anchors_pem(source: Any) -> bytes:
    """The trust anchors, PEM, of a ``PKI``, a trustme ``CA`` (its root, also for a child CA),
    an ``x509.Certificate`` or PEM/DER bytes."""
    if isinstance(source, PKI):
        return source.anchors_pem
    if hasattr(source, "parent_cert") and hasattr(source, "cert_pem"):  # trustme.CA
        while source.parent_cert is not None:
            source = source.parent_cert
        pem: bytes = source.cert_pem.bytes()
        return pem
    return _load(source).public_bytes(_PEM)


def _load(value: x509.Certificate | bytes | str) -> x509.Certificate:
    if isinstance(value, x509.Certificate):
        return value
    if isinstance(value, str):
        value = value.encode("ascii")
    if isinstance(value, bytes):
        if value.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(value)
        return x509.load_der_x509_certificate(value)
    raise TypeError(
        f"expected a ClientCert, trustme LeafCert/CA, devpki Issued, x509.Certificate or "
        f"PEM/DER bytes, not {type(value).__name__}"
    )
