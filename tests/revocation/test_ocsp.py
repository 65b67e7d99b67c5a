"""OCSP end to end: real responses signed by the test CA (or a delegated responder), served
by a real local HTTP responder that can also be slow or down."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from cryptography.x509 import ocsp

from originverify import Reason, ResultCache, VerificationError
from originverify.devpki import CertificateAuthority
from originverify.revocation import Revocation
from originverify.revocation.certinfo import key_hash
from tests.conftest import passthrough_headers
from tests.revocation.conftest import RevPKI, verifier
from tests.revocation.pkitools import (
    DAY,
    HOUR,
    NOW,
    dead_url,
    der,
    issue,
    make_crl,
    make_ocsp,
    ocsp_responder_cert,
    ocsp_serial,
)

GOOD, REVOKED, UNKNOWN = (
    ocsp.OCSPCertStatus.GOOD,
    ocsp.OCSPCertStatus.REVOKED,
    ocsp.OCSPCertStatus.UNKNOWN,
)


def refused(v: object, headers: list[tuple[str, str]]) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)  # type: ignore[attr-defined]
    return info.value


def revocation_step(v: object, headers: list[tuple[str, str]]) -> str:
    report = v.explain(headers)  # type: ignore[attr-defined]
    assert report.accepted, report.error
    return str(next(s for s in report.steps if s.name == "revocation").detail)


def responder(rev: RevPKI, **statuses: ocsp.OCSPCertStatus) -> None:
    """Answer OCSP for the fixture's leaves: ``alice=GOOD, bob=REVOKED``."""
    certs = {"alice": rev.leaf.cert, "bob": rev.other_leaf.cert}
    by_serial = {
        certs[name].serial_number: (certs[name], status) for name, status in statuses.items()
    }

    def answer(body: bytes) -> bytes:
        cert, status = by_serial[ocsp_serial(body)]
        return der(make_ocsp(cert, rev.intermediate, status))

    rev.server.serve("/ocsp", answer, content_type="application/ocsp-response")


def test_good_and_revoked(rev: RevPKI) -> None:
    responder(rev, alice=GOOD, bob=REVOKED)
    v = verifier(rev, Revocation(ocsp=True, mode="hard"))
    detail = revocation_step(v, passthrough_headers(rev.leaf))
    assert detail.startswith("leaf: good (OCSP: good from http://127.0.0.1")
    assert "signed by the issuer" in detail
    err = refused(v, passthrough_headers(rev.other_leaf))
    assert err.reason is Reason.REVOKED and "OCSP" in err.detail


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_unknown_status(rev: RevPKI, mode: str) -> None:
    responder(rev, alice=UNKNOWN)
    v = verifier(rev, Revocation(ocsp=True, mode=mode))  # type: ignore[arg-type]
    if mode == "hard":
        err = refused(v, passthrough_headers(rev.leaf))
        assert err.reason is Reason.REVOCATION_UNKNOWN
        assert "OCSP: unknown from" in err.detail
    else:
        assert "soft-fail" in revocation_step(v, passthrough_headers(rev.leaf))


def test_responses_are_cached_until_next_update(rev: RevPKI) -> None:
    responder(rev, alice=GOOD, bob=REVOKED)
    v = verifier(rev, Revocation(ocsp=True))
    for _ in range(3):
        assert v.verify_request(passthrough_headers(rev.leaf)) is not None
        assert refused(v, passthrough_headers(rev.other_leaf)).reason is Reason.REVOKED
    assert rev.server.hits["/ocsp"] == 2  # one per certificate
    assert "cached" in revocation_step(v, passthrough_headers(rev.leaf))


def test_expired_cached_response_is_fetched_again(rev: RevPKI) -> None:
    served: list[int] = []

    def answer(body: bytes) -> bytes:
        served.append(1)
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
        return der(make_ocsp(rev.leaf.cert, rev.intermediate, GOOD, next_update=soon))

    rev.server.serve("/ocsp", answer)
    revocation = Revocation(ocsp=True, clock_skew=0)
    v = verifier(rev, revocation, cache=ResultCache(8))
    headers = passthrough_headers(rev.leaf)
    assert v.verify_request(headers) is not None
    generation = revocation.generation
    time.sleep(1.6)
    assert revocation.generation > generation  # the OCSP answer expired: cache entries re-check
    assert v.verify_request(headers) is not None
    assert len(served) == 2


def test_delegated_responder_needs_the_ocsp_signing_eku(rev: RevPKI) -> None:
    delegate = ocsp_responder_cert(rev.intermediate)
    rev.server.serve(
        "/ocsp",
        lambda body: der(make_ocsp(rev.leaf.cert, rev.intermediate, GOOD, responder=delegate)),
    )
    detail = revocation_step(verifier(rev, Revocation(ocsp=True)), passthrough_headers(rev.leaf))
    assert "signed by the delegated responder" in detail

    from originverify.devpki import CLIENT_AUTH

    impostor = ocsp_responder_cert(rev.intermediate, eku=(CLIENT_AUTH,))
    rev.server.serve(
        "/ocsp",
        lambda body: der(make_ocsp(rev.leaf.cert, rev.intermediate, GOOD, responder=impostor)),
    )
    err = refused(verifier(rev, Revocation(ocsp=True)), passthrough_headers(rev.leaf))
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "lacks the OCSP-signing EKU" in err.detail


def test_delegated_responder_from_another_ca_is_refused(rev: RevPKI) -> None:
    stranger = CertificateAuthority.root_ca("stranger")
    delegate = ocsp_responder_cert(stranger)
    rev.server.serve(
        "/ocsp",
        lambda body: der(make_ocsp(rev.leaf.cert, rev.intermediate, REVOKED, responder=delegate)),
    )
    err = refused(verifier(rev, Revocation(ocsp=True)), passthrough_headers(rev.leaf))
    assert err.reason is Reason.REVOCATION_UNKNOWN  # a forged "revoked" is not believed either
    assert "not issued by the issuer" in err.detail


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong_key", "bad response signature"),
        ("other_serial", "does not cover this certificate"),
        ("stale", "stale response"),
        ("future", "response not valid before"),
        ("not_ocsp", "malformed response"),
        ("try_later", "responder says TRY_LATER"),
    ],
)
def test_unusable_responses_are_unknown(rev: RevPKI, case: str, message: str) -> None:
    forger = CertificateAuthority.root_ca("revocation intermediate")

    def answer(body: bytes) -> bytes:
        leaf, inter = rev.leaf.cert, rev.intermediate
        if case == "wrong_key":
            return der(make_ocsp(leaf, inter, GOOD, forged_by=forger))
        if case == "other_serial":
            return der(make_ocsp(leaf, inter, GOOD, serial_for=rev.other_leaf.cert))
        if case == "stale":
            return der(
                make_ocsp(leaf, inter, GOOD, this_update=NOW - 3 * DAY, next_update=NOW - DAY)
            )
        if case == "future":
            return der(
                make_ocsp(leaf, inter, GOOD, this_update=NOW + DAY, next_update=NOW + 2 * DAY)
            )
        if case == "try_later":
            return der(
                ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
            )
        return b"<html>proxy error</html>"

    rev.server.serve("/ocsp", answer)
    err = refused(verifier(rev, Revocation(ocsp=True, mode="hard")), passthrough_headers(rev.leaf))
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert message in err.detail
    assert verifier(rev, Revocation(ocsp=True, mode="soft")).verify_request(
        passthrough_headers(rev.leaf)
    )


def test_responder_down_soft_and_hard(rev: RevPKI) -> None:
    leaf = issue(rev.intermediate, "carol", ocsp_url=dead_url("/ocsp"))
    soft = verifier(rev, Revocation(ocsp=True, mode="soft"))
    assert "soft-fail" in revocation_step(soft, passthrough_headers(leaf))
    err = refused(verifier(rev, Revocation(ocsp=True, mode="hard")), passthrough_headers(leaf))
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "fetch failed" in err.detail


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_slow_responder_is_bounded_by_the_timeout(rev: RevPKI, mode: str) -> None:
    responder(rev, alice=REVOKED)
    rev.server.routes["/ocsp"].delay = 1.5
    revocation = Revocation(ocsp=True, mode=mode, ocsp_timeout=0.2, ocsp_backoff=60)  # type: ignore[arg-type]
    v = verifier(rev, revocation)
    start = time.monotonic()
    if mode == "soft":
        detail = revocation_step(v, passthrough_headers(rev.leaf))
        assert "did not answer within 0.2s" in detail
    else:
        err = refused(v, passthrough_headers(rev.leaf))
        assert err.reason is Reason.REVOCATION_UNKNOWN
        assert "did not answer within 0.2s" in err.detail
    assert time.monotonic() - start < 1.0  # the request did not wait for the responder
    revocation.close()


def test_late_answer_is_kept_for_the_next_request(rev: RevPKI) -> None:
    responder(rev, alice=REVOKED)
    rev.server.routes["/ocsp"].delay = 0.4
    revocation = Revocation(ocsp=True, mode="soft", ocsp_timeout=0.1)
    v = verifier(rev, revocation)
    assert v.verify_request(passthrough_headers(rev.leaf)) is not None  # soft: timed out
    deadline = time.monotonic() + 10
    while not revocation._ocsp._cache:  # the fetch finishes in the background
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert refused(v, passthrough_headers(rev.leaf)).reason is Reason.REVOKED
    assert rev.server.hits["/ocsp"] == 1


def test_failed_responder_is_not_hammered(rev: RevPKI) -> None:
    rev.server.serve("/ocsp", b"", status=500)
    v = verifier(rev, Revocation(ocsp=True, mode="soft", ocsp_backoff=60))
    for _ in range(5):
        assert v.verify_request(passthrough_headers(rev.leaf)) is not None
    assert rev.server.hits["/ocsp"] == 1
    assert "failed or timed out recently" in revocation_step(v, passthrough_headers(rev.leaf))


def test_concurrent_requests_share_one_fetch(rev: RevPKI) -> None:
    responder(rev, alice=GOOD)
    rev.server.routes["/ocsp"].delay = 0.3
    v = verifier(rev, Revocation(ocsp=True, mode="hard"))
    results: list[object] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(v.verify_request(passthrough_headers(rev.leaf)))
        )
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and all(r is not None for r in results)
    assert rev.server.hits["/ocsp"] == 1


def test_current_crl_answers_before_ocsp(rev: RevPKI) -> None:
    responder(rev, alice=REVOKED)
    crl = make_crl(rev.intermediate, [])
    v = verifier(rev, Revocation(crls=crl, ocsp=True))
    assert v.verify_request(passthrough_headers(rev.leaf)) is not None
    assert rev.server.hits["/ocsp"] == 0  # no network when a current CRL answers
    stale = make_crl(rev.intermediate, [], this_update=NOW - 3 * DAY, next_update=NOW - HOUR)
    v = verifier(rev, Revocation(crls=stale, ocsp=True))
    assert refused(v, passthrough_headers(rev.leaf)).reason is Reason.REVOKED  # OCSP fallback
    assert rev.server.hits["/ocsp"] == 1


def test_certificate_without_responder(rev: RevPKI) -> None:
    plain = issue(rev.intermediate, "no-aia")
    err = refused(verifier(rev, Revocation(ocsp=True)), passthrough_headers(plain))
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "no OCSP responder in the certificate" in err.detail


# -- the cache: keyed by the whole CertID, bounded, refreshed ahead ------------------------


def test_cache_key_is_the_issuer_key_and_serial_not_the_name(rev: RevPKI) -> None:
    """Two CAs with the same name and different keys issue the same serial: the answer
    about one must never be served for the other."""
    twin = rev.root.intermediate(subject=rev.intermediate.cert.subject)
    url = rev.ocsp_url
    mine = issue(rev.intermediate, "mine", ocsp_url=url, serial=4242)
    theirs = issue(twin, "theirs", ocsp_url=url, serial=4242)

    def answer(body: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(body)
        if request.issuer_key_hash == key_hash(rev.intermediate.cert):
            return der(make_ocsp(mine.cert, rev.intermediate, GOOD))
        return der(make_ocsp(theirs.cert, twin, REVOKED))

    rev.server.serve("/ocsp", answer)
    v = verifier(rev, Revocation(ocsp=True))
    assert v.verify_request(passthrough_headers(mine)) is not None
    assert refused(v, passthrough_headers(theirs)).reason is Reason.REVOKED
    assert rev.server.hits["/ocsp"] == 2


def test_cache_is_bounded(rev: RevPKI) -> None:
    responder(rev, alice=GOOD, bob=GOOD)
    revocation = Revocation(ocsp=True)
    revocation._ocsp.max_entries = 1
    v = verifier(rev, revocation)
    for cert in (rev.leaf, rev.other_leaf, rev.leaf):
        assert v.verify_request(passthrough_headers(cert)) is not None
    assert len(revocation._ocsp._cache) == 1
    assert rev.server.hits["/ocsp"] == 3  # the evicted answer was fetched again


def test_answers_are_refreshed_in_the_background_before_they_expire(rev: RevPKI) -> None:
    def answer(body: bytes) -> bytes:
        # whole seconds (GeneralizedTime): valid for 3 to 4 s
        soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=4)
        return der(make_ocsp(rev.leaf.cert, rev.intermediate, GOOD, next_update=soon))

    rev.server.serve("/ocsp", answer)
    revocation = Revocation(ocsp=True, clock_skew=0)
    revocation._ocsp.refresh_fraction = 0.5
    v = verifier(rev, revocation)
    assert v.verify_request(passthrough_headers(rev.leaf)) is not None
    time.sleep(2.2)  # past half the answer's validity (<= 2 s), before its nextUpdate (>= 3 s)
    detail = revocation_step(v, passthrough_headers(rev.leaf))
    assert "cached" in detail  # served at once from the cache...
    deadline = time.monotonic() + 5
    while rev.server.hits["/ocsp"] < 2:  # ...while a background fetch renews it
        assert time.monotonic() < deadline, "no background refresh"
        time.sleep(0.02)
    assert "cached" in revocation_step(v, passthrough_headers(rev.leaf))
    assert rev.server.hits["/ocsp"] == 2


def test_ocsp_makes_check_possibly_blocking(rev: RevPKI) -> None:
    assert Revocation(ocsp=True).may_block
    assert not Revocation(crls=der(make_crl(rev.intermediate, []))).may_block


def test_mutated_responses_never_say_good(rev: RevPKI) -> None:
    import random

    from originverify.revocation import check_ocsp_response

    base = der(make_ocsp(rev.leaf.cert, rev.intermediate, GOOD))
    skew = dt.timedelta(minutes=5)
    assert check_ocsp_response(base, rev.leaf.cert, rev.intermediate.cert, NOW, skew)[0] == "good"
    rng = random.Random(6960)  # fixed seed: the same 400 mutants each run
    failures: dict[str, int] = {}
    for _ in range(400):
        data = bytearray(base)
        for index in rng.sample(range(len(data)), rng.randint(1, 3)):
            data[index] ^= rng.randrange(1, 256)
        try:
            status = check_ocsp_response(
                bytes(data), rev.leaf.cert, rev.intermediate.cert, NOW, skew
            )
        except Exception as exc:  # the client turns any exception into "no answer"
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
            continue
        assert status[0] != "good", "a changed response verified"
    assert sum(failures.values()) > 0
