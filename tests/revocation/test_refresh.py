"""CRL sources over time: directories, refresh (by hand and in the background), the result
cache, retries, learned distribution points. Real CRLs, real files, a real HTTP server."""

from __future__ import annotations

import datetime as dt
import gc
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509

from originverify import (
    Reason,
    ResultCache,
    VerificationError,
)
from originverify.revocation import Revocation
from tests.conftest import passthrough_headers
from tests.revocation.conftest import RevPKI, verifier
from tests.revocation.pkitools import (
    HOUR,
    NOW,
    RevocationServer,
    dead_url,
    der,
    issue,
    make_crl,
    pem,
)


def refused(v: object, headers: list[tuple[str, str]]) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)  # type: ignore[attr-defined]
    return info.value


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- directories, refresh, the cache ------------------------------------------------------


def test_directory_of_crls_and_file_refresh(rev: RevPKI, tmp_path: Path) -> None:
    crl_dir = tmp_path / "crls"
    crl_dir.mkdir()
    write(crl_dir, "root.crl", pem(make_crl(rev.root, [])))
    write(crl_dir, "inter.pem", pem(make_crl(rev.intermediate, [], number=1)))
    write(crl_dir, "README.txt", b"not a CRL, ignored by suffix")
    revocation = Revocation(crls=crl_dir, scope="chain")
    v = verifier(rev, revocation)
    assert v.verify_request(passthrough_headers(rev.leaf)) is not None
    generation = revocation.generation
    assert revocation.refresh() is False  # unchanged files: nothing reloaded
    assert revocation.generation == generation
    write(
        crl_dir,
        "inter.pem",
        pem(make_crl(rev.intermediate, [rev.leaf.cert.serial_number], number=2)),
    )
    assert revocation.refresh() is True
    assert revocation.generation > generation
    assert refused(v, passthrough_headers(rev.leaf)).reason is Reason.REVOKED


def test_refresh_mid_run_flips_a_cached_result(rev: RevPKI) -> None:
    url = rev.server.serve("/i.crl", der(make_crl(rev.intermediate, [], number=1)))
    revocation = Revocation(crl_urls=[url])
    v = verifier(rev, revocation, cache=ResultCache(16))
    headers = passthrough_headers(rev.leaf)
    assert v.verify_request(headers) is not None
    assert v.verify_request(headers) is not None
    assert v.cache is not None and v.cache.stats.hits == 1  # served from the cache

    rev.server.serve(
        "/i.crl", der(make_crl(rev.intermediate, [rev.leaf.cert.serial_number], number=2))
    )
    assert revocation.refresh() is True
    err = refused(v, headers)
    assert err.reason is Reason.REVOKED
    assert v.cache.stats.hits == 2  # the cache hit was re-checked, not re-validated
    assert len(v.cache) == 0  # and the stale entry is gone
    assert refused(v, headers).reason is Reason.REVOKED


def test_background_refresher_picks_up_a_new_crl(rev: RevPKI) -> None:
    url = rev.server.serve(
        "/i.crl", der(make_crl(rev.intermediate, [], number=1, next_update=NOW + 2 * HOUR))
    )
    revocation = Revocation(crl_urls=[url], refresh_interval=0.2, min_refresh_interval=0.1)
    v = verifier(rev, revocation, cache=ResultCache(16))
    headers = passthrough_headers(rev.leaf)
    assert v.verify_request(headers) is not None
    rev.server.serve(
        "/i.crl", der(make_crl(rev.intermediate, [rev.leaf.cert.serial_number], number=2))
    )
    before = revocation.generation
    with revocation:
        # Wait for the refresher itself to install the new CRL (the generation moves only
        # once it is installed, and no request here triggers a fetch).
        deadline = time.monotonic() + 10
        while revocation.generation == before:
            assert time.monotonic() < deadline, "refresher did not run"
            time.sleep(0.05)
        assert rev.server.hits["/i.crl"] >= 2
        assert refused(v, headers).reason is Reason.REVOKED
    assert not revocation.running  # closed


def test_stale_mirror_does_not_roll_back_a_revocation(rev: RevPKI) -> None:
    newer = make_crl(rev.intermediate, [rev.leaf.cert.serial_number], number=7)
    url = rev.server.serve("/i.crl", der(newer))
    revocation = Revocation(crl_urls=[url])
    v = verifier(rev, revocation)
    assert refused(v, passthrough_headers(rev.leaf)).reason is Reason.REVOKED
    rev.server.serve("/i.crl", der(make_crl(rev.intermediate, [], number=6)))  # older CRL number
    assert revocation.refresh() is False
    assert refused(v, passthrough_headers(rev.leaf)).reason is Reason.REVOKED


def test_crl_expiry_invalidates_cached_results(rev: RevPKI, tmp_path: Path) -> None:
    short = make_crl(
        rev.intermediate, [], next_update=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    )
    revocation = Revocation(crls=write(tmp_path, "i.crl", pem(short)), mode="hard")
    v = verifier(rev, revocation, cache=ResultCache(16))
    headers = passthrough_headers(rev.leaf)
    assert v.verify_request(headers) is not None
    generation = revocation.generation
    time.sleep(1.6)
    assert revocation.generation > generation  # expiry alone moves the generation
    err = refused(v, headers)  # a cache hit, re-checked against a CRL that is now stale
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "expired at" in err.detail


def test_unreachable_url_at_start_up_is_retried_with_backoff(rev: RevPKI) -> None:
    url = dead_url("/i.crl")
    revocation = Revocation(crl_urls=[url], retry_delay=0.05, retry_max_delay=0.2, max_retries=2)
    [row] = revocation.describe()
    assert row["crls"] == [] and "i.crl" in row["last_error"]
    err = refused(verifier(rev, revocation), passthrough_headers(rev.leaf))
    assert err.reason is Reason.REVOCATION_UNKNOWN
    source = revocation._refresher.sources[url]
    delays = []  # (due - end of the attempt, due - start of the attempt): robust under load
    for _ in range(5):
        started = time.time()
        revocation._refresher.refresh_source(source)
        delays.append((source.due - time.time(), source.due - started))
    assert source.failures == 6
    assert all(late <= 0.2 and early > 0 for late, early in delays)  # bounded, scheduled ahead
    assert delays[-1][1] >= 0.17  # after max_retries, one attempt per retry_max_delay


def test_background_retry_recovers_when_the_server_comes_back(
    rev: RevPKI, server: RevocationServer
) -> None:
    path = "/later.crl"
    url = server.url(path)  # 404 until we serve it
    revocation = Revocation(crl_urls=[url], retry_delay=0.05, retry_max_delay=0.1)
    assert revocation.describe()[0]["last_error"] is not None
    with revocation:
        server.serve(path, der(make_crl(rev.intermediate, [rev.leaf.cert.serial_number])))
        deadline = time.monotonic() + 10
        while not revocation.describe()[0]["crls"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert (
        refused(verifier(rev, revocation), passthrough_headers(rev.leaf)).reason is Reason.REVOKED
    )
    assert server.hits[path] >= 2


# -- distribution points ------------------------------------------------------------------


def test_distribution_points_are_learned_and_fetched_in_the_background(rev: RevPKI) -> None:
    rev.server.serve(
        "/intermediate.crl", der(make_crl(rev.intermediate, [rev.leaf.cert.serial_number]))
    )
    revocation = Revocation(distribution_points=True, mode="hard")
    v = verifier(rev, revocation)
    # First sight: the DP is queued, not fetched on the request path.
    err = refused(v, passthrough_headers(rev.other_leaf))
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert rev.server.hits["/intermediate.crl"] == 0
    with revocation:
        deadline = time.monotonic() + 10
        while not any(row["crls"] for row in revocation.describe()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert v.verify_request(passthrough_headers(rev.other_leaf)) is not None
    assert refused(v, passthrough_headers(rev.leaf)).reason is Reason.REVOKED


def test_add_distribution_points_at_start_up(rev: RevPKI) -> None:
    rev.server.serve("/intermediate.crl", der(make_crl(rev.intermediate, [])))
    revocation = Revocation(distribution_points=True)
    assert revocation.add_distribution_points([rev.leaf.cert, rev.other_leaf.cert]) == 1
    assert verifier(rev, revocation).verify_request(passthrough_headers(rev.leaf)) is not None


def test_partitioned_crl_only_covers_its_distribution_point(rev: RevPKI, tmp_path: Path) -> None:
    idp = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier("http://ca.example/partition-2.crl")],
        relative_name=None,
        only_contains_user_certs=True,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )
    crl = make_crl(rev.intermediate, [], extensions=[(idp, True)])
    err = refused(verifier(rev, Revocation(crls=crl)), passthrough_headers(rev.leaf))
    assert err.reason is Reason.REVOCATION_UNKNOWN  # the leaf's DP is another partition
    # Fail-open found in review: a certificate without a distribution point was taken as
    # covered by any partition. RFC 5280 §6.3.3 (b)(2)(i): it is not.
    plain = issue(rev.intermediate, "no-dp")
    err = refused(verifier(rev, Revocation(crls=crl)), passthrough_headers(plain))
    assert err.reason is Reason.REVOCATION_UNKNOWN
    assert "a partition, and the certificate names no distribution point" in err.detail


def _refresher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "originverify-crl-refresher"]


def test_a_started_checker_dropped_without_close_stops_refreshing(rev: RevPKI) -> None:
    """A verifier rebuilt per reload or per tenant drops its old ``Revocation``: its
    refresher threads must end with it, not poll CRLs for the life of the process."""
    url = rev.server.serve("/dropped.crl", der(make_crl(rev.intermediate, [], number=1)))
    gc.collect()
    baseline = len(_refresher_threads())
    for _ in range(5):
        revocation = Revocation(crl_urls=[url], refresh_interval=0.2, min_refresh_interval=0.1)
        revocation.start()
        v = verifier(rev, revocation)
        assert v.verify_request(passthrough_headers(rev.leaf)) is not None
        assert len(_refresher_threads()) > baseline
        del v, revocation
    gc.collect()
    deadline = time.monotonic() + 5
    while len(_refresher_threads()) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_refresher_threads()) <= baseline
    hits = rev.server.hits["/dropped.crl"]
    time.sleep(0.6)  # three refresh intervals: nobody fetches any more
    assert rev.server.hits["/dropped.crl"] == hits
