"""Exact validity bounds and ``clock_skew`` as one common window, for leaf and intermediate.

RFC 5280 4.1.2.5: a certificate is valid from notBefore through notAfter, both inclusive.
Times are compared to the microsecond (one second after notAfter used to pass, the
validation time being truncated). ``clock_skew`` accepts a path when one instant within
the skew of now lies in every certificate's window (docs/configuration.md).
"""

from __future__ import annotations

import datetime as dt

import pytest

pytest.importorskip("pyhanko_certvalidator")

from originverify import EdgeSecret, Reason, VerificationError, Verifier
from originverify.chain import ValidationPolicy
from originverify.devpki import CertificateAuthority, Issued
from tests.conftest import EDGE_SECRET, passthrough_headers

T = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
US = dt.timedelta(microseconds=1)
DAY = dt.timedelta(days=1)
ENGINES = ("cryptography", "certvalidator", "both")


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return CertificateAuthority.root_ca("time root", not_before=T - 900 * DAY)


@pytest.fixture(scope="module")
def leaf_window(root: CertificateAuthority) -> Issued:
    """Leaf valid [T - 1 day, T]; its intermediate is valid far longer."""
    inter = root.intermediate("long intermediate", not_before=T - 800 * DAY)
    return inter.issue("bounded leaf", not_before=T - DAY, not_after=T)


@pytest.fixture(scope="module")
def inter_window(root: CertificateAuthority) -> Issued:
    """Intermediate valid [T - 1 day, T]; the leaf is valid far longer on both sides."""
    inter = root.intermediate("bounded intermediate", not_before=T - DAY, not_after=T)
    return inter.issue("long leaf", not_before=T - 10 * DAY, not_after=T + 10 * DAY)


def outcome(
    root: CertificateAuthority, leaf: Issued, at: dt.datetime, skew: float = 0
) -> set[Reason | None]:
    """The verdicts of every engine (a set: one element when they agree)."""
    policy = ValidationPolicy(validation_time=at, clock_skew=dt.timedelta(seconds=skew))
    verdicts: set[Reason | None] = set()
    for engine in ENGINES:
        v = Verifier(
            trust=root.pem,
            source=EdgeSecret(secrets=[EDGE_SECRET]),
            engine=engine,
            policy=policy,
            cache=None,
        )
        try:
            v.verify_request(passthrough_headers(leaf))
            verdicts.add(None)
        except VerificationError as exc:
            verdicts.add(exc.reason)
    return verdicts


OK, EXPIRED, NOT_YET = {None}, {Reason.EXPIRED}, {Reason.NOT_YET_VALID}

# (offset from the bound, skew in seconds, expected verdicts)
AFTER = [
    (dt.timedelta(0), 0, OK),  # exactly at notAfter: still valid (inclusive)
    (US, 0, EXPIRED),  # one microsecond later: expired (no truncation gift)
    (S - US, 0, EXPIRED),
    (S, 0, EXPIRED),
    (S, 1, OK),  # within the skew
    (S + US, 1, EXPIRED),
    (-S, 0, OK),
]
BEFORE = [
    (dt.timedelta(0), 0, OK),  # exactly at notBefore: valid (inclusive)
    (-US, 0, NOT_YET),
    (-S, 0, NOT_YET),
    (-S, 1, OK),
    (-S - US, 1, NOT_YET),
]


@pytest.mark.parametrize(("offset", "skew", "expected"), AFTER)
def test_leaf_not_after(
    root: CertificateAuthority,
    leaf_window: Issued,
    offset: dt.timedelta,
    skew: float,
    expected: set[Reason | None],
) -> None:
    assert outcome(root, leaf_window, T + offset, skew) == expected


@pytest.mark.parametrize(("offset", "skew", "expected"), BEFORE)
def test_leaf_not_before(
    root: CertificateAuthority,
    leaf_window: Issued,
    offset: dt.timedelta,
    skew: float,
    expected: set[Reason | None],
) -> None:
    assert outcome(root, leaf_window, T - DAY + offset, skew) == expected


@pytest.mark.parametrize(("offset", "skew", "expected"), AFTER)
def test_intermediate_not_after(
    root: CertificateAuthority,
    inter_window: Issued,
    offset: dt.timedelta,
    skew: float,
    expected: set[Reason | None],
) -> None:
    assert outcome(root, inter_window, T + offset, skew) == expected


@pytest.mark.parametrize(("offset", "skew", "expected"), BEFORE)
def test_intermediate_not_before(
    root: CertificateAuthority,
    inter_window: Issued,
    offset: dt.timedelta,
    skew: float,
    expected: set[Reason | None],
) -> None:
    assert outcome(root, inter_window, T - DAY + offset, skew) == expected


def test_skew_covers_an_intermediate_that_just_expired(
    root: CertificateAuthority, inter_window: Issued
) -> None:
    """The leaf is valid now, the intermediate expired 3 s ago: with 5 s of skew the
    instant T lies in both windows (this used to be refused: skew applied to the leaf only)."""
    assert outcome(root, inter_window, T + 3 * S, skew=5) == OK
    assert outcome(root, inter_window, T + 6 * S, skew=5) == EXPIRED


def test_skew_needs_one_common_instant(root: CertificateAuthority) -> None:
    """Leaf from T + 2 s, intermediate until T - 2 s: each is within 5 s of T, but no instant
    is in both windows, so the path is refused."""
    inter = root.intermediate("ends early", not_before=T - DAY, not_after=T - 2 * S)
    leaf = inter.issue("starts late", not_before=T + 2 * S, not_after=T + DAY)
    assert outcome(root, leaf, T, skew=5) == EXPIRED
    assert outcome(root, leaf, T, skew=0) == NOT_YET  # the leaf profile speaks first


def test_anchor_window_counts_too(root: CertificateAuthority) -> None:
    old_root = CertificateAuthority.root_ca("short root", not_before=T - DAY, not_after=T)
    leaf = old_root.intermediate("sub", not_before=T - DAY).issue("x", not_before=T - DAY)
    assert outcome(old_root, leaf, T) == OK
    assert outcome(old_root, leaf, T + US) == EXPIRED
    assert outcome(old_root, leaf, T + 2 * S, skew=2) == OK
