"""Django for the tests in this folder only.

Configured with ``settings.configure`` when this conftest is collected (pytest-django then
sees configured settings), never through ``DJANGO_SETTINGS_MODULE``, so nothing leaks into
the rest of the suite or into the environment of servers other tests start. The settings are
``djtestproject.settings`` with an in-memory database and an ``ORIGINVERIFY`` that trusts a
PKI generated here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
for _path in (HERE.parent.parent / "integrations", HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import django  # noqa: E402
from dj_helpers import EDGE_SECRET, DjPKI  # noqa: E402
from django.conf import settings  # noqa: E402

PKI = DjPKI.create()

BASE_ORIGINVERIFY: dict[str, Any] = {
    "ANCHORS": PKI.root.pem,  # bytes: no file needed in-process
    "EDGE_SECRETS": [EDGE_SECRET],
    "MODE": "required",
}


def _configure() -> None:
    if settings.configured:
        return
    from djtestproject import settings as project

    values = {name: getattr(project, name) for name in dir(project) if name.isupper()}
    values["DATABASES"] = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    values["ORIGINVERIFY"] = dict(BASE_ORIGINVERIFY)
    values["LOGGING"] = {"version": 1, "disable_existing_loggers": False}
    settings.configure(**values)
    django.setup()


_configure()


@pytest.fixture(scope="session")
def djpki() -> DjPKI:
    """The PKI whose root the configured ORIGINVERIFY trusts."""
    return PKI


@pytest.fixture
def ov_settings(settings: Any) -> Callable[..., dict[str, Any]]:
    """``ov_settings(MODE="optional", ...)`` replaces ``ORIGINVERIFY`` for one test."""

    def configure(**changes: Any) -> dict[str, Any]:
        value = {**BASE_ORIGINVERIFY, **changes}
        settings.ORIGINVERIFY = {k: v for k, v in value.items() if v is not None}
        return settings.ORIGINVERIFY  # type: ignore[no-any-return]

    return configure


@pytest.fixture(scope="session")
def test_database(django_test_environment: None, django_db_blocker: Any) -> Iterator[None]:
    """The in-memory test database, migrated once."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=0)


@pytest.fixture
def user_db(test_database: None, django_db_blocker: Any) -> Iterator[None]:
    """Database access, each test rolled back (what ``django_db`` does, TestCase-style).

    Not the ``django_db`` marker nor the ``db`` fixture: pytest-django moves every test
    using them to the front of the whole session, which would reorder the rest of the
    suite just because this folder is collected.
    """
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _fresh_verifier() -> Iterator[None]:
    """Each test builds its verifier from the settings it sees (and its own cache)."""
    from django_originverify import conf

    conf.reset()
    yield
    conf.reset()
