"""Validation time and ``clock_skew``: one common instant for the whole path.

Semantics (docs/configuration.md): a path is valid when there is one instant ``t`` with
``|t - now| <= clock_skew`` at which every certificate on it (leaf, intermediates, anchor)
is within its validity period, bounds inclusive. With ``clock_skew=0`` that instant is
``now`` itself, to the microsecond.

Engines validate at whole seconds (X.509 times have no fractions, and pyca's verifier
truncates), so a fractional ``now`` cannot be handed to them as is: a certificate whose
notAfter is ``T`` would pass at ``T + 0.5`` once truncated. Engines therefore build paths at
a whole-second *hint* and ``check_window`` then judges the returned path exactly. When the
hint fails on time and ``clock_skew`` is set, a few other instants are tried: the common
window's ends are always certificate bounds or ``now ± clock_skew``, so trying those (closest
to now first) finds it when the engine's path has one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509

from .. import describe
from ..errors import Reason, VerificationError

#: Extra engine runs tried on a time failure when ``clock_skew`` is set (failure path only).
MAX_RETRIES = 3
TIME_REASONS = (Reason.EXPIRED, Reason.NOT_YET_VALID)

Build = Callable[[datetime], list[x509.Certificate]]


def whole_second(at: datetime) -> datetime:
    return at.replace(microsecond=0)


def first_instant(leaf: x509.Certificate, now: datetime) -> datetime:
    """``now`` moved into the leaf's window (the leaf profile allowed at most the skew),
    truncated to a second; bounds are whole seconds, so the result stays in the window."""
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    return whole_second(min(max(now, start), end))


def check_window(path: Sequence[x509.Certificate], now: datetime, skew: timedelta) -> None:
    """Refuse a path with no common validity instant within ``skew`` of ``now``."""
    latest_start = max(path, key=lambda c: c.not_valid_before_utc)
    earliest_end = min(path, key=lambda c: c.not_valid_after_utc)
    start, end = latest_start.not_valid_before_utc, earliest_end.not_valid_after_utc
    if end < now - skew or end < start:
        raise VerificationError(
            Reason.EXPIRED,
            f"{describe.subject(earliest_end)!r} expired {end.isoformat()}",
        )
    if start > now + skew:
        raise VerificationError(
            Reason.NOT_YET_VALID,
            f"{describe.subject(latest_start)!r} valid from {start.isoformat()}",
        )


def other_instants(
    certs: Iterable[x509.Certificate], leaf: x509.Certificate, now: datetime, skew: timedelta
) -> list[datetime]:
    """Whole-second instants worth trying, closest to ``now`` first, at most ``MAX_RETRIES``."""
    low, high = now - skew, now + skew
    leaf_start, leaf_end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    ends = (
        datetime.fromtimestamp(math.ceil(low.timestamp()), UTC),
        datetime.fromtimestamp(math.floor(high.timestamp()), UTC),
    )
    found = set(ends)
    for cert in certs:
        found.add(cert.not_valid_before_utc)
        found.add(cert.not_valid_after_utc)
    first = first_instant(leaf, now)
    usable = [t for t in found if low <= t <= high and leaf_start <= t <= leaf_end and t != first]
    usable.sort(key=lambda t: (abs(t - now), t))
    return usable[:MAX_RETRIES]


def run_in_window(
    build: Build,
    leaf: x509.Certificate,
    candidates: Callable[[], Iterable[x509.Certificate]],
    now: datetime,
    skew: timedelta,
) -> list[x509.Certificate]:
    """``build`` at the first instant, then (on a time failure, with skew) at a few others;
    the path returned has passed ``check_window``."""
    try:
        path = build(first_instant(leaf, now))
        check_window(path, now, skew)
        return path
    except VerificationError as exc:
        if exc.reason not in TIME_REASONS or not skew:
            raise
        error = exc
    for instant in other_instants(candidates(), leaf, now, skew):
        try:
            path = build(instant)
            check_window(path, now, skew)
            return path
        except VerificationError:
            continue
    raise error
