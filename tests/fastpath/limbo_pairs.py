"""Every x509-limbo case through a fast/full verifier pair (``pki.Pair``)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections import Counter
from typing import Any

from originverify import ConfigurationError, Limits, ValidationPolicy
from originverify.revocation import Revocation
from tests.conformance import limbo
from tests.fastpath import pki


def _pair(case: dict[str, Any]) -> pki.Pair:
    when = case["validation_time"]
    at = dt.datetime.fromisoformat(when.replace("Z", "+00:00")) if when else pki.NOW
    webpki = case["id"] in limbo.WEBPKI_CASES
    policy = ValidationPolicy(
        profile="webpki" if webpki else "private",
        require_eku=case["id"] == "webpki::eku::ee-without-eku",
        validation_time=at,
        max_chain_depth=case["max_chain_depth"] if case["max_chain_depth"] is not None else 8,
        extended_key_usage=limbo.EKUS[case["validation_kind"]],
        max_rsa_bits=16384,
    )
    revocation: dict[str, Any] = {}
    if case["crls"]:
        revocation["revocation"] = Revocation(
            crls=[pem.encode() for pem in case["crls"]], mode="hard"
        )
    return pki.Pair(
        [pem.encode() for pem in case["trusted_certs"]],
        policy,
        limits=Limits(max_chain_certs=256, max_chain_bytes=1 << 24, max_leaf_bytes=1 << 20),
        **revocation,
    )


def run_limbo(cases: list[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in cases:
            try:
                pair = _pair(case)
            except ConfigurationError:
                counts["refused at start-up"] += 1
                continue
            leaf = limbo._der(case["peer_certificate"])
            chain = [limbo._der(pem) for pem in case["untrusted_intermediates"]]
            request = pki.request(leaf, chain)
            for _ in range(2):
                fast, full = pair.compare(request, counts)
                if fast != full:
                    counts[f"disagree:{case['id']}"] += 1
    return counts
