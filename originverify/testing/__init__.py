"""Throwaway PKIs and the exact headers your edge forwards, for testing your views.

    from originverify import testing

    pki = testing.PKI()                                  # root → intermediate
    alice = pki.client("alice", emails=["alice@example.com"])
    edge = testing.Edge("cloudfront-passthrough")        # random secret; signed=True for RFC 9421
    app.config.update(edge.flask_config(pki))            # or build_verifier(edge.settings(pki))
    client.get("/", headers=edge.headers(alice))         # Flask, Django, Starlette, httpx

trustme's ``CA`` / ``LeafCert`` work wherever a ``PKI`` / ``ClientCert`` does. The pytest
plugin (``originverify.testing.plugin``, registered as a ``pytest11`` entry point) offers
the fixtures ``originverify_pki``, ``originverify_client`` and ``originverify_edge``.
Never import this module from production code: it makes keys, on purpose, in memory.
"""

from __future__ import annotations

from .edge import Edge
from .pki import PKI, ClientCert, anchors_pem, client_cert
from .wire import ENCODERS

#: The presets whose headers ``Edge`` writes.
FORMATS = tuple(sorted(ENCODERS))

__all__ = ["FORMATS", "PKI", "ClientCert", "Edge", "anchors_pem", "client_cert"]
