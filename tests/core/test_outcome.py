"""``Verifier.check`` → ``Outcome``: never raises for a refusal, decides enforcement once,
keeps the exception boundary, and the configuration refuses what it cannot honour."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography import x509

from originverify import (
    ConfigurationError,
    EdgeSecret,
    Limits,
    Mode,
    Outcome,
    Reason,
    RequestContext,
    ResultCache,
    Rules,
    ValidationPolicy,
    VerificationError,
    Verifier,
    build_verifier,
    formats,
    from_pairs,
)
from originverify.trust import TrustSnapshot
from originverify.verifier import STAGES
from tests.conftest import EDGE_SECRET, PKI, passthrough_headers

SOURCE = EdgeSecret("X-Origin-Verify", [EDGE_SECRET])


def make(pki: PKI, **options: Any) -> Verifier:
    return Verifier(trust=pki.root_pem, source=SOURCE, **options)


def request(headers: list[tuple[str, str]], peer: str = "192.0.2.1") -> RequestContext:
    return RequestContext(from_pairs(headers), peer, method="GET", target="/x?secret=1")


# -- the outcome and the mode ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "enforced"), [("required", True), ("optional", True), ("report_only", False)]
)
def test_a_refusal_is_an_outcome_never_an_exception(pki: PKI, mode: str, enforced: bool) -> None:
    other = pki.root.intermediate("x").issue("eve")  # right root, wrong chain sent
    outcome = make(pki, mode=mode).check(request(passthrough_headers(other, chain=[])))
    assert outcome.error is not None and outcome.error.reason is Reason.UNTRUSTED_CHAIN
    assert outcome.enforced is enforced and outcome.refused is enforced
    assert outcome.identity is None and outcome.via == "refused"
    assert outcome.leaf_sha256 == hashlib.sha256(other.der).hexdigest()


@pytest.mark.parametrize(
    ("mode", "error"),
    [("required", Reason.MISSING_CERTIFICATE), ("optional", None), ("report_only", None)],
)
def test_missing_certificate_per_mode(pki: PKI, mode: str, error: Reason | None) -> None:
    outcome = make(pki, mode=mode).check(request(passthrough_headers(None)))
    if mode == "report_only":
        # Judged as required, never enforced: the rollout sees who has no certificate.
        assert outcome.error is not None
        assert outcome.error.reason is Reason.MISSING_CERTIFICATE and not outcome.refused
        return
    assert (outcome.error.reason if outcome.error else None) is error


def test_required_and_view_rules_override_per_call(pki: PKI) -> None:
    verifier = make(pki, mode="optional")
    anonymous = request(passthrough_headers(None))
    assert verifier.check(anonymous).anonymous
    forced = verifier.check(anonymous, required=True)
    assert forced.refused and forced.error is not None
    assert forced.error.reason is Reason.MISSING_CERTIFICATE
    denied = verifier.check(
        request(passthrough_headers(pki.leaf)), rules=Rules(common_names=("nobody",))
    )
    assert denied.refused and denied.error is not None
    assert denied.error.reason is Reason.RULE_DENIED


def test_require_gates_an_already_verified_identity(pki: PKI) -> None:
    verifier = make(pki, mode="report_only")
    identity = make(pki).verify_request(passthrough_headers(pki.leaf))
    gate = verifier.require(identity, request([]), rules=Rules(common_names=("nobody",)))
    assert gate.error is not None and gate.error.reason is Reason.RULE_DENIED
    assert not gate.refused  # report-only
    assert verifier.stats["would_reject:rule_denied"] == 1
    assert verifier.require(None, request([])).error is not None


def test_verify_request_and_explain_are_wrappers(pki: PKI) -> None:
    verifier = make(pki)
    assert verifier.verify_request(passthrough_headers(pki.leaf)) is not None
    with pytest.raises(VerificationError):
        verifier.verify_request(passthrough_headers(None))
    report = verifier.explain(passthrough_headers(None))
    assert not report.accepted and report.steps[-1].name == "verdict"
    assert verifier.stats == {"verified": 1, "rejected:missing_certificate": 2}


def test_trace_is_recorded_only_when_asked(pki: PKI) -> None:
    verifier = make(pki, cache=0)
    assert verifier.check(request(passthrough_headers(pki.leaf))).report is None
    report = verifier.check(request(passthrough_headers(pki.leaf)), trace=True).report
    assert report is not None
    names = [step.name for step in report.steps]
    assert names == ["source proof", "decode", "key and validity", "chain"]
    assert len(report.path) == 3 and len(report.presented) == 2


def test_stage_list_is_the_documented_path() -> None:
    assert STAGES == (
        "admit",
        "guard_names",
        "cached",
        "decode",
        "parse",
        "cross_check",
        "key_and_validity",
        "chain",
        "revocation",
        "identity",
        "rules",
        "remember",
    )


def test_observers_see_every_outcome_and_cannot_break_a_request(
    pki: PKI, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Outcome] = []

    def broken(outcome: Outcome) -> None:
        raise RuntimeError("metrics backend down")

    verifier = make(pki, observers=[seen.append, broken])
    verifier.check(request(passthrough_headers(pki.leaf)))
    verifier.check(request(passthrough_headers(pki.leaf)))
    verifier.check(request(passthrough_headers(None)))
    assert [o.via for o in seen] == ["chain", "cache", "refused"]
    assert all(o.elapsed > 0 for o in seen)
    assert "observer" in caplog.text


# -- the exception boundary --------------------------------------------------------------


class _Exploding(formats.CertificateFormat):
    """A format whose decoder hits a bug on hostile input."""

    name = "exploding"

    @property
    def header_names(self) -> tuple[str, ...]:
        return ("client-cert",)

    def decode(self, headers: Any, limits: Limits) -> Any:
        raise IndexError("tuple index out of range")


class _ExplodingEngine:
    name = "exploding"

    def validate(
        self,
        leaf: x509.Certificate,
        presented: Sequence[x509.Certificate],
        at: datetime,
        snapshot: TrustSnapshot,
    ) -> list[x509.Certificate]:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


class _ExplodingRevocation:
    generation = 0

    def check(self, path: Sequence[x509.Certificate], at: datetime) -> str:
        raise OSError("responder unreachable")


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"format": _Exploding()}, Reason.MALFORMED_CERTIFICATE),
        ({"engine": _ExplodingEngine()}, Reason.MALFORMED_CERTIFICATE),
        ({"revocation": _ExplodingRevocation()}, Reason.REVOCATION_UNKNOWN),
        ({"rules": Rules(predicate=lambda i: 1 / 0 > 0)}, Reason.RULE_DENIED),
    ],
    ids=["decode", "chain", "revocation", "rules"],
)
def test_unexpected_exceptions_become_stable_reasons(
    pki: PKI, options: dict[str, Any], reason: Reason, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="originverify"):
        outcome = make(pki, **options).check(request(passthrough_headers(pki.leaf)))
    assert outcome.refused and outcome.error is not None
    assert outcome.error.reason is reason
    assert "unexpected" in caplog.text and "Traceback" in caplog.text


# -- one configuration, every mistake a ConfigurationError -------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"policy": ValidationPolicy(), "profile": "webpki"},
        {"policy": ValidationPolicy(), "max_chain_depth": 3},
        {"policy": ValidationPolicy(), "require_eku": True},
        {"cache": -5},
        {"cache": "many"},
        {"cache_max_age": 0},
        {"limits": {"max_chain_certs": 0}},
        {"limits": {"max_leaf_bytes": "big"}},
        {"limits": {"nonsense": 1}},
        {"mode": "strict"},
        {"format": "no-such-edge"},
        {"require_eku": "yes"},
        {"max_chain_depth": 2.5},
        {"clock_skew": -1},
        {"rules": {"colours": ["red"]}},
        {"unknown_option": 1},
    ],
)
def test_configuration_mistakes_raise_configuration_error(
    pki: PKI, options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError):
        make(pki, **options)


def test_limits_and_cache_constructors_raise_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        Limits(max_chain_certs=0)
    with pytest.raises(ConfigurationError):
        ResultCache(-5)
    with pytest.raises(ConfigurationError):
        ResultCache(10, max_age=0)


def test_policy_alone_is_honoured(pki: PKI) -> None:
    verifier = make(pki, policy=ValidationPolicy(max_chain_depth=0))
    outcome = verifier.check(request(passthrough_headers(pki.leaf)))
    assert outcome.error is not None and outcome.error.reason is Reason.CHAIN_TOO_DEEP


def test_settings_and_keywords_share_defaults(pki: PKI) -> None:
    built = build_verifier({"anchors": pki.root_pem, "edge_secrets": [EDGE_SECRET]})
    direct = make(pki)
    assert built.policy == direct.policy
    assert built.mode is direct.mode is Mode.REQUIRED
    assert built.limits == direct.limits
    assert built.cache is not None and direct.cache is not None
    assert (built.cache.maxsize, built.cache.max_age) == (
        direct.cache.maxsize,
        direct.cache.max_age,
    )
    with pytest.raises(ConfigurationError):
        build_verifier({"anchors": pki.root_pem, "edge_secrets": [EDGE_SECRET], "cache_size": -5})
    flagged = build_verifier(
        {"anchors": pki.root_pem, "edge_secrets": [EDGE_SECRET], "require_eku": "false"}
    )
    assert flagged.policy.require_eku is False


def test_a_cache_serves_exactly_one_verifier(pki: PKI) -> None:
    cache = ResultCache(16)
    first = make(pki, cache=cache)
    with pytest.raises(ConfigurationError, match="another Verifier"):
        make(pki, cache=cache, rules={"common_names": ["nobody"]})
    assert first.cache is cache


# -- async: hits on the loop, misses in a thread -------------------------------------------


class _ThreadSpy:
    """Wraps the real engine and records which thread validated."""

    def __init__(self, verifier: Verifier) -> None:
        assert verifier.engine is not None
        self.inner = verifier.engine
        self.name = "spy"
        self.threads: list[int] = []

    def validate(self, *args: Any) -> list[x509.Certificate]:
        self.threads.append(threading.get_ident())
        return self.inner.validate(*args)


def test_acheck_runs_a_miss_in_a_thread_and_a_hit_inline(pki: PKI) -> None:
    verifier = make(pki)
    spy = _ThreadSpy(verifier)
    verifier.engine = spy

    async def twice() -> tuple[int, Outcome, Outcome]:
        first = await verifier.acheck(request(passthrough_headers(pki.leaf)))
        second = await verifier.acheck(request(passthrough_headers(pki.leaf)))
        return threading.get_ident(), first, second

    loop_thread, first, second = asyncio.run(twice())
    assert first.via == "chain" and second.via == "cache"
    assert spy.threads and spy.threads[0] != loop_thread
    assert len(spy.threads) == 1  # the hit never reached the engine


def test_validation_time_is_respected_in_config(pki: PKI) -> None:
    later = datetime.now().astimezone() + timedelta(days=3650)
    outcome = make(pki, validation_time=later).check(request(passthrough_headers(pki.leaf)))
    assert outcome.error is not None and outcome.error.reason is Reason.EXPIRED
