"""The kit's headers through the Flask, Starlette/FastAPI and Django test clients, as
docs/testing.md shows them: the real adapters, the real verifier, no mocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from originverify import build_verifier, testing
from originverify.asgi import ClientCertMiddleware, client_identity

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki() -> testing.PKI:
    return testing.PKI("frameworks")


def test_flask_test_client(pki: testing.PKI) -> None:
    from flask import Flask
    from flask_originverify import OriginVerify, client_cert_required, current_client

    edge = testing.Edge("cloudfront-passthrough")
    app = Flask("kit")
    app.config.update(edge.flask_config(pki))
    OriginVerify(app)

    @app.get("/whoami")
    @client_cert_required
    def whoami() -> str:
        return str(current_client.common_name)

    client = app.test_client()
    alice = pki.client("alice")
    answer = client.get("/whoami", headers=edge.headers(alice))
    assert (answer.status_code, answer.text) == (200, "alice")
    assert client.get("/whoami", headers=edge.headers()).status_code == 401
    assert client.get("/whoami", headers=testing.Edge().headers(alice)).status_code == 403


def test_fastapi_test_client_signed(pki: testing.PKI) -> None:
    edge = testing.Edge("envoy-xfcc", signed=True)
    app = FastAPI()
    app.add_middleware(ClientCertMiddleware, verifier=build_verifier(edge.settings(pki)))

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, str | None]:
        identity = client_identity(request)
        return {"spiffe": identity.spiffe_id if identity else None}

    bob = pki.client("bob", uris=["spiffe://example.org/bob"])
    with TestClient(app) as client:
        headers = edge.headers(bob, path="/whoami", host="testserver")
        answer = client.get("/whoami", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"spiffe": "spiffe://example.org/bob"}
        replay = client.get("/whoami", headers=headers)  # same nonce again
        assert replay.status_code == 403


def test_starlette_authentication_backend(pki: testing.PKI) -> None:
    from starlette.applications import Starlette
    from starlette.authentication import requires
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient as StarletteClient

    from originverify.starlette import ClientCertBackend

    edge = testing.Edge("nginx")

    @requires("client_cert")
    async def whoami(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.user.display_name)

    app = Starlette(
        routes=[Route("/whoami", whoami)],
        middleware=[
            Middleware(
                ClientCertMiddleware,
                verifier=build_verifier(edge.settings(pki, mode="optional")),
            ),
            Middleware(AuthenticationMiddleware, backend=ClientCertBackend()),
        ],
    )
    with StarletteClient(app) as client:
        answer = client.get("/whoami", headers=edge.headers(pki.client("dora")))
        assert answer.status_code == 200, answer.text
        assert "dora" in answer.text
        assert client.get("/whoami", headers=edge.headers()).status_code == 403  # anonymous


DJANGO_SCRIPT = """
import json, sys
from django.conf import settings
from originverify import testing

pki = testing.PKI("django")
edge = testing.Edge("alb-passthrough")
settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="kit-test",
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_originverify"],
    MIDDLEWARE=["django_originverify.middleware.ClientCertMiddleware"],
    DATABASES={},
    ORIGINVERIFY=edge.django_setting(pki),
)
import django
django.setup()
from django.http import HttpResponse
from django.test import Client
from django.urls import path

urlpatterns = [path("whoami", lambda r: HttpResponse(r.client_cert.common_name))]
carol = pki.client("carol")
client = Client()
ok = client.get("/whoami", headers=edge.headers(carol))
environ = client.get("/whoami", **edge.environ(carol))
missing = client.get("/whoami", headers=edge.headers())
print(json.dumps([ok.status_code, ok.content.decode(), environ.status_code, missing.status_code]))
"""


def test_django_test_client(tmp_path: Path) -> None:
    # A fresh interpreter: settings.configure() is once per process, and the Django tests of
    # this suite configure their own.
    script = tmp_path / "djkit.py"
    script.write_text(DJANGO_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "integrations")])}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [200, "carol", 200, 401]
