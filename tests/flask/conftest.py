"""Fixtures for the Flask extension tests; the PKI/server kit lives in tests/asgi_wsgi."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for _path in (HERE, HERE.parent / "asgi_wsgi"):  # also under --import-mode=importlib
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from ovkit import Pki, make_pki, server_env  # noqa: E402


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("ov-flask-pki"))


@pytest.fixture
def env(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Pki:
    """The environment ``ov_flask_app.create_app`` reads, as a deployment would set it."""
    for key, value in server_env(pki).items():
        monkeypatch.setenv(key, value)
    return pki
