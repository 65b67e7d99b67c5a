"""Explicit header sources: the view never depends on request data, and every field line a
mapping still holds stays visible (duplicates are refused, never "first wins").

The mappings are the real ones users pass: aiohttp's ``CIMultiDictProxy`` (``getall``),
Werkzeug's ``Headers``/``EnvironHeaders`` (``getlist``), Starlette's ``Headers``, Django's
``HttpHeaders`` (``items()`` only), an API-gateway dict with list values, raw pairs. The
attack of the review — a client-sent ``HTTP_CLIENT_CERT`` header turning a header mapping
into a "WSGI environ" — is replayed in-process and over real HTTP through aiohttp.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.x509.oid import NameOID
from multidict import CIMultiDict, CIMultiDictProxy
from starlette.datastructures import Headers as StarletteHeaders
from werkzeug.datastructures import EnvironHeaders
from werkzeug.datastructures import Headers as WerkzeugHeaders

from originverify import (
    EdgeSecret,
    Reason,
    RequestContext,
    TrustedProxies,
    VerificationError,
    Verifier,
    as_headers,
    from_environ,
    from_mapping,
    from_pairs,
)
from originverify.devpki import Issued
from originverify.formats.sfbinary import serialize_item
from tests.conftest import EDGE_SECRET, PKI, passthrough_headers


def item(issued: Issued) -> str:
    return serialize_item(issued.der)


def proxies_verifier(pki: PKI) -> Verifier:
    return Verifier(trust=pki.root_pem, source=TrustedProxies(["10.0.0.0/8"]), cache=0)


def secret_verifier(pki: PKI) -> Verifier:
    return Verifier(trust=pki.root_pem, source=EdgeSecret("X-Origin-Verify", [EDGE_SECRET]))


def environ_of(pairs: list[tuple[str, str]]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in pairs}


def reason_of(verifier: Verifier, headers: Any, peer: str = "10.0.0.1") -> Reason | None:
    try:
        verifier.verify_request(headers, peer)
    except VerificationError as exc:
        return exc.reason
    return None


# -- the view type never depends on the keys -----------------------------------------------


def test_http_prefixed_key_never_turns_a_mapping_into_an_environ(pki: PKI) -> None:
    mallory = pki.intermediate.issue("mallory")
    # The edge forwarded alice; the client added a header *named* HTTP_CLIENT_CERT.
    headers = dict(passthrough_headers(pki.leaf, secret=None)) | {"HTTP_CLIENT_CERT": item(mallory)}
    identity = proxies_verifier(pki).verify_request(headers, "10.0.0.1")
    assert identity is not None and identity.certificate == pki.leaf.cert
    assert not isinstance(as_headers(headers), type(from_environ({})))


def test_http_prefixed_header_does_not_break_edge_secret(pki: PKI) -> None:
    headers = dict(passthrough_headers(pki.leaf)) | {"HTTP_X_ANYTHING": "1"}
    assert secret_verifier(pki).verify_request(headers) is not None


def test_environ_is_read_as_one_only_when_the_caller_says_so(pki: PKI) -> None:
    environ = environ_of(passthrough_headers(pki.leaf))
    assert reason_of(secret_verifier(pki), environ) is Reason.EDGE_SECRET_MISSING
    assert secret_verifier(pki).verify_request(from_environ(environ)) is not None


# -- every field line of every mapping kind ------------------------------------------------


def _duplicated(pki: PKI) -> list[tuple[str, str]]:
    mallory = pki.intermediate.issue("mallory")
    return [*passthrough_headers(pki.leaf), ("Client-Cert", item(mallory))]


MAPPINGS = {
    "aiohttp-multidict": lambda pairs: CIMultiDictProxy(CIMultiDict(pairs)),
    "werkzeug-headers": lambda pairs: WerkzeugHeaders(pairs),
    "starlette-headers": lambda pairs: StarletteHeaders(
        raw=[(k.lower().encode(), v.encode()) for k, v in pairs]
    ),
    "api-gateway-lists": lambda pairs: {
        name: [v for n, v in pairs if n == name] for name in dict(pairs)
    },
}


@pytest.mark.parametrize("kind", sorted(MAPPINGS))
def test_duplicates_stay_visible_in_every_mapping(pki: PKI, kind: str) -> None:
    mapping = MAPPINGS[kind](_duplicated(pki))
    assert reason_of(secret_verifier(pki), mapping) is Reason.DUPLICATE_HEADER
    assert len(from_mapping(mapping).get_all("client-cert")) == 2


@pytest.mark.parametrize("kind", sorted(MAPPINGS))
def test_duplicate_secret_lines_are_refused_in_every_mapping(pki: PKI, kind: str) -> None:
    pairs = [*passthrough_headers(pki.leaf), ("X-Origin-Verify", EDGE_SECRET)]
    assert reason_of(secret_verifier(pki), MAPPINGS[kind](pairs)) is Reason.DUPLICATE_HEADER


@pytest.mark.parametrize("kind", sorted(MAPPINGS))
def test_a_single_valid_request_passes_through_every_mapping(pki: PKI, kind: str) -> None:
    assert secret_verifier(pki).verify_request(MAPPINGS[kind](passthrough_headers(pki.leaf)))


def test_dict_with_two_spellings_of_one_name_counts_twice(pki: PKI) -> None:
    headers = dict(passthrough_headers(pki.leaf)) | {"client-cert": item(pki.leaf)}
    assert reason_of(secret_verifier(pki), headers) is Reason.DUPLICATE_HEADER


def test_werkzeug_environ_headers_read_what_the_server_left(pki: PKI) -> None:
    environ = environ_of(passthrough_headers(pki.leaf))
    assert secret_verifier(pki).verify_request(EnvironHeaders(environ)) is not None


def test_django_http_headers(pki: PKI) -> None:
    from django.http.request import HttpHeaders

    meta = environ_of(passthrough_headers(pki.leaf))
    assert secret_verifier(pki).verify_request(HttpHeaders(meta)) is not None


def test_underscore_spelling_in_a_mapping_is_ambiguous(pki: PKI) -> None:
    headers = CIMultiDict([*passthrough_headers(None), ("Client_Cert", item(pki.leaf))])
    assert reason_of(secret_verifier(pki), headers) is Reason.AMBIGUOUS_HEADER_NAME


def test_raw_pairs_and_bytes(pki: PKI) -> None:
    raw = [(k.encode(), v.encode()) for k, v in passthrough_headers(pki.leaf)]
    assert secret_verifier(pki).check(RequestContext(from_pairs(raw))).identity is not None


# -- the same over real HTTP: an aiohttp origin passing request.headers --------------------


@pytest.fixture
def aiohttp_origin(pki: PKI) -> Iterator[str]:
    """An aiohttp server on 127.0.0.1 whose handler calls ``verify_request(request.headers)``
    under ``TrustedProxies`` (the configuration in which the forgery was accepted)."""
    from aiohttp import web

    verifier = Verifier(trust=pki.root_pem, source=TrustedProxies(["127.0.0.1/32"]), cache=0)

    async def handle(request: web.Request) -> web.Response:
        try:
            identity = verifier.verify_request(request.headers, request.remote)
        except VerificationError as exc:
            return web.Response(status=exc.http_status, text=exc.reason.value)
        return web.Response(text=identity.common_name or "" if identity else "anonymous")

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_aiohttp_origin_refuses_the_forgery_over_http(pki: PKI, aiohttp_origin: str) -> None:
    mallory = pki.intermediate.issue("mallory")
    alice = passthrough_headers(pki.leaf, secret=None)
    forged = [*alice, ("HTTP_CLIENT_CERT", item(mallory))]
    reply = httpx.get(aiohttp_origin, headers=forged, timeout=10)
    assert reply.status_code == 200
    assert reply.text == pki.leaf.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    duplicated = [*alice, ("Client-Cert", item(mallory))]
    reply = httpx.get(aiohttp_origin, headers=duplicated, timeout=10)
    assert (reply.status_code, reply.text) == (400, "duplicate_header")
    only_forged = [("HTTP_CLIENT_CERT", item(mallory))]
    reply = httpx.get(aiohttp_origin, headers=only_forged, timeout=10)
    assert (reply.status_code, reply.text) == (401, "missing_certificate")
