"""examples/flask_app.py, run exactly as its docstring and docs/flask.md say."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from ovkit import (
    ROOT,
    Pki,
    edge,
    example_env,
    free_port,
    gunicorn_argv,
    read_headers_file,
    running,
    wait_for_file,
)

pytestmark = pytest.mark.e2e


def test_example_under_gunicorn(pki: Pki, tmp_path: Path) -> None:
    port = free_port()
    argv = gunicorn_argv("examples.flask_app:create_app()", port)
    with running(argv, port, example_env(pki), tmp_path / "log", cwd=ROOT) as server:

        def get(path: str, headers: list[tuple[str, str]]) -> httpx.Response:
            return httpx.get(server.url + path, headers=headers, timeout=10)

        assert get("/hello", edge(pki.alice)).text == "hello alice\n"
        assert get("/hello", edge()).status_code == 401
        assert get("/admin", edge(pki.alice)).text.startswith("welcome")
        assert get("/admin", edge(pki.bob)).status_code == 403
        assert get("/health", []).text == "ok"
        assert get("/", edge()).text.startswith("anonymous")
        me = get("/api/me", edge(pki.alice)).json()
        assert me["spiffe_id"] == "spiffe://example.org/admin/alice"
        # The example's error handler: JSON with the reason code under /api/, the standard
        # refusal (the same text every originverify adapter answers) elsewhere.
        refused = get("/api/me", edge(pki.expired))
        assert refused.json() == {"error": "client certificate rejected", "reason": "expired"}
        assert get("/hello", edge(pki.expired)).text == "client certificate rejected\n"
        assert "client certificate refused: expired" in server.output()


def test_example_demo_mode(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, str(ROOT / "examples" / "flask_app.py"), "--demo", "--port", str(port)]
    with running(argv, port, {}, tmp_path / "log", cwd=tmp_path) as server:
        wait_for_file(tmp_path / "demo-pki" / "nobody.headers", server)

        def curl(name: str, path: str) -> httpx.Response:
            headers = read_headers_file(tmp_path / "demo-pki" / f"{name}.headers")
            return httpx.get(server.url + path, headers=headers, timeout=10)

        assert curl("alice", "/hello").text == "hello alice\n"
        assert curl("bob", "/admin").status_code == 403
        assert curl("nobody", "/hello").status_code == 401
        assert httpx.get(server.url + "/hello", timeout=10).status_code == 403
