"""RFC 5280 §6.3.3 (f)-(g): who may have signed a CRL.

The CRL issuer is either the certificate's issuer from the validated path (same name, same
key), another certificate of that path (an indirect CRL from a CA above), or a certificate
configured as ``crl_signers``: the CA's new certificate after a key rollover, or a dedicated
CRL-signing certificate. Those have their own certification path validated here, up to the
*same trust anchor* as the certificate being checked, and must be allowed to sign CRLs
(``keyUsage`` with ``cRLSign`` when present). A CRL whose signer cannot be established proves
nothing, in either direction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from .certinfo import facts
from .crl import LoadedCRL

_MAX_DEPTH = 6


class SignerStore:
    """Configured CRL signer certificates and the validation of their paths (cached)."""

    def __init__(self, certificates: Iterable[x509.Certificate] = ()) -> None:
        self.certificates = tuple(certificates)
        self._by_subject: dict[bytes, list[x509.Certificate]] = {}
        for cert in self.certificates:
            self._by_subject.setdefault(cert.subject.public_bytes(), []).append(cert)
        self._paths: dict[tuple[bytes, bytes, int], tuple[str | None, list[x509.Certificate]]] = {}
        self._lock = threading.Lock()

    def candidates(
        self, crl: LoadedCRL, path: Sequence[x509.Certificate], first: int
    ) -> list[tuple[x509.Certificate, bool]]:
        """Certificates named like the CRL issuer, with the CRL's key id if it has one:
        ``(certificate, already validated)``; the validated path's own first."""
        out = [(c, True) for c in path[first:] if facts(c).subject_der == crl.issuer_der]
        out += [(c, False) for c in self._by_subject.get(crl.issuer_der, ())]
        if crl.key_id is not None:
            out = [(c, ok) for c, ok in out if facts(c).key_id == crl.key_id]
        return out

    def signer(
        self,
        crl: LoadedCRL,
        path: Sequence[x509.Certificate],
        first: int,
        at: datetime,
        skew: timedelta,
        delegated: bool = True,
    ) -> tuple[x509.Certificate | None, list[x509.Certificate], str]:
        """``(signer, its path up to a certificate of the validated path, problem)`` for
        ``crl``; ``path[first:]`` are the certificates above the one being checked (its
        issuer first, the anchor last). ``delegated=False``: signers from the path only."""
        candidates = self.candidates(crl, path, first)
        if not candidates:
            return None, [], "no certificate of its issuer with the key that signed it"
        problems = []
        for cert, validated in candidates:
            if not (validated or delegated):
                continue
            if not facts(cert).may_sign_crls:
                problems.append("signer's keyUsage lacks cRLSign")
            elif not crl.signed_by(cert):
                problems.append("signature does not verify with the issuer's key")
            elif validated:
                return cert, [], ""
            else:
                error, chain = self.validate(cert, path, at, skew)
                if error is None:
                    return cert, chain, ""
                problems.append(f"CRL signer certificate: {error}")
        return None, [], "; ".join(dict.fromkeys(problems)) or "no usable CRL signer"

    def validate(
        self,
        cert: x509.Certificate,
        path: Sequence[x509.Certificate],
        at: datetime,
        skew: timedelta,
    ) -> tuple[str | None, list[x509.Certificate]]:
        """``(None, [cert, its issuer, ...])`` up to a certificate of the validated path
        (hence to the same anchor), or ``(why not, [])``."""
        key = (cert.signature, path[-1].signature, int(at.timestamp()) // 60)
        with self._lock:
            if key in self._paths:
                return self._paths[key]
        chain: list[x509.Certificate] = [cert]
        error = self._chain(cert, path, at, skew, 0, chain)
        result = (error, chain if error is None else [])
        with self._lock:
            if len(self._paths) > 1024:
                self._paths.clear()
            self._paths[key] = result
        return result

    def _chain(
        self,
        cert: x509.Certificate,
        path: Sequence[x509.Certificate],
        at: datetime,
        skew: timedelta,
        depth: int,
        chain: list[x509.Certificate],
    ) -> str | None:
        if not cert.not_valid_before_utc - skew <= at <= cert.not_valid_after_utc + skew:
            return f"{cert.subject.rfc4514_string()!r} outside its validity period"
        if depth > _MAX_DEPTH:
            return "path too long"
        validated = {c.signature for c in path[1:]}
        pool = [*path[1:], *self._by_subject.get(cert.issuer.public_bytes(), ())]
        for issuer in pool:
            if issuer.subject != cert.issuer or issuer.signature == cert.signature:
                continue
            if not (facts(issuer).ca and facts(issuer).may_sign_certs):
                continue
            try:
                cert.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
                continue
            chain.append(issuer)
            if issuer.signature in validated:
                return None  # on the validated path: chains to the same anchor
            if self._chain(issuer, path, at, skew, depth + 1, chain) is None:
                return None
            del chain[len(chain) - 1 :]
        return f"{cert.subject.rfc4514_string()!r} does not chain to the path's trust anchor"
