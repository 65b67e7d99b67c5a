"""Faults: a CRL/OCSP server that hangs, drips, resets, sends garbage, a stale or a huge
CRL. Every fetch has a total deadline, sources refresh independently, nothing waits on a
fetch at shutdown or exit, and soft mode never caches an accept made without data."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from originverify import Reason, ResultCache, VerificationError
from originverify.devpki import cert_pem
from originverify.revocation import Revocation, RevocationStatus, http_fetch
from tests.conftest import passthrough_headers
from tests.revocation.conftest import RevPKI, verifier
from tests.revocation.faultserver import FaultServer
from tests.revocation.pkitools import DAY, NOW, der, idp, issue, make_crl, make_ocsp


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    server = FaultServer().start()
    yield server
    server.stop()


def refused(v: object, headers: list[tuple[str, str]]) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)  # type: ignore[attr-defined]
    return info.value


def wait_for(condition: object, what: str, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


# -- the fetch itself ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["hang", "drip", "drip_headers"])
def test_every_fetch_has_a_total_deadline(faults: FaultServer, fault: str) -> None:
    """A per-read socket timeout never trips on a server dripping a byte every 0.2 s; the
    total deadline does."""
    url = faults.route("/x.crl", fault, b"y" * 1000, interval=0.2)  # type: ignore[arg-type]
    start = time.monotonic()
    with pytest.raises(OSError, match="no complete answer within 1s"):
        http_fetch(url, None, None, 1.0, 1 << 20)
    assert time.monotonic() - start < 5.0  # ~1 s; the drip alone would take 200 s


@pytest.mark.parametrize(
    ("fault", "message"),
    [("reset", "reset|closed|Remote end"), ("huge", "larger than 65536 bytes")],
)
def test_reset_and_huge_are_fetch_errors(faults: FaultServer, fault: str, message: str) -> None:
    url = faults.route("/x.crl", fault)  # type: ignore[arg-type]
    with pytest.raises(OSError, match=message):
        http_fetch(url, None, None, 5.0, 65536)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("reset", "reset|closed|Remote end"),
        ("garbage", "not a PEM or DER CRL"),
        ("huge", "larger than"),
        ("drip", "no complete answer within"),
    ],
)
@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_faulty_crl_server_is_unknown_never_good(
    rev: RevPKI, faults: FaultServer, fault: str, message: str, mode: str
) -> None:
    url = faults.route("/i.crl", fault, interval=0.2)  # type: ignore[arg-type]
    revocation = Revocation(
        crl_urls=[url],
        mode=mode,  # type: ignore[arg-type]
        fetch_timeout=0.5,
        max_crl_bytes=1 << 20,
    )
    [row] = revocation.describe()
    assert row["crls"] == [] and row["last_error"] is not None
    assert re.search(message, row["last_error"]), row["last_error"]
    v = verifier(rev, revocation, cache=ResultCache(16))
    if mode == "hard":
        assert refused(v, passthrough_headers(rev.leaf)).reason is Reason.REVOCATION_UNKNOWN
    else:
        assert v.verify_request(passthrough_headers(rev.leaf)) is not None
        assert len(v.cache) == 0  # type: ignore[arg-type]  # accepted without data: not cached


def test_stale_crl_from_the_server(rev: RevPKI, faults: FaultServer) -> None:
    stale = make_crl(rev.intermediate, [], this_update=NOW - 3 * DAY, next_update=NOW - DAY)
    url = faults.route("/i.crl", "ok", der(stale))
    err = refused(verifier(rev, Revocation(crl_urls=[url])), passthrough_headers(rev.leaf))
    assert err.reason is Reason.REVOCATION_UNKNOWN and "expired at" in err.detail
    soft = verifier(rev, Revocation(crl_urls=[url], mode="soft"), cache=ResultCache(16))
    assert soft.verify_request(passthrough_headers(rev.leaf)) is not None
    assert len(soft.cache) == 0  # type: ignore[arg-type]


# -- sources are independent --------------------------------------------------------------


def test_a_dripping_source_does_not_delay_another(rev: RevPKI, faults: FaultServer) -> None:
    other_ca = rev.root.intermediate("other ca")
    slow = faults.route("/other.crl", "ok", der(make_crl(other_ca, [])))
    fast = faults.route("/i.crl", "ok", der(make_crl(rev.intermediate, [], number=1)))
    revocation = Revocation(
        crl_urls=[slow, fast], fetch_timeout=30, refresh_interval=0.2, min_refresh_interval=0.1
    )
    v = verifier(rev, revocation, cache=ResultCache(16))
    headers = passthrough_headers(rev.leaf)
    assert v.verify_request(headers) is not None
    faults.route("/other.crl", "drip", der(make_crl(other_ca, [], number=2)), interval=1.0)
    with revocation:
        wait_for(lambda: faults.active["/other.crl"] > 0, "the slow fetch did not start")
        faults.route(
            "/i.crl", "ok", der(make_crl(rev.intermediate, [rev.leaf.cert.serial_number], number=2))
        )
        wait_for(lambda: revocation.describe()[1]["crls"][0]["number"] == 2, "fast source stuck")
        assert faults.active["/other.crl"] > 0  # the slow fetch is still dripping meanwhile
        assert refused(v, headers).reason is Reason.REVOKED


# -- shutdown and exit --------------------------------------------------------------------


def test_close_returns_promptly_during_a_hung_fetch(rev: RevPKI, faults: FaultServer) -> None:
    url = faults.route("/i.crl", "ok", der(make_crl(rev.intermediate, [])))
    revocation = Revocation(
        crl_urls=[url], fetch_timeout=60, refresh_interval=0.2, min_refresh_interval=0.1
    )
    faults.route("/i.crl", "hang")
    revocation.start()
    wait_for(lambda: faults.active["/i.crl"] > 0, "the refresher did not fetch")
    start = time.monotonic()
    revocation.close()
    assert time.monotonic() - start < 1.0  # the hung fetch (60 s deadline) is left behind
    assert not revocation.running


def test_close_wakes_a_request_waiting_on_ocsp(rev: RevPKI, faults: FaultServer) -> None:
    leaf = issue(rev.intermediate, "hung", ocsp_url=faults.route("/ocsp", "hang"))
    revocation = Revocation(ocsp=True, mode="soft", ocsp_timeout=30, fetch_timeout=60).start()
    assert revocation.may_block
    v = verifier(rev, revocation)
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(v.explain(passthrough_headers(leaf))))
    waiter.start()
    wait_for(lambda: faults.active["/ocsp"] > 0, "no OCSP fetch")
    start = time.monotonic()
    revocation.close()
    waiter.join(5)
    assert not waiter.is_alive() and time.monotonic() - start < 2.0
    step = next(s for s in result[0].steps if s.name == "revocation")  # type: ignore[attr-defined]
    assert "unknown, accepted (soft-fail" in step.detail


SCRIPT = """
import datetime as dt, sys
from cryptography import x509
from originverify.revocation import Revocation
leaf, issuer = (x509.load_pem_x509_certificate(open(p, "rb").read()) for p in sys.argv[1:3])
r = Revocation(distribution_points=True, ocsp=True, mode="soft", fetch_timeout=300,
               ocsp_timeout=0.5).start()
r._learn(frozenset({sys.argv[3]}))  # a CRL distribution point that hangs
print(r.check([leaf, issuer], dt.datetime.now(dt.UTC)).cache_for, flush=True)
if sys.argv[4] == "close":
    r.close()
"""


@pytest.mark.parametrize("close", ["close", "no-close"])
def test_hung_fetches_never_delay_process_exit(
    rev: RevPKI, faults: FaultServer, tmp_path: Path, close: str
) -> None:
    leaf = issue(rev.intermediate, "exiting", ocsp_url=faults.route("/ocsp", "hang"))
    files = [tmp_path / "leaf.pem", tmp_path / "issuer.pem"]
    files[0].write_bytes(cert_pem(leaf.cert))
    files[1].write_bytes(cert_pem(rev.intermediate.cert))
    start = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(SCRIPT),
            *map(str, files),
            faults.route("/hang.crl", "hang"),
            close,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0.0"  # soft accept without data: not cacheable
    assert faults.hits["/ocsp"] == 1 and faults.hits["/hang.crl"] == 1  # both were hanging
    assert time.monotonic() - start < 30  # not the 300 s fetch deadline


# -- soft mode and the result cache -------------------------------------------------------


def test_soft_accept_without_data_is_not_cached(rev: RevPKI, faults: FaultServer) -> None:
    """The review's 10,232 requests: an accept made while the responder was down stayed
    cached after it came back saying "revoked"."""
    leaf = issue(rev.intermediate, "soft", ocsp_url=faults.route("/ocsp", "reset"))
    revocation = Revocation(ocsp=True, mode="soft", ocsp_backoff=0.2)
    cache = ResultCache(16, max_age=300)
    v = verifier(rev, revocation, cache=cache)
    headers = passthrough_headers(leaf)
    assert v.verify_request(headers) is not None  # responder down: soft accept...
    assert len(cache) == 0  # ...never cached
    faults.route(
        "/ocsp",
        "ok",
        lambda _body: der(make_ocsp(leaf.cert, rev.intermediate, ocsp.OCSPCertStatus.REVOKED)),
    )
    time.sleep(0.25)  # the responder's backoff
    assert refused(v, headers).reason is Reason.REVOKED


def test_status_cache_for(rev: RevPKI) -> None:
    good = Revocation(crls=der(make_crl(rev.intermediate, [])))
    path = [rev.leaf.cert, rev.intermediate.cert, rev.root.cert]
    status = good.check(path, NOW)
    assert isinstance(status, RevocationStatus) and status.cache_for is None
    assert str(status) == status.detail and status.detail.startswith("leaf: good")
    soft = Revocation(mode="soft").check(path, NOW)
    assert soft.cache_for == 0 and "soft-fail" in str(soft)
    assert not good.may_block and Revocation(ocsp=True).may_block


def test_soft_recheck_of_a_cached_entry_without_data_drops_it(
    rev: RevPKI, faults: FaultServer
) -> None:
    """A cached good verdict re-checked after the data changed, now without usable data:
    let through (soft) but no longer cached."""
    url = faults.route("/i.crl", "ok", der(make_crl(rev.intermediate, [], number=1)))
    revocation = Revocation(crl_urls=[url], mode="soft")
    cache = ResultCache(16)
    v = verifier(rev, revocation, cache=cache)
    headers = passthrough_headers(rev.leaf)
    assert v.verify_request(headers) is not None and len(cache) == 1
    partition = make_crl(
        rev.intermediate,
        [],
        number=2,
        extensions=[idp([x509.UniformResourceIdentifier("http://elsewhere.example/p.crl")])],
    )
    faults.route("/i.crl", "ok", der(partition))  # the leaf's DP is not this partition
    assert revocation.refresh()
    assert v.verify_request(headers) is not None  # cache hit, re-checked: unknown, soft
    assert len(cache) == 0
