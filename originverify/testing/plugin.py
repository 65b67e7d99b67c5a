"""pytest fixtures of the testing kit (a ``pytest11`` entry point: active once originverify
is installed). Override ``originverify_edge`` in your conftest to change the format::

    @pytest.fixture
    def originverify_edge():
        return testing.Edge("alb-passthrough", signed=True)
"""

from __future__ import annotations

import pytest

from . import PKI, ClientCert, Edge


@pytest.fixture(scope="session")
def originverify_pki() -> PKI:
    """A throwaway root → intermediate for the whole test session."""
    return PKI()


@pytest.fixture(scope="session")
def originverify_client(originverify_pki: PKI) -> ClientCert:
    """A client certificate: CN=client, SAN DNS client.example.test and a SPIFFE ID."""
    return originverify_pki.client(
        "client", dns=["client.example.test"], uris=["spiffe://example.test/client"]
    )


@pytest.fixture
def originverify_edge() -> Edge:
    """A CloudFront passthrough edge with a random secret."""
    return Edge("cloudfront-passthrough")
