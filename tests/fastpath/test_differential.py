"""The fast path's verdict and reason equal the full engine's, on every input we can make.

Each request runs through two verifiers alike except for the fast path (see ``pki.Pair``).
Generated cases: a fleet leaf is validated once per issuing CA (so its sub-path is cached),
then fresh leaves with every defect of the leaf profile, from every kind of CA (name
constraints, expiring, not yet valid, pathLen 0, serverAuth-only EKU, a same-name impostor,
two levels), at instants before/inside/after the CAs' validity, under both profiles, with
and without clock skew, with forged encodings the builder refuses. ``FASTPATH_EXAMPLES``
sets the number of generated cases (``scripts``: ``python -m tests.fastpath.long_run``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from typing import Any

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from originverify.devpki import cert_der
from tests.conformance import limbo
from tests.fastpath import pki

EXAMPLES = int(os.environ.get("FASTPATH_EXAMPLES", "250"))
COUNTS: Counter[str] = Counter()

ISSUERS = (
    "plain",
    "constrained",
    "expiring",
    "future",
    "pathlen0",
    "serverauth",
    "impostor",
    "deep",
)
INSTANTS = {
    "now": pki.NOW,
    "ca expired": pki.SOON + dt.timedelta(seconds=1),
    "ca boundary": pki.SOON,
    "before future ca": pki.NOW - dt.timedelta(minutes=2),
    "ca expired by 0.5 s": pki.SOON + dt.timedelta(microseconds=500_000),
}
EKUS: dict[str, list[x509.ObjectIdentifier] | None] = {
    "clientAuth": [pki.ExtendedKeyUsageOID.CLIENT_AUTH],
    "serverAuth": [pki.ExtendedKeyUsageOID.SERVER_AUTH],
    "any": [pki.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE],
    "none": None,
}
GOOD = {
    "cn": "device",
    "dns": ["a.devices.example.com"],
    "emails": ["d@example.com"],
    "eku": "clientAuth",
    "eku_critical": False,
    "san_critical": False,
    "aki": True,
    "is_ca": False,
    "leaf_window": "normal",
    "mutation": "none",
}
#: One defect of the leaf (or of its encoding) each: a case carries zero, one or two.
DEFECTS: dict[str, dict[str, Any]] = {
    "no CN": {"cn": None},
    "no SAN": {"dns": [], "emails": []},
    "email SAN only": {"dns": []},
    "DNS excluded by the CA": {"dns": ["bad.devices.example.com"]},
    "DNS outside the CA's subtree": {"dns": ["other.example.org"]},
    "serverAuth EKU": {"eku": "serverAuth"},
    "anyExtendedKeyUsage": {"eku": "any"},
    "no EKU": {"eku": "none"},
    "critical EKU": {"eku_critical": True},
    "critical SAN": {"san_critical": True},
    "no AKI": {"aki": False},
    "CA:TRUE leaf": {"is_ca": True},
    "expired leaf": {"leaf_window": "expired"},
    "future leaf": {"leaf_window": "future"},
    "leaf ends now": {"leaf_window": "edge"},
    "outer algorithm": {"mutation": "outer algorithm"},
    "bad signature": {"mutation": "signature"},
}

cases = st.fixed_dictionaries(
    {
        "key_type": st.sampled_from(["ec", "ec", "rsa"]),
        "issuer": st.sampled_from(ISSUERS),
        "presented_as": st.sampled_from(["own chain", "own chain", "plain's chain"]),
        "instant": st.sampled_from(["now", "now", "now", *sorted(INSTANTS)]),
        "profile": st.sampled_from(["private", "private", "webpki"]),
        "require_eku": st.booleans(),
        "skew": st.sampled_from([0, 0, 2, 7200]),
        "defects": st.lists(st.sampled_from(sorted(DEFECTS)), max_size=2, unique=True),
    }
)


def _with_defects(case: dict[str, Any]) -> dict[str, Any]:
    out = {**GOOD, **case}
    for defect in case["defects"]:
        out.update(DEFECTS[defect])
    return out


def _leaf(case: dict[str, Any], world: pki.World) -> tuple[bytes, tuple[bytes, ...]]:
    case = _with_defects(case)
    ca = world.issuers[case["issuer"]]
    windows = {
        "normal": (pki.START, pki.FAR),
        "expired": (pki.START, pki.NOW - dt.timedelta(seconds=1)),
        "future": (pki.NOW + dt.timedelta(seconds=3), pki.FAR),
        "edge": (pki.START, pki.NOW),
    }
    not_before, not_after = windows[case["leaf_window"]]
    issued = ca.issue(
        case["cn"],
        dns=case["dns"],
        emails=case["emails"],
        eku=EKUS[case["eku"]],
        eku_critical=case["eku_critical"],
        san_critical=case["san_critical"],
        aki=case["aki"],
        is_ca=case["is_ca"],
        key=pki.leaf_key(world.key_type),  # type: ignore[arg-type]
        key_type=world.key_type,
        not_before=not_before,
        not_after=not_after,
    )
    der = issued.der
    if case["mutation"] == "outer algorithm":
        der = pki.outer_algorithm_swapped(der)
    elif case["mutation"] == "signature":
        der = pki.corrupt_signature(der)
    if case["presented_as"] == "plain's chain" or case["issuer"] == "impostor":
        plain = world.issuers["plain"]
        return der, (cert_der(plain.cert),)
    return der, tuple(cert_der(c) for c in issued.intermediates)


def _prime(pair: pki.Pair, world: pki.World, chain: tuple[bytes, ...], name: str) -> None:
    """A good fleet leaf under the same CA and chain, validated at NOW: caches the sub-path."""
    ca = world.issuers[name if name != "impostor" else "plain"]
    good = ca.issue(
        "fleet",
        emails=["fleet@example.com"],
        dns=["a.devices.example.com"],
        key=pki.leaf_key(world.key_type),
        key_type=world.key_type,  # type: ignore[arg-type]
        not_before=pki.START,
        not_after=pki.FAR,
    )
    at_now = pki.Pair(
        world.anchors, pki.policy(profile=pair.policy.profile, skew=pair.policy.clock_skew)
    )
    at_now.fast.subpaths = pair.fast.subpaths
    at_now.fast.check(pki.request(good.der, chain))


def check_case(case: dict[str, Any], counts: Counter[str]) -> None:
    world = pki.world(case["key_type"])
    skew = dt.timedelta(seconds=case["skew"])
    policy = pki.policy(INSTANTS[case["instant"]], case["profile"], case["require_eku"], skew)
    pair = pki.Pair(world.anchors, policy)
    der, chain = _leaf(case, world)
    _prime(pair, world, chain, case["issuer"])
    fast, full = pair.compare(pki.request(der, chain), counts)
    assert fast == full, (case, fast, full)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases)
def test_generated_leaves_under_cached_subpaths(case: dict[str, Any]) -> None:
    check_case(case, COUNTS)


def test_generated_cases_reach_the_fast_path() -> None:
    """Guard against a vacuous proof: a good share of the cases were decided by it."""
    counts: Counter[str] = Counter()
    world = pki.world("ec")
    base = dict(
        key_type="ec",
        issuer="plain",
        presented_as="own chain",
        instant="now",
        profile="private",
        require_eku=False,
        skew=0,
        defects=[],
    )
    for issuer in ("plain", "expiring", "pathlen0", "deep"):
        check_case({**base, "issuer": issuer}, counts)
    assert counts["via:fast"] == 4, counts
    assert world.issuers["plain"] is pki.world("ec").issuers["plain"]


LIMBO_CASES = limbo.load_cases() if limbo.LIMBO.exists() else []


@pytest.mark.skipif(not LIMBO_CASES, reason=f"{limbo.LIMBO} not found")
def test_every_limbo_case_twice() -> None:
    """Every limbo case (skipped ones included: here only the two paths are compared) with
    the fast path on, twice (the second run may use what the first validated), and off."""
    from tests.fastpath.limbo_pairs import run_limbo

    counts = run_limbo(LIMBO_CASES)
    assert counts["disagreements"] == 0, counts
    assert counts["compared"] >= 2 * 200, counts
    assert counts["via:fast"] >= 50, counts
