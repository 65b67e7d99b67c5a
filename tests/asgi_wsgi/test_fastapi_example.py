"""examples/fastapi_app.py, run exactly as its docstring and docs/wsgi-asgi.md say."""

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
    read_headers_file,
    running,
    uvicorn_argv,
    wait_for_file,
)
from websockets.sync.client import connect

pytestmark = pytest.mark.e2e


def test_example_under_uvicorn(pki: Pki, tmp_path: Path) -> None:
    port = free_port()
    argv = uvicorn_argv("examples.fastapi_app:create_app", port, "--factory")
    with running(argv, port, example_env(pki), tmp_path / "log", cwd=ROOT) as server:

        def get(path: str, headers: list[tuple[str, str]]) -> httpx.Response:
            return httpx.get(server.url + path, headers=headers, timeout=10)

        assert get("/hello", edge(pki.alice)).json() == {"hello": "alice"}
        assert get("/hello", edge()).status_code == 401
        assert get("/hello", edge(pki.stranger)).status_code == 403
        assert get("/admin", edge(pki.alice)).json() == {"administrator": "alice@example.org"}
        assert get("/admin", edge(pki.bob)).status_code == 403
        assert get("/", edge()).json() == {"anonymous": True, "cn": None}
        assert get("/api/me", edge(pki.alice)).json()["common_name"] == "alice"
        url = server.url.replace("http", "ws") + "/ws"
        with connect(url, additional_headers=edge(pki.alice)) as socket:
            assert socket.recv(timeout=10) == "alice"


def test_example_demo_mode(tmp_path: Path) -> None:
    port = free_port()
    script = ROOT / "examples" / "fastapi_app.py"
    argv = [sys.executable, str(script), "--demo", "--port", str(port)]
    with running(argv, port, {}, tmp_path / "log", cwd=tmp_path) as server:
        wait_for_file(tmp_path / "demo-pki" / "nobody.headers", server)

        def curl(name: str, path: str) -> httpx.Response:
            headers = read_headers_file(tmp_path / "demo-pki" / f"{name}.headers")
            return httpx.get(server.url + path, headers=headers, timeout=10)

        assert curl("alice", "/hello").json() == {"hello": "alice"}
        assert curl("bob", "/admin").status_code == 403
        assert curl("nobody", "/hello").status_code == 401
        assert httpx.get(server.url + "/hello", timeout=10).status_code == 403
