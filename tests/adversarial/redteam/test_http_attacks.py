"""Hostile requests over real HTTP to every adapter at once: WSGI middleware under gunicorn,
ASGI middleware under uvicorn, Flask under gunicorn, Django under gunicorn and uvicorn.

Each attack asserts the secure answer (status, body, content type) and that no adapter
answers 500 or lets the forged identity through; where the servers give the adapter the same
view of the request, the answers must be byte-identical across adapters."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from originverify.formats.sfbinary import serialize_item

from .kit import (
    SECRET,
    SECRET_HEADER,
    Pairs,
    RedPKI,
    Reply,
    Server,
    make_pki,
    pairs,
    send,
    send_raw,
    start_servers,
)

EDGE_REFUSAL = b"request did not come through the trusted edge\n"
MALFORMED = b"malformed client certificate headers\n"
REJECTED = b"client certificate rejected\n"
REQUIRED = b"client certificate required\n"
TEXT = "text/plain; charset=utf-8"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pki() -> RedPKI:
    return make_pki()


@pytest.fixture(scope="module")
def servers(pki: RedPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    yield from start_servers(pki, tmp_path_factory.mktemp("redteam-servers"))


def everywhere(
    servers: dict[str, Server], lines: Pairs, mode: str = "required"
) -> dict[str, Reply]:
    return {
        name: send(s.port, s.routes[mode], lines) for name, s in servers.items() if mode in s.routes
    }


def assert_same(replies: dict[str, Reply], status: int, body: bytes, ctype: str = TEXT) -> None:
    got = {n: (r.status, r.body, r.content_type) for n, r in replies.items()}
    assert all(v == (status, body, ctype) for v in got.values()), got


# -- the refusal each adapter gives is the kernel's, byte for byte --------------------------


def test_stolen_certificate_without_edge_secret(servers: dict[str, Server], pki: RedPKI) -> None:
    assert_same(everywhere(servers, pairs(pki.alice, secret=None)), 403, EDGE_REFUSAL)


def test_guessed_edge_secret(servers: dict[str, Server], pki: RedPKI) -> None:
    lines = pairs(pki.alice, secret=SECRET[:-1] + "X")
    assert_same(everywhere(servers, lines), 403, EDGE_REFUSAL)


def test_secret_with_appended_garbage(servers: dict[str, Server], pki: RedPKI) -> None:
    lines = pairs(pki.alice, secret=SECRET + "x")
    assert_same(everywhere(servers, lines), 403, EDGE_REFUSAL)


def test_duplicate_client_cert_lines(servers: dict[str, Server], pki: RedPKI) -> None:
    lines = pairs(pki.alice, extra=[("Client-Cert", serialize_item(pki.bob.der))])
    assert_same(everywhere(servers, lines), 400, MALFORMED)


def test_garbage_der(servers: dict[str, Server]) -> None:
    lines = pairs(None) + [("Client-Cert", ":" + base64.b64encode(b"\x30\x03abc").decode() + ":")]
    assert_same(everywhere(servers, lines), 400, MALFORMED)


def test_truncated_der(servers: dict[str, Server], pki: RedPKI) -> None:
    lines = pairs(pki.alice.der[:-7], ())
    assert_same(everywhere(servers, lines), 400, MALFORMED)


def test_certificate_from_a_lookalike_root(servers: dict[str, Server], pki: RedPKI) -> None:
    assert_same(everywhere(servers, pairs(pki.stranger)), 403, REJECTED)


def test_chain_without_leaf(servers: dict[str, Server], pki: RedPKI) -> None:
    lines = pairs(None) + [("Client-Cert-Chain", serialize_item(pki.alice.chain_der[0]))]
    assert_same(everywhere(servers, lines), 400, MALFORMED)


def test_sf_item_with_parameters(servers: dict[str, Server], pki: RedPKI) -> None:
    lines = pairs(None) + [("Client-Cert", serialize_item(pki.alice.der) + ";a=1")]
    assert_same(everywhere(servers, lines), 400, MALFORMED)


def test_base64url_alphabet_refused(servers: dict[str, Server], pki: RedPKI) -> None:
    b64 = base64.urlsafe_b64encode(pki.alice.der).decode()
    if "-" not in b64 and "_" not in b64:
        b64 = b64[:-4] + "-_-_"
    lines = pairs(None) + [("Client-Cert", f":{b64}:")]
    assert_same(everywhere(servers, lines), 400, MALFORMED)


def test_no_certificate_gets_a_challenge(servers: dict[str, Server]) -> None:
    replies = everywhere(servers, pairs(None))
    assert_same(replies, 401, REQUIRED)
    assert {r.headers.get("www-authenticate") for r in replies.values()} == {
        'ClientCert realm="originverify"'
    }


def test_refusals_are_not_cacheable(servers: dict[str, Server], pki: RedPKI) -> None:
    replies = everywhere(servers, pairs(pki.stranger))
    assert {r.headers.get("cache-control") for r in replies.values()} == {"no-store"}


@pytest.mark.parametrize(
    ("accept", "as_json"),
    [
        ("application/json", True),
        ("text/plain;q=0.1, application/json", True),
        ("application/json;q=abc, text/plain;q=nan", False),
        ("application/problem+json", True),
        ("*/*", False),
        ("application/json;q=0", False),
    ],
)
def test_accept_negotiation_is_identical(
    servers: dict[str, Server], pki: RedPKI, accept: str, as_json: bool
) -> None:
    replies = everywhere(servers, pairs(pki.stranger, extra=[("Accept", accept)]))
    if as_json:
        body = json.dumps({"error": "client certificate rejected", "status": 403}).encode()
        assert_same(replies, 403, body, "application/json")
    else:
        assert_same(replies, 403, REJECTED)


# -- header hygiene that depends on the server ----------------------------------------------


def _authenticated_as(reply: Reply) -> str | None:
    if reply.status != 200:
        return None
    data = json.loads(reply.body)
    cert = data.get("client_cert")
    if isinstance(cert, dict):  # Django's view
        return str(cert.get("common_name") or cert.get("subject"))
    return data.get("cn") if data.get("authenticated", True) else None


def test_underscore_certificate_header_never_authenticates(
    servers: dict[str, Server], pki: RedPKI
) -> None:
    replies = everywhere(servers, pairs(None) + [("Client_Cert", serialize_item(pki.alice.der))])
    for name, reply in replies.items():
        assert reply.status in (400, 401), (name, reply)
        assert _authenticated_as(reply) is None


def test_underscore_spelling_beside_the_real_header(
    servers: dict[str, Server], pki: RedPKI
) -> None:
    lines = pairs(pki.alice, extra=[("Client_Cert", serialize_item(pki.bob.der))])
    for name, reply in everywhere(servers, lines).items():
        assert reply.status in (200, 400), (name, reply)
        assert _authenticated_as(reply) in (None, "alice"), (name, reply.body)


def test_two_secret_lines_are_refused(servers: dict[str, Server], pki: RedPKI) -> None:
    lines = pairs(pki.alice, extra=[(SECRET_HEADER, SECRET)])
    for name, reply in everywhere(servers, lines).items():
        # ASGI sees two lines (400); WSGI servers join them into "s, s" (no match, 403).
        assert (reply.status, reply.body) in ((400, MALFORMED), (403, EDGE_REFUSAL)), name


def test_case_variants_are_one_header(servers: dict[str, Server], pki: RedPKI) -> None:
    lines = [(n.upper(), v) for n, v in pairs(pki.alice)]
    for name, reply in everywhere(servers, lines).items():
        assert reply.status == 200 and _authenticated_as(reply) == "alice", (name, reply)


def test_protected_headers_never_reach_the_application(
    servers: dict[str, Server], pki: RedPKI
) -> None:
    for name, reply in everywhere(servers, pairs(pki.alice)).items():
        assert reply.status == 200, (name, reply)
        data = json.loads(reply.body)
        seen = data.get("seen", []) + data.get("meta_leaked", []) + data.get("headers_leaked", [])
        assert not [s for s in seen if "origin" in s.lower() or "client" in s.lower()], (name, seen)


def test_oversized_client_cert_is_refused_by_someone(servers: dict[str, Server]) -> None:
    lines = pairs(None) + [("Client-Cert", ":" + "A" * 40000 + ":")]
    for name, reply in everywhere(servers, lines).items():
        assert reply.status in (400, 431), (name, reply.status)


def test_too_many_header_lines(servers: dict[str, Server], pki: RedPKI) -> None:
    lines = pairs(pki.alice) + [(f"X-Pad-{i}", "x") for i in range(150)]
    for name, reply in everywhere(servers, lines).items():
        assert reply.status in (200, 400, 431), (name, reply.status)


@pytest.mark.parametrize(
    "raw_header",
    [
        b"Client-Cert: :AAAA\r\n BBBB:\r\n",  # obs-fold
        b"Client-Cert: :\xff\xfe:\r\n",  # octets outside ASCII
        b"Client-Cert : :AAAA:\r\n",  # whitespace before the colon
        b"Client-Cert: :AAAA:\x0b\r\n",  # a control character in the value
    ],
)
def test_malformed_field_lines_never_500_nor_accept(
    servers: dict[str, Server], raw_header: bytes
) -> None:
    for name, server in servers.items():
        request = (
            f"GET {server.routes['required']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"{SECRET_HEADER}: {SECRET}\r\n".encode()
            + raw_header
            + b"Connection: close\r\n\r\n"
        )
        status = send_raw(server.port, request)
        assert status in (0, 400, 431), (name, status)


# -- modes ---------------------------------------------------------------------------------


def test_report_only_lets_a_bad_certificate_through_anonymously(
    servers: dict[str, Server], pki: RedPKI
) -> None:
    for name, reply in everywhere(servers, pairs(pki.stranger), "report").items():
        assert reply.status == 200, (name, reply)
        assert _authenticated_as(reply) is None, name


def test_optional_mode_refuses_a_bad_certificate(servers: dict[str, Server], pki: RedPKI) -> None:
    assert_same(everywhere(servers, pairs(pki.stranger), "optional"), 403, REJECTED)


def test_optional_mode_without_certificate_is_anonymous(servers: dict[str, Server]) -> None:
    for name, reply in everywhere(servers, pairs(None), "optional").items():
        assert reply.status == 200 and _authenticated_as(reply) is None, (name, reply)


def test_no_server_logged_a_traceback(servers: dict[str, Server], pki: RedPKI) -> None:
    send(servers["asgi-uvicorn"].port, "/whoami", pairs(pki.alice))
    for name, server in servers.items():
        log = server.log()
        assert "Traceback" not in log, (name, log[-3000:])
        assert "Internal Server Error" not in log, name
        assert SECRET not in log, name


def test_logs_name_the_reason(servers: dict[str, Server], pki: RedPKI) -> None:
    everywhere(servers, pairs(pki.stranger))
    for name, server in servers.items():
        assert "reason=untrusted_chain status=403" in server.log(), (name, server.log()[-2000:])


def _websocket_status(port: int, path: str, lines: Pairs) -> int:
    head = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n"
    )
    extra = "".join(f"{name}: {value}\r\n" for name, value in lines)
    return send_raw(port, (head + extra + "\r\n").encode())


def test_websocket_handshake_with_a_forged_certificate_is_refused(
    servers: dict[str, Server], pki: RedPKI
) -> None:
    port = servers["asgi-uvicorn"].port
    assert _websocket_status(port, "/ws", pairs(pki.stranger)) == 403
    assert _websocket_status(port, "/ws", pairs(pki.alice, secret=None)) == 403
    assert _websocket_status(port, "/ws", pairs(pki.alice)) == 101
