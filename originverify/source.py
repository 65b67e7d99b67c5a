"""Proof that a request came through the edge, checked before any header is decoded.

A forwarded certificate proves nothing by itself: it is public data anyone can paste into a
header. Only the edge proved possession of the key, so the origin must first know the
request came from its edge.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError, Reason, VerificationError
from .headers import Headers

log = logging.getLogger("originverify")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(slots=True)
class RequestContext:
    """The request facts a source proof may look at besides the headers."""

    headers: Headers
    peer: str | None = None
    method: str | None = None
    target: str | None = None  # path and query as sent
    scheme: str | None = None
    authority: str | None = None


class SourceProof(abc.ABC):
    """Raises ``VerificationError`` unless the request provably came from the edge."""

    #: Headers that belong to the proof: stripped before the app sees the request.
    header_names: tuple[str, ...] = ()
    #: True only for the explicit opt-out; checks and logs key on it.
    insecure: bool = False

    @abc.abstractmethod
    def check(self, request: RequestContext) -> str:
        """Return a short, secret-free description of what proved the source."""

    def bind(self, certificate_headers: tuple[str, ...]) -> None:
        """Told once, at start-up, which headers carry the certificate (lower-case), so a
        proof that covers headers (a signature) can insist on covering these."""
        return None  # most proofs do not look at certificate headers

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """Short name recorded in ``ClientIdentity.checks``."""


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


class EdgeSecret(SourceProof):
    """A secret header the edge adds (CloudFront origin custom header, ``--origin-secret``).

    Several secrets may be live at once for rotation. Values are compared as SHA-256 digests
    with ``hmac.compare_digest`` against every accepted secret, without early exit, so neither
    content nor length leaks through timing. The secret never appears in logs or reprs.
    """

    def __init__(self, header: str = "X-Origin-Verify", secrets: Iterable[str | bytes] = ()):
        accepted = [s.encode() if isinstance(s, str) else bytes(s) for s in secrets]
        accepted = [s.strip() for s in accepted if s.strip()]
        if not accepted:
            raise ConfigurationError(f"EdgeSecret({header!r}) needs at least one secret")
        for secret in accepted:
            if len(secret) < 16:
                raise ConfigurationError(
                    "edge secrets must be at least 16 characters (use 32+ random bytes, e.g. "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
        self.header = header
        self.header_names = (header,)
        self._path: Path | None = None
        self._accepted = self._digest_all(accepted)

    def _digest_all(self, accepted: list[bytes]) -> tuple[tuple[bytes, str], ...]:
        """(digest, description) per secret; swapped as one value on reload."""
        return tuple(
            (_digest(secret), f"{self.header} matched secret #{i + 1} of {len(accepted)}")
            for i, secret in enumerate(accepted)
        )

    def __repr__(self) -> str:
        return f"EdgeSecret(header={self.header!r}, secrets=<{len(self._accepted)} hidden>)"

    @property
    def label(self) -> str:
        return "edge_secret"

    @classmethod
    def from_env(cls, variable: str, header: str = "X-Origin-Verify") -> EdgeSecret:
        """Secrets from an environment variable; several separated by commas or newlines."""
        value = os.environ.get(variable)
        if not value:
            raise ConfigurationError(f"environment variable {variable} is not set or empty")
        return cls(header, _split(value))

    @classmethod
    def from_file(cls, path: str | Path, header: str = "X-Origin-Verify") -> EdgeSecret:
        """Secrets from a file, one per line (Docker/Kubernetes secret mounts)."""
        proof = cls(header, _read_secrets(Path(path)))
        proof._path = Path(path)
        return proof

    def watched_paths(self) -> list[Path]:
        """The secret file, when built ``from_file`` (the watcher reloads on change)."""
        return [self._path] if self._path is not None else []

    def reload(self) -> int:
        """Re-read the secret file: add the new secret before removing the old one and no
        request is refused. Raises ``ConfigurationError`` (keeping the old secrets) when
        the file cannot be read or holds no valid secret. Returns the number accepted."""
        if self._path is None:
            return len(self._accepted)
        fresh = EdgeSecret(self.header, _read_secrets(self._path))
        self._accepted = fresh._accepted
        log.warning(
            "originverify: edge secrets reloaded from %s: %d accepted",
            self._path,
            len(self._accepted),
        )
        return len(self._accepted)

    def check(self, request: RequestContext) -> str:
        headers = request.headers
        if headers.underscored_names() and headers.has_underscore_alias(self.header):
            raise VerificationError(
                Reason.AMBIGUOUS_HEADER_NAME, f"underscore spelling of {self.header}"
            )
        values = headers.get_all(self.header)
        if not values:
            raise VerificationError(Reason.EDGE_SECRET_MISSING, f"no {self.header} header")
        if len(values) > 1:
            raise VerificationError(Reason.DUPLICATE_HEADER, f"{self.header} appears twice")
        try:
            presented = _digest(values[0].strip().encode("latin-1"))
        except UnicodeEncodeError:  # no HTTP field value decodes to this: not our edge
            raise VerificationError(
                Reason.EDGE_SECRET_MISMATCH, f"{self.header} does not match"
            ) from None
        matched = ""
        for accepted, description in self._accepted:  # one generation, read once
            if hmac.compare_digest(presented, accepted):
                matched = description
        if not matched:
            raise VerificationError(Reason.EDGE_SECRET_MISMATCH, f"{self.header} does not match")
        return matched


def _read_secrets(path: Path) -> list[str]:
    try:
        return _split(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigurationError(f"cannot read edge secret file {path}: {reason}") from None


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


class TrustedProxies(SourceProof):
    """The TCP peer is one of the edge's addresses (private network, VPC origin, sidecar).

    IP allowlisting alone proves "some CloudFront", not "my distribution": pair it with
    ``EdgeSecret`` via ``AllOf`` when the addresses are shared.
    """

    def __init__(self, networks: Iterable[str | IPNetwork]) -> None:
        try:
            self.networks: tuple[IPNetwork, ...] = tuple(
                n
                if isinstance(n, ipaddress.IPv4Network | ipaddress.IPv6Network)
                else ipaddress.ip_network(n, strict=False)
                for n in networks
            )
        except ValueError as exc:
            raise ConfigurationError(f"TrustedProxies: {exc}") from None
        if not self.networks:
            raise ConfigurationError("TrustedProxies needs at least one network")

    def __repr__(self) -> str:
        return f"TrustedProxies({[str(n) for n in self.networks]!r})"

    @property
    def label(self) -> str:
        return "trusted_proxy"

    def check(self, request: RequestContext) -> str:
        if not request.peer:
            raise VerificationError(Reason.PROXY_NOT_TRUSTED, "peer address unknown")
        try:
            address = ipaddress.ip_address(request.peer.strip("[]"))
        except ValueError:
            raise VerificationError(
                Reason.PROXY_NOT_TRUSTED, f"peer {request.peer[:64]!r} is not an IP address"
            ) from None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        for network in self.networks:
            if address in network:
                return f"peer {address} in {network}"
        raise VerificationError(Reason.PROXY_NOT_TRUSTED, f"peer {address} not in trusted networks")


class AllOf(SourceProof):
    """Every proof must hold (e.g. trusted network *and* edge secret)."""

    def __init__(self, *proofs: SourceProof) -> None:
        if not proofs:
            raise ConfigurationError("AllOf needs at least one proof")
        self.proofs = proofs
        self.header_names = tuple(h for p in proofs for h in p.header_names)

    @property
    def label(self) -> str:
        return "+".join(p.label for p in self.proofs)

    def bind(self, certificate_headers: tuple[str, ...]) -> None:
        for proof in self.proofs:
            proof.bind(certificate_headers)

    def check(self, request: RequestContext) -> str:
        return "; ".join(p.check(request) for p in self.proofs)


class AnyOf(SourceProof):
    """One proof is enough (e.g. during a migration from secret header to signatures)."""

    def __init__(self, *proofs: SourceProof) -> None:
        if not proofs:
            raise ConfigurationError("AnyOf needs at least one proof")
        self.proofs = proofs
        self.header_names = tuple(h for p in proofs for h in p.header_names)

    @property
    def label(self) -> str:
        return "|".join(p.label for p in self.proofs)

    def bind(self, certificate_headers: tuple[str, ...]) -> None:
        for proof in self.proofs:
            proof.bind(certificate_headers)

    def check(self, request: RequestContext) -> str:
        failures: list[VerificationError] = []
        for proof in self.proofs:
            try:
                return proof.check(request)
            except VerificationError as exc:
                failures.append(exc)
        first = failures[0]
        raise VerificationError(first.reason, "; ".join(e.detail for e in failures))


class InsecureNoSourceProof(SourceProof):
    """The explicit opt-out: anyone who can reach the origin can claim any certificate.

    Only for origins unreachable except through the edge by construction, and for tests.
    """

    insecure = True

    def __init__(self) -> None:
        log.warning(
            "originverify: source proof DISABLED (INSECURE_NO_SOURCE_PROOF): any client that "
            "reaches this origin directly can forge a client certificate header"
        )

    @property
    def label(self) -> str:
        return "no_source_proof"

    def check(self, request: RequestContext) -> str:
        return "not checked (INSECURE_NO_SOURCE_PROOF)"


def sources_from(proofs: Sequence[SourceProof]) -> SourceProof:
    return proofs[0] if len(proofs) == 1 else AllOf(*proofs)
