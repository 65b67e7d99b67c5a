"""OpenSSL's verifier (through pyOpenSSL) behind our ``Engine`` protocol, as a third opinion.

Test-only: it runs behind the same leaf profile, clock handling and ``private``-profile
path rule (no SAN-less leaf under a name-constrained CA) as the real engines, so the
comparison is about path building and validation. The SSL-client purpose is set with
``X509_STORE_set_purpose`` from pyOpenSSL's binding (pyOpenSSL has no public API for it):
OpenSSL then checks clientAuth in the EKU of the leaf *and* of every CA, as pyca does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from OpenSSL import crypto
from OpenSSL._util import lib as _lib

from originverify.chain import ValidationPolicy
from originverify.chain.clock import run_in_window
from originverify.chain.path import check_unconstrained_leaf
from originverify.errors import Reason, VerificationError
from originverify.trust import TrustSnapshot, TrustStore

# X509_V_ERR_* codes → our reasons (anything else: the chain is not trusted).
_CODES = {
    9: Reason.NOT_YET_VALID,  # CERT_NOT_YET_VALID
    10: Reason.EXPIRED,  # CERT_HAS_EXPIRED
    25: Reason.INVALID_CERTIFICATE,  # PATH_LENGTH_EXCEEDED
    26: Reason.BAD_USAGE,  # INVALID_PURPOSE
    34: Reason.INVALID_CERTIFICATE,  # UNHANDLED_CRITICAL_EXTENSION
    47: Reason.NAME_CONSTRAINTS,  # PERMITTED_VIOLATION
    48: Reason.NAME_CONSTRAINTS,  # EXCLUDED_VIOLATION
}


class OpenSSLEngine:
    name = "openssl"

    def __init__(self, trust: TrustStore, policy: ValidationPolicy, strict: bool = False) -> None:
        self.trust = trust
        self.policy = policy
        self.strict = strict
        self._anchors = [crypto.X509.from_cryptography(c) for c in trust.snapshot.anchors]

    def validate(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        def build(instant: datetime) -> list[x509.Certificate]:
            return self._validate_at(leaf, presented, instant, snapshot)

        def candidates() -> list[x509.Certificate]:
            return [*presented, *snapshot.extra_intermediates, *snapshot.anchors]

        return run_in_window(build, leaf, candidates, at, self.policy.clock_skew)

    def _validate_at(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        store = crypto.X509Store()
        for anchor in self._anchors:
            store.add_cert(anchor)
        store.set_time(at)
        assert _lib.X509_STORE_set_purpose(store._store, _lib.X509_PURPOSE_SSL_CLIENT) == 1
        if self.strict:
            store.set_flags(crypto.X509StoreFlags.X509_STRICT)
        untrusted = [
            crypto.X509.from_cryptography(c) for c in (*presented, *snapshot.extra_intermediates)
        ]
        context = crypto.X509StoreContext(store, crypto.X509.from_cryptography(leaf), untrusted)
        try:
            chain = context.get_verified_chain()
        except crypto.X509StoreContextError as exc:
            code = exc.errors[0] if exc.errors else -1
            reason = _CODES.get(code, Reason.UNTRUSTED_CHAIN)
            raise VerificationError(reason, f"openssl: {exc}") from None
        except Exception as exc:
            raise VerificationError(Reason.UNTRUSTED_CHAIN, f"openssl: {exc!r}") from None
        path = [c.to_cryptography() for c in chain]
        if len(path) - 2 > self.policy.max_chain_depth:
            raise VerificationError(Reason.CHAIN_TOO_DEEP, "openssl: path too long")
        if self.policy.profile == "private":
            check_unconstrained_leaf(path)
        return path
