"""The URL both sides derive @authority/@path/@query from, and the nonce cache."""

from __future__ import annotations

import pytest

from originverify import ConfigurationError
from originverify.envelope import NonceCache, request_url


@pytest.mark.parametrize(
    "target",
    ["/", "/foo?param=Value&Pet=dog", "/a%2Fb/c;x=1?q=%20&r=?/", "/~user/ind.ex?", "/p@t:h"],
)
def test_valid_targets_are_kept_as_sent(target: str) -> None:
    assert request_url("example.com", target) == f"https://example.com{target}"


@pytest.mark.parametrize(
    ("target", "escaped"),
    [
        ("/a|b", "/a%7Cb"),
        ("/{x}", "/%7Bx%7D"),
        ('/q?x="1"', "/q?x=%221%22"),
        ("/100%", "/100%25"),
        ("/%zz", "/%25zz"),
        ("/caf\u00e9", "/caf%E9"),  # latin-1 octets, as servers decode the request line
        ("/\u2603", "/%E2%98%83"),  # beyond latin-1: UTF-8
        ("/a#b", "/a%23b"),
        ("/a b", "/a%20b"),
    ],
)
def test_raw_octets_are_escaped_the_same_way_on_both_sides(target: str, escaped: str) -> None:
    assert request_url("example.com", target) == f"https://example.com{escaped}"


@pytest.mark.parametrize(
    "authority", ["example.com:8443", "127.0.0.1", "[::1]:8080", "EXAMPLE.com"]
)
def test_authorities(authority: str) -> None:
    assert request_url(authority, "/").startswith(f"https://{authority}/")


@pytest.mark.parametrize(
    ("authority", "target"),
    [
        ("user@example.com", "/"),  # userinfo would be dropped silently by URL parsing
        ("example.com/x", "/"),
        ("", "/"),
        ("example.com", "*"),
        ("example.com", "http://example.com/"),
        ("example.com", ""),
    ],
)
def test_refused(authority: str, target: str) -> None:
    with pytest.raises(ValueError):
        request_url(authority, target)


def test_nonce_cache_refuses_a_nonce_inside_its_window() -> None:
    cache = NonceCache(8)
    assert cache.add("k1", "n1", until=100, now=50)
    assert not cache.add("k1", "n1", until=100, now=60)
    assert cache.add("k2", "n1", until=100, now=60)  # per key id
    assert cache.add("k1", "n2", until=100, now=60)


def test_nonce_cache_forgets_after_the_window() -> None:
    cache = NonceCache(8)
    assert cache.add("k", "old", until=100, now=50)
    assert cache.add("k", "new", until=300, now=250)  # purges the expired entry
    assert len(cache) == 1
    assert cache.add("k", "old", until=400, now=250)


def test_nonce_cache_is_bounded() -> None:
    cache = NonceCache(3)
    for index in range(5):
        assert cache.add("k", f"n{index}", until=1000, now=1)
    assert len(cache) == 3
    assert cache.evictions == 2
    assert cache.add("k", "n0", until=1000, now=2)  # evicted, so accepted again
    assert not cache.add("k", "n4", until=1000, now=2)


def test_nonce_cache_size_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        NonceCache(0)
