"""Second validation engine: pyhanko-certvalidator.

Why a second engine: pyca's verifier is strict and fast but young, and a bug in one path
builder is rarely repeated in an independent one. ``engine="both"`` (``chain.both``)
accepts a chain only when both engines accept it.

Why pyhanko-certvalidator and not wbond's ``certvalidator``: the latter (0.11.1, 2016)
depends on ``oscrypto`` 1.3.0, whose libcrypto version regex fails on OpenSSL 3.0.10+, so it
no longer even imports; the fix was never released. pyhanko-certvalidator is its maintained
fork, and only touches ``oscrypto`` for the OS trust list, which we never use.

pyhanko-certvalidator 0.33 is async-only. The request path is synchronous and may itself run
inside an event loop (ASGI), where ``asyncio.run`` is refused, so validations run on one
private event loop in a dedicated daemon thread (``_LoopThread``). Without fetching there is
no I/O, so the loop is never idle-waiting; the hand-off costs tens of µs against ~1-3 ms
for a validation (see ``benchmarks/bench_revocation.py``).

pyhanko has no work budget of its own (pyca has one), and a coroutine that never suspends
cannot be cancelled: a hostile chain (many same-subject intermediates, thousands of name
constraints) used to keep the loop thread busy long after its request had timed out. So
the work is bounded here: every issuer lookup and signature check spends from a deadline
(``WORK_BUDGET`` after the validation starts, and never past the caller's wait), and the
name-constraint work of a request is estimated up front and refused over pyca's budget.
The loop thread stops when its engine is closed or garbage-collected.

Both engines get the same inputs (leaf, untrusted presented certificates, the snapshot's
extra intermediates and anchors, the validation time the verifier chose) and return the
same thing (the path as the caller's ``x509.Certificate`` objects, leaf first), so the
``ClientIdentity`` is identical, and failures map onto the same ``Reason`` codes.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import os
import threading
import time
import weakref
from collections.abc import Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..errors import ConfigurationError, Reason, VerificationError
from ..trust import TrustSnapshot, TrustStore
from .clock import run_in_window
from .engine import reason_from
from .path import check_ca_profile, check_unconstrained_leaf
from .policy import ValidationPolicy

T = TypeVar("T")

_EXTRA_HINT = (
    "engine='certvalidator' needs the 'certvalidator' extra "
    "(pip install 'originverify[certvalidator]')"
)

#: How long a request waits for its validation (queueing behind others included).
VALIDATION_TIMEOUT = 10.0
#: Time one validation may run once started (wall clock); a legitimate one takes 1-3 ms.
WORK_BUDGET = 2.0
#: Name-constraint comparisons a request may cause (pyca's budget: 2**20).
NAME_CONSTRAINT_BUDGET = 1 << 20

_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("originverify_cv_deadline")


class _OutOfBudget(Exception):
    """Raised inside pyhanko's path building or validation when the deadline passed."""


def _spend() -> None:
    if time.monotonic() > _DEADLINE.get(float("inf")):
        raise _OutOfBudget


class _LoopThread:
    """One private event loop on a daemon thread; coroutines submitted from any thread.

    Started on first use and restarted after ``fork`` (a pre-forking server's workers
    inherit the object but not the thread).
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def _ensure(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure())
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


class CertvalidatorEngine:
    """pyhanko-certvalidator behind the ``Engine`` protocol (RFC 5280 6.1 in pure Python).

    Anchors are ``CertTrustAnchor(cert, derive_default_quals_from_cert=True)`` so that, as
    in pyca, an anchor's validity, path length and name constraints apply (pyhanko ignores
    them otherwise). The policy part of the derived qualifiers is dropped: pyca does no
    policy processing, and an anchor carrying certificatePolicies would otherwise make
    pyhanko require an explicit policy on every path. ``time_tolerance`` is zero: the
    configured clock skew is applied around ``at`` by ``chain.clock``.
    """

    name = "certvalidator"

    def __init__(self, trust: TrustStore, policy: ValidationPolicy) -> None:
        try:
            import pyhanko_certvalidator  # noqa: F401 - availability check only
        except ImportError as exc:
            raise ConfigurationError(_EXTRA_HINT) from exc
        self.trust = trust
        self.policy = policy
        self._runner = _LoopThread("originverify-certvalidator")
        # An engine dropped without close() must not leave its loop thread behind.
        self._finalizer = weakref.finalize(self, self._runner.close)
        self._prepared: tuple[int, _Prepared] | None = None
        self._lock = threading.Lock()
        try:  # at start-up: anchors pyhanko cannot read are a configuration error
            self._prepare(trust.snapshot)
        except Exception as exc:
            raise ConfigurationError(f"certvalidator cannot read the trust store: {exc}") from None

    def _prepare(self, snapshot: TrustSnapshot) -> _Prepared:
        cached = self._prepared
        if cached is not None and cached[0] == snapshot.generation:
            return cached[1]
        prepared = _Prepared(snapshot)
        with self._lock:
            self._prepared = (snapshot.generation, prepared)
        return prepared

    def validate(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        """The validated path, leaf first, anchor last; raises ``VerificationError``."""
        try:
            prepared = self._prepare(snapshot)
        except Exception as exc:  # a reloaded store pyhanko cannot read: fail closed
            raise VerificationError(
                Reason.UNTRUSTED_CHAIN, f"certvalidator cannot read the trust store: {exc}"
            ) from None
        check_name_constraint_work(leaf, presented, prepared.subtrees)
        by_der = dict(prepared.by_der)
        presented_der = []
        for cert in (leaf, *presented):
            der = _der(cert)
            by_der.setdefault(der, cert)
            presented_der.append(der)

        def build(instant: datetime) -> list[x509.Certificate]:
            waited_until = time.monotonic() + VALIDATION_TIMEOUT
            coro = _validate(prepared, presented_der, instant, self.policy, waited_until)
            try:
                ders = self._runner.run(coro, VALIDATION_TIMEOUT)
            except TimeoutError:
                raise VerificationError(
                    Reason.INVALID_CERTIFICATE, "certvalidator: validation timed out"
                ) from None
            path = [by_der[der] for der in ders]
            check_ca_profile(path, self.policy)  # pyca's CA rules, which pyhanko lacks
            if self.policy.profile == "private":
                check_unconstrained_leaf(path)  # the private profile's SAN-less leaf rule
            return path

        def candidates() -> list[x509.Certificate]:
            return [*presented, *snapshot.extra_intermediates, *snapshot.anchors]

        return run_in_window(build, leaf, candidates, at, self.policy.clock_skew)

    def close(self) -> None:
        """Stop the private event loop thread (it restarts if used again)."""
        self._runner.close()


def _subtree_count(cert: x509.Certificate) -> int:
    try:
        nc = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return 0
    except Exception:  # unreadable extensions: the engine refuses the certificate itself
        return 0
    return len(nc.permitted_subtrees or ()) + len(nc.excluded_subtrees or ())


def _name_count(cert: x509.Certificate) -> int:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:  # absent or unreadable: the subject alone
        return 1
    return 1 + len(san)


def check_name_constraint_work(
    leaf: x509.Certificate, presented: Sequence[x509.Certificate], configured: int
) -> None:
    """Refuse a request whose name-constraint checks could exceed pyca's budget: every
    name of every presented certificate against every subtree of every candidate CA (an
    upper bound; pyhanko compares in pure Python and has no budget of its own)."""
    subtrees = configured + sum(_subtree_count(cert) for cert in presented)
    if not subtrees:
        return
    names = sum(_name_count(cert) for cert in (leaf, *presented))
    if names * subtrees > NAME_CONSTRAINT_BUDGET:
        raise VerificationError(
            Reason.NAME_CONSTRAINTS,
            f"certvalidator: {names} names against {subtrees} name-constraint subtrees "
            f"exceeds the budget of {NAME_CONSTRAINT_BUDGET} checks",
        )


class _Prepared:
    """Per trust-store generation: anchors and extra intermediates in pyhanko's types."""

    def __init__(self, snapshot: TrustSnapshot) -> None:
        from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]  # no stubs
        from pyhanko_certvalidator.authority import CertTrustAnchor, derive_quals_from_cert
        from pyhanko_certvalidator.name_trees import (
            default_excluded_subtrees,
            default_permitted_subtrees,
        )
        from pyhanko_certvalidator.policy_decl import PKIXValidationParams

        self.by_der: dict[bytes, x509.Certificate] = {}
        anchors = []
        for cert in snapshot.anchors:
            der = _der(cert)
            self.by_der[der] = cert
            parsed = asn1_x509.Certificate.load(der)
            quals = derive_quals_from_cert(parsed)
            params = quals.standard_parameters
            if params is not None:
                # Keep the anchor's name constraints, drop its policy requirements. Name
                # types the anchor does not constrain stay unconstrained: pyhanko reads a
                # type missing from the derived subtrees as "nothing permitted" (which
                # refused every leaf's subject DN under a DNS-constrained anchor).
                permitted = default_permitted_subtrees()
                permitted.update(params.initial_permitted_subtrees or {})
                excluded = default_excluded_subtrees()
                excluded.update(params.initial_excluded_subtrees or {})
                quals = dataclasses.replace(
                    quals,
                    standard_parameters=PKIXValidationParams(
                        initial_permitted_subtrees=permitted,
                        initial_excluded_subtrees=excluded,
                    ),
                )
            anchors.append(CertTrustAnchor(parsed, quals=quals))
        self.trust_manager = _budgeted_trust_manager(anchors)
        self.extra = []
        for cert in snapshot.extra_intermediates:
            der = _der(cert)
            self.by_der.setdefault(der, cert)
            self.extra.append(asn1_x509.Certificate.load(der))
        configured = (*snapshot.anchors, *snapshot.extra_intermediates)
        self.subtrees = sum(_subtree_count(cert) for cert in configured)


@functools.cache
def _budgeted_classes() -> tuple[Any, Any]:
    """pyhanko's trust manager and default algorithm policy, each spending from the
    deadline: path building consults the first at every step, validation the second at
    every signature check of every candidate path."""
    from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy
    from pyhanko_certvalidator.registry import SimpleTrustManager

    class BudgetedTrustManager(SimpleTrustManager):
        def is_root(self, cert: Any) -> bool:
            _spend()
            return bool(super().is_root(cert))

        def find_potential_issuers(self, cert: Any) -> Any:
            _spend()
            return super().find_potential_issuers(cert)

    class BudgetedAlgorithms(DisallowWeakAlgorithmsPolicy):
        def signature_algorithm_allowed(self, *args: Any, **kwargs: Any) -> Any:
            _spend()
            return super().signature_algorithm_allowed(*args, **kwargs)

    return BudgetedTrustManager, BudgetedAlgorithms


def _budgeted_trust_manager(anchors: list[Any]) -> Any:
    manager = _budgeted_classes()[0]()
    for anchor in anchors:
        manager._register_root(anchor)  # what SimpleTrustManager.build does
    return manager


async def _validate(
    prepared: _Prepared,
    presented_der: list[bytes],
    at: datetime,
    policy: ValidationPolicy,
    waited_until: float,
) -> list[bytes]:
    """Runs on the private loop: build and validate, return the path's DER, leaf first."""
    _DEADLINE.set(min(time.monotonic() + WORK_BUDGET, waited_until))  # this task's context
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import (
        ExpiredError,
        InsufficientRevinfoError,
        InvalidCertificateError,
        NotYetValidError,
        PathBuildingError,
        PathValidationError,
        RevokedError,
        ValidationError,
    )

    try:
        leaf, *others = (asn1_x509.Certificate.load(der) for der in presented_der)
        context = ValidationContext(
            trust_manager=prepared.trust_manager,
            other_certs=[*others, *prepared.extra],
            moment=at,
            time_tolerance=timedelta(0),
            allow_fetching=False,
            revocation_mode="soft-fail",  # revocation is originverify.revocation's job
            algorithm_usage_policy=_budgeted_classes()[1](),
        )
        validator = CertificateValidator(leaf, validation_context=context)
        path = await validator.async_validate_path()
    except _OutOfBudget:
        raise VerificationError(
            Reason.INVALID_CERTIFICATE,
            f"certvalidator: validation stopped after its {WORK_BUDGET:g} s work budget",
        ) from None
    except RevokedError as exc:
        raise VerificationError(Reason.REVOKED, f"certvalidator: {exc}") from None
    except InsufficientRevinfoError as exc:
        raise VerificationError(Reason.REVOCATION_UNKNOWN, f"certvalidator: {exc}") from None
    except ExpiredError as exc:
        raise VerificationError(Reason.EXPIRED, f"certvalidator: {exc}") from None
    except NotYetValidError as exc:
        raise VerificationError(Reason.NOT_YET_VALID, f"certvalidator: {exc}") from None
    except PathBuildingError as exc:
        raise VerificationError(Reason.UNTRUSTED_CHAIN, f"certvalidator: {exc}") from None
    except (PathValidationError, InvalidCertificateError, ValidationError) as exc:
        message = str(exc)
        raise VerificationError(
            certvalidator_reason(message), f"certvalidator: {message}"
        ) from None
    except ValueError as exc:  # asn1crypto parse errors on exotic encodings
        raise VerificationError(Reason.INVALID_CERTIFICATE, f"certvalidator: {exc}") from None
    except Exception as exc:  # pyhanko bugs on hostile input (an AssertionError when a
        # signature's algorithm does not fit the issuer's key type): fail closed, never raise
        raise VerificationError(
            Reason.UNTRUSTED_CHAIN, f"certvalidator failed: {type(exc).__name__}: {exc}"
        ) from None
    ders: list[bytes] = [cert.dump() for cert in path.iter_certs(include_root=True)]
    ders.reverse()
    if len(ders) - 2 > policy.max_chain_depth:
        raise VerificationError(
            Reason.CHAIN_TOO_DEEP,
            f"certvalidator: {len(ders) - 2} intermediates, at most {policy.max_chain_depth}",
        )
    _check_leaf_usage(leaf, policy)
    return ders


# pyhanko's messages are not a stable API either; keep every mapping here and under test.
_MESSAGE_REASONS: tuple[tuple[str, Reason], ...] = (
    ("not valid for the purpose", Reason.BAD_USAGE),
    ("not allowed to sign certificates", Reason.BAD_USAGE),
    ("permitted namespace", Reason.NAME_CONSTRAINTS),
    ("excluded from the namespace", Reason.NAME_CONSTRAINTS),
    ("maximum path length", Reason.INVALID_CERTIFICATE),
    ("self-signed", Reason.UNTRUSTED_CHAIN),
    ("is not a ca", Reason.UNTRUSTED_CHAIN),
    ("signature", Reason.UNTRUSTED_CHAIN),
    ("issuer name", Reason.UNTRUSTED_CHAIN),
)


def certvalidator_reason(message: str) -> Reason:
    """Our reason code for a pyhanko-certvalidator message (same codes as ``engine_reason``)."""
    return reason_from(_MESSAGE_REASONS, message)


_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string


def _check_leaf_usage(leaf: Any, policy: ValidationPolicy) -> None:
    """The policy's EKU (clientAuth) through pyhanko's ``validate_usage``, with the default
    engine's rules: an EKU must allow the purpose (anyExtendedKeyUsage counts); it may be
    absent unless ``require_eku``. pyhanko checks EKU on the leaf only."""
    from pyhanko_certvalidator.errors import InvalidCertificateError
    from pyhanko_certvalidator.validate import validate_usage

    eku = leaf.extended_key_usage_value
    if eku is not None and _ANY_EKU in {purpose.dotted for purpose in eku}:
        return
    from asn1crypto import x509 as asn1_x509

    purpose = asn1_x509.KeyPurposeId.map(policy.extended_key_usage.dotted_string)
    try:
        validate_usage(leaf, set(), {purpose}, not policy.require_eku)
    except InvalidCertificateError as exc:
        raise VerificationError(Reason.BAD_USAGE, f"certvalidator: {exc}") from None
