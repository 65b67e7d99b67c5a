"""End to end: the test project under real servers, requests with real certificates.

gunicorn (WSGI) and uvicorn / daphne (ASGI) run as subprocesses on 127.0.0.1, one per mode,
started on first use and stopped when the module ends. Requests are sent with exactly the
header lines given (duplicates and underscore spellings included).

Where the servers differ, the difference is the header hygiene described in
``django_originverify.middleware``: gunicorn (``header_map=drop``) and daphne drop underscore
spellings before Django sees them, uvicorn passes them on in the ASGI scope where the
middleware refuses them. No server lets a forged ``Client_Cert`` authenticate.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dj_helpers import (
    EDGE_SECRET,
    DjPKI,
    Server,
    cert_headers,
    cert_pairs,
    manage,
    send,
    server_env,
)

pytestmark = pytest.mark.e2e

KINDS = [
    "gunicorn",
    "uvicorn",
    pytest.param(
        "daphne",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("daphne") is None, reason="daphne not installed"
        ),
    ),
]
#: What each server does with an underscore spelling of a protected header.
DROPS_UNDERSCORES = {"gunicorn": True, "uvicorn": False, "daphne": True}

Live = Callable[..., Server]


@pytest.fixture(scope="module")
def base_env(djpki: DjPKI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Anchors on disk, a migrated SQLite database with user alice."""
    base = tmp_path_factory.mktemp("django-live")
    anchors = base / "client-ca.pem"
    anchors.write_bytes(djpki.root.pem)
    env = server_env(OV_TEST_ANCHORS=str(anchors), OV_TEST_DB=str(base / "db.sqlite3"))
    manage(env, "migrate", "--run-syncdb", "--verbosity", "0")  # also runs the system checks
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; User.objects.create_user('alice')",
    )
    return env


@pytest.fixture(scope="module")
def live(base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    logs = tmp_path_factory.mktemp("django-live-logs")
    started: dict[tuple[str, str], Server] = {}

    def get(kind: str, mode: str = "required") -> Server:
        if (kind, mode) not in started:
            server = Server(kind, {**base_env, "OV_TEST_MODE": mode}, logs / f"{kind}-{mode}.log")
            started[kind, mode] = server
            server.wait_ready()
        return started[kind, mode]

    try:
        yield get
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def client_cert(djpki: DjPKI, leaf_name: str) -> str:
    return cert_headers(getattr(djpki, leaf_name))["Client-Cert"]


# -- required mode ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/whoami", "/async/whoami"])
def test_valid_certificate(live: Live, kind: str, djpki: DjPKI, path: str) -> None:
    reply = send(live(kind).port, path, cert_pairs(djpki.alice))
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["client_cert"]["common_name"] == "alice"
    assert body["client_cert"]["emails"] == ["alice@example.com"]
    assert body["user"] == "alice"  # LOGIN_USERS with ClientCertBackend
    assert body["meta_leaked"] == []
    assert body["headers_leaked"] == []


def test_no_certificate(live: Live, kind: str) -> None:
    reply = send(live(kind).port, "/whoami", cert_pairs(None))
    assert (reply.status, reply.body) == (401, b"client certificate required\n")


def test_invalid_certificate(live: Live, kind: str) -> None:
    pairs = [("X-Origin-Verify", EDGE_SECRET), ("Client-Cert", ":bm90IGEgY2VydA==:")]
    reply = send(live(kind).port, "/whoami", pairs)
    assert (reply.status, reply.body) == (400, b"malformed client certificate headers\n")


@pytest.mark.parametrize("leaf", ["expired", "stranger"])
def test_expired_or_wrong_ca(live: Live, kind: str, djpki: DjPKI, leaf: str) -> None:
    reply = send(live(kind).port, "/whoami", cert_pairs(getattr(djpki, leaf)))
    assert (reply.status, reply.body) == (403, b"client certificate rejected\n")


@pytest.mark.parametrize("secret", ["wrong-secret-0123456789abcdef", None])
def test_wrong_or_missing_secret(live: Live, kind: str, djpki: DjPKI, secret: str | None) -> None:
    reply = send(live(kind).port, "/whoami", cert_pairs(djpki.alice, secret=secret))
    assert (reply.status, reply.body) == (403, b"request did not come through the trusted edge\n")


def test_duplicate_client_cert_lines(live: Live, kind: str, djpki: DjPKI) -> None:
    """WSGI joins the lines with ',' (not an sf Item), ASGI keeps both: 400 either way."""
    extra = [("Client-Cert", client_cert(djpki, "bob"))]
    reply = send(live(kind).port, "/whoami", cert_pairs(djpki.alice, extra=extra))
    assert reply.status == 400


def test_duplicate_secret_lines(live: Live, kind: str, djpki: DjPKI) -> None:
    extra = [("X-Origin-Verify", "another-secret-0123456789abc")]
    reply = send(live(kind).port, "/whoami", cert_pairs(djpki.alice, extra=extra))
    # ASGI sees two lines (400); gunicorn joins them into one value that matches nothing (403)
    assert reply.status == (403 if kind == "gunicorn" else 400)


def test_underscore_certificate_header(live: Live, kind: str, djpki: DjPKI) -> None:
    pairs = [("X-Origin-Verify", EDGE_SECRET), ("Client_Cert", client_cert(djpki, "alice"))]
    reply = send(live(kind).port, "/whoami", pairs)
    assert reply.status == (401 if DROPS_UNDERSCORES[kind] else 400)


def test_underscore_secret_header_alone(live: Live, kind: str, djpki: DjPKI) -> None:
    pairs = cert_pairs(djpki.alice, secret=None, extra=[("X_Origin_Verify", EDGE_SECRET)])
    reply = send(live(kind).port, "/whoami", pairs)
    # dropped by the server ("missing secret", 403), or seen by the core: refused as ambiguous
    if DROPS_UNDERSCORES[kind]:
        assert (reply.status, reply.body) == (
            403,
            b"request did not come through the trusted edge\n",
        )
    else:
        assert reply.status == 400


def test_underscore_secret_header_beside_the_real_one(live: Live, kind: str, djpki: DjPKI) -> None:
    extra = [("X_Origin_Verify", "attacker-chosen-0123456789abcdef")]
    reply = send(live(kind).port, "/whoami", cert_pairs(djpki.alice, extra=extra))
    # a dropped spelling is harmless (the edge's own secret matches); a visible one is refused
    assert reply.status == (200 if DROPS_UNDERSCORES[kind] else 400)


def test_view_rules(live: Live, kind: str, djpki: DjPKI) -> None:
    port = live(kind).port
    assert send(port, "/protected/rules", cert_pairs(djpki.alice)).json() == {"cn": "alice"}
    denied = send(port, "/protected/rules", cert_pairs(djpki.bob))
    assert (denied.status, denied.body) == (403, b"client certificate rejected\n")
    assert send(port, "/async/cbv", cert_pairs(djpki.bob)).status == 403


def test_drf_endpoints(live: Live, kind: str, djpki: DjPKI) -> None:
    port = live(kind).port
    mapped = send(port, "/api/whoami", cert_pairs(djpki.alice))
    assert mapped.json() == {"user": "alice", "auth_cn": "alice"}
    assert send(port, "/api/users", cert_pairs(djpki.carol)).status == 403  # no user carol
    assert send(port, "/api/services", cert_pairs(djpki.service)).status == 200


# -- optional and report-only ----------------------------------------------------------------


def test_optional_mode(live: Live, kind: str, djpki: DjPKI) -> None:
    port = live(kind, "optional").port
    anonymous = send(port, "/whoami", cert_pairs(None))
    assert anonymous.status == 200
    assert anonymous.json()["client_cert"] is None
    assert send(port, "/whoami", cert_pairs(djpki.alice)).json()["user"] == "alice"
    assert send(port, "/whoami", cert_pairs(djpki.expired)).status == 403
    assert send(port, "/protected", cert_pairs(None)).status == 401


def test_optional_mode_forged_underscore_header_never_authenticates(
    live: Live, kind: str, djpki: DjPKI
) -> None:
    """Edge forwards no certificate; the attacker adds Client_Cert with alice's."""
    pairs = [("X-Origin-Verify", EDGE_SECRET), ("Client_Cert", client_cert(djpki, "alice"))]
    reply = send(live(kind, "optional").port, "/whoami", pairs)
    if DROPS_UNDERSCORES[kind]:
        assert reply.status == 200
        assert reply.json()["client_cert"] is None
        assert reply.json()["user"] is None
    else:
        assert reply.status == 400


def test_report_only_mode(live: Live, kind: str, djpki: DjPKI) -> None:
    port = live(kind, "report_only").port
    for pairs in (
        cert_pairs(djpki.expired),
        cert_pairs(djpki.stranger),
        cert_pairs(djpki.alice, secret="wrong-secret-0123456789abcdef"),
    ):
        reply = send(port, "/whoami", pairs)
        assert reply.status == 200
        assert reply.json()["client_cert"] is None
    assert (
        send(port, "/whoami", cert_pairs(djpki.alice)).json()["client_cert"]["common_name"]
        == "alice"
    )
    assert send(port, "/protected/rules", cert_pairs(djpki.bob)).status == 200
    assert "would reject (report-only) reason=expired" in live(kind, "report_only").log()


# -- start-up --------------------------------------------------------------------------------


def test_misconfigured_server_refuses_to_start(
    base_env: dict[str, str], kind: str, tmp_path: Path
) -> None:
    env = {**base_env, "OV_TEST_ANCHORS": str(tmp_path / "missing.pem")}
    server = Server(kind, env, tmp_path / "server.log")
    code = server.wait_exit(timeout=60)
    assert code != 0
    log = server.log()
    assert "ImproperlyConfigured" in log
    assert "ORIGINVERIFY: trust anchors" in log


def test_gunicorn_merging_underscore_headers_refuses_to_start(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    """header_map=dangerous folds Client_Cert into Client-Cert: nothing could tell them apart."""
    server = Server("gunicorn", base_env, tmp_path / "server.log", ("--header-map", "dangerous"))
    assert server.wait_exit(timeout=60) != 0
    assert "header_map='dangerous'" in server.log()


def test_refusals_are_visible_under_stock_django_logging(
    base_env: dict[str, str], kind: str, djpki: DjPKI, tmp_path: Path
) -> None:
    """No LOGGING setting at all: one WARNING line per refusal still reaches stderr."""
    server = Server(kind, {**base_env, "OV_TEST_STOCK_LOGGING": "1"}, tmp_path / "stock.log")
    try:
        server.wait_ready()
        before = server.log().count("originverify: rejected reason=")
        assert send(server.port, "/whoami", cert_pairs(djpki.stranger)).status == 403
        assert send(server.port, "/whoami", cert_pairs(djpki.alice)).status == 200
        deadline = time.monotonic() + 5
        while "reason=untrusted_chain" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.log()
        assert log.count("originverify: rejected reason=") == before + 1, log
        line = next(x for x in log.splitlines() if "reason=untrusted_chain" in x)
        assert "status=403" in line and "peer=127.0.0.1" in line and "leaf_sha256=" in line
        assert EDGE_SECRET not in log
    finally:
        server.stop()
