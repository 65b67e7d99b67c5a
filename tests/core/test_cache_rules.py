"""The result cache and authorization rules."""

from __future__ import annotations

import datetime as dt

import pytest

from originverify import (
    ConfigurationError,
    EdgeSecret,
    Reason,
    ResultCache,
    Rules,
    VerificationError,
    Verifier,
)
from originverify.devpki import CertificateAuthority
from tests.conftest import EDGE_SECRET, PKI, passthrough_headers


def cached_verifier(pki: PKI, **kwargs: object) -> Verifier:
    return Verifier(
        trust=pki.root.pem,
        source=EdgeSecret(secrets=[EDGE_SECRET]),
        cache=ResultCache(8),
        **kwargs,  # type: ignore[arg-type]
    )


def test_cache_hit_returns_the_same_identity(pki: PKI) -> None:
    verifier = cached_verifier(pki)
    first = verifier.verify_request(passthrough_headers(pki.leaf))
    second = verifier.verify_request(passthrough_headers(pki.leaf))
    assert first is second
    assert verifier.cache is not None and verifier.cache.stats.hits == 1


def test_cache_hit_still_checks_the_source(pki: PKI) -> None:
    verifier = cached_verifier(pki)
    verifier.verify_request(passthrough_headers(pki.leaf))
    with pytest.raises(VerificationError) as info:
        verifier.verify_request(passthrough_headers(pki.leaf, secret=None))
    assert info.value.reason is Reason.EDGE_SECRET_MISSING


def test_different_chain_same_leaf_is_a_different_entry(pki: PKI) -> None:
    verifier = cached_verifier(pki, extra_intermediates=pki.intermediate.pem)
    verifier.verify_request(passthrough_headers(pki.leaf))
    verifier.verify_request(passthrough_headers(pki.leaf, chain=()))
    assert verifier.cache is not None
    assert len(verifier.cache) == 2 and verifier.cache.stats.hits == 0


def test_failures_are_not_cached(pki: PKI) -> None:
    verifier = cached_verifier(pki)
    other = CertificateAuthority.root_ca("other").issue("eve")
    for _ in range(2):
        with pytest.raises(VerificationError):
            verifier.verify_request(passthrough_headers(other))
    assert verifier.cache is not None and len(verifier.cache) == 0


def test_entry_expires_at_not_after(pki: PKI) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    leaf = pki.intermediate.issue("short-lived", not_after=soon)
    verifier = cached_verifier(pki)
    identity = verifier.verify_request(passthrough_headers(leaf))
    assert identity is not None and verifier.cache is not None
    (key,) = verifier.cache._entries.keys()
    assert verifier.cache.get(key, soon.timestamp() - 1)[0] is identity  # type: ignore[index]
    assert verifier.cache.get(key, soon.timestamp() + 1) is None
    assert verifier.cache.stats.expirations == 1


def test_cache_is_bounded_lru() -> None:
    cache = ResultCache(2, max_age=60)
    root = CertificateAuthority.root_ca()
    from originverify import ClientIdentity

    idents = [ClientIdentity(root.issue(f"c{i}").cert, (), ()) for i in range(3)]
    for i, ident in enumerate(idents):
        cache.put(i, ident, not_after=1e12, now=0)
    assert len(cache) == 2 and cache.get(0, 1) is None
    assert cache.get(2, 1) == (idents[2], 0, 1e12)
    assert cache.stats.evictions == 1
    cache.put(9, idents[0], not_after=5, now=10)  # already expired: not stored
    assert cache.get(9, 11) is None


def test_trust_reload_empties_the_cache(pki: PKI) -> None:
    verifier = cached_verifier(pki)
    verifier.verify_request(passthrough_headers(pki.leaf))
    verifier.reload_trust()
    assert verifier.cache is not None and len(verifier.cache) == 0


# -- rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rules",
    [
        Rules(subjects=("CN=alice,*",)),
        Rules(common_names="alice"),
        Rules(emails=("*@EXAMPLE.com",)),
        Rules(spiffe_ids=("spiffe://example.org/ns/prod/**",)),
        Rules(spiffe_ids=("spiffe://example.org/ns/prod/sa/*",)),
        Rules(spiffe_ids=("spiffe://example.org/ns/*/sa/al*",)),
        Rules(issuers=("CN=test intermediate,*",)),
        Rules(issuers=("CN=test intermediate,O=originverify test",)),
        Rules(subjects=("CN=*,O=originverify test",)),
        Rules(uris=("spiffe://example.org/**",), emails=("alice@*",)),
        Rules(predicate=lambda i: i.common_name == "alice"),
    ],
)
def test_rules_allow(pki: PKI, rules: Rules) -> None:
    assert cached_verifier(pki, rules=rules).verify_request(passthrough_headers(pki.leaf))


@pytest.mark.parametrize(
    "rules",
    [
        Rules(subjects=("CN=bob,*",)),
        Rules(dns_names=("*.example.com",)),
        Rules(spiffe_ids=("spiffe://example.org/ns/staging/*",)),
        Rules(spiffe_ids=("spiffe://example.org/ns/prod/*",)),  # * is one segment
        Rules(uris=("spiffe://example.org/*",)),  # * stays inside one path segment
        Rules(subjects=("CN=alice",)),  # a pattern covers the whole DN
        Rules(subjects=("O=originverify test,CN=alice",)),  # in order
        Rules(common_names=("ALICE",)),
        Rules(emails=("alice@example.com",), common_names=("bob",)),
        Rules(fingerprints=("00" * 32,)),
        Rules(predicate=lambda i: False),
    ],
)
def test_rules_deny(pki: PKI, rules: Rules) -> None:
    with pytest.raises(VerificationError) as info:
        cached_verifier(pki, rules=rules).verify_request(passthrough_headers(pki.leaf))
    assert info.value.reason is Reason.RULE_DENIED
    assert info.value.http_status == 403


def test_fingerprint_pin_accepts_colons_and_case(pki: PKI) -> None:
    import hashlib

    digest = hashlib.sha256(pki.leaf.der).hexdigest().upper()
    pin = ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    verifier = cached_verifier(pki, rules={"fingerprints": [pin]})
    assert verifier.verify_request(passthrough_headers(pki.leaf)) is not None


def test_bad_rules_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        Rules(fingerprints=("abc",))
    with pytest.raises(ConfigurationError, match="unknown rule"):
        Rules.from_mapping({"subject": ["x"]})
