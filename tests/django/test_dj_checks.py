"""System checks: each misconfiguration fires its id, with a hint; a good one fires none."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dj_helpers import DjPKI
from django.core.checks import CheckMessage
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django_originverify.checks import check_originverify
from django_originverify.middleware import ClientCertMiddleware

from originverify.devpki import CertificateAuthority

Configure = Callable[..., Any]
MIDDLEWARE = "django_originverify.middleware.ClientCertMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"


class SubclassedMiddleware(ClientCertMiddleware):
    pass


def ids() -> list[str]:
    messages: list[CheckMessage] = check_originverify()
    for message in messages:
        assert message.hint, f"{message.id} has no hint"
    return sorted(str(m.id) for m in messages)


def test_good_configuration_passes() -> None:
    assert ids() == []


def test_missing_setting(settings: Any) -> None:
    del settings.ORIGINVERIFY
    assert ids() == ["originverify.E001"]
    settings.ORIGINVERIFY = ["not", "a", "dict"]
    assert ids() == ["originverify.E001"]


def test_unknown_key(ov_settings: Configure) -> None:
    ov_settings(ANCHOR="typo.pem")
    assert ids() == ["originverify.E002"]


def test_unset_secret_variable(ov_settings: Configure, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OV_UNSET_SECRET", raising=False)
    ov_settings(EDGE_SECRETS=None, EDGE_SECRETS_ENV="OV_UNSET_SECRET")
    assert ids() == ["originverify.E002"]


def test_no_trust_anchors(ov_settings: Configure) -> None:
    ov_settings(ANCHORS=None)
    assert ids() == ["originverify.E003"]


def test_anchors_file_missing(ov_settings: Configure, tmp_path: Path) -> None:
    ov_settings(ANCHORS=str(tmp_path / "missing.pem"))
    assert ids() == ["originverify.E004"]


def test_anchors_file_not_a_certificate(ov_settings: Configure, tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    ov_settings(ANCHORS=str(garbage))
    assert ids() == ["originverify.E004"]


def test_expired_anchor_warns(ov_settings: Configure) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    old = CertificateAuthority.root_ca(
        "old root", not_before=past - dt.timedelta(days=9), not_after=past
    )
    ov_settings(ANCHORS=old.pem)
    assert ids() == ["originverify.W003"]


def test_no_source_proof(ov_settings: Configure) -> None:
    ov_settings(EDGE_SECRETS=None)
    assert ids() == ["originverify.E005"]


def test_source_proof_opt_out_in_production(ov_settings: Configure, settings: Any) -> None:
    ov_settings(EDGE_SECRETS=None, INSECURE_NO_SOURCE_PROOF=True)
    settings.DEBUG = False
    assert ids() == ["originverify.E006"]
    settings.DEBUG = True
    assert ids() == ["originverify.W001"]


def test_report_only_in_production_warns(ov_settings: Configure, settings: Any) -> None:
    ov_settings(MODE="report_only")
    settings.DEBUG = False
    assert ids() == ["originverify.W002"]
    settings.DEBUG = True
    assert ids() == []


def test_middleware_missing(settings: Any) -> None:
    settings.MIDDLEWARE = [SESSIONS, AUTH]
    assert ids() == ["originverify.E007"]


def test_middleware_subclass_counts(settings: Any) -> None:
    settings.MIDDLEWARE = [SESSIONS, AUTH, f"{__name__}.SubclassedMiddleware"]
    assert ids() == []


def test_login_users_with_middleware_before_authentication(
    ov_settings: Configure, settings: Any
) -> None:
    ov_settings(LOGIN_USERS=True)
    settings.MIDDLEWARE = [MIDDLEWARE, SESSIONS, AUTH]
    assert ids() == ["originverify.E008"]
    settings.MIDDLEWARE = [SESSIONS, MIDDLEWARE]
    assert ids() == ["originverify.E008"]
    settings.MIDDLEWARE = [SESSIONS, AUTH, MIDDLEWARE]
    assert ids() == []


def test_login_users_without_backend(ov_settings: Configure, settings: Any) -> None:
    ov_settings(LOGIN_USERS=True)
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    assert ids() == ["originverify.E009"]


@pytest.mark.parametrize(
    "option",
    [
        {"FAILURE_VIEW": "nowhere.view"},
        {"FAILURE_VIEW": 42},
        {"USER_MAPPING": "nickname"},
        {"LOGIN_USERS": "yes"},
        {"KEEP_HEADERS": 1},
        {"USER_FIELD": ""},
    ],
)
def test_invalid_django_option(ov_settings: Configure, option: dict[str, Any]) -> None:
    ov_settings(**option)
    assert ids() == ["originverify.E010"]


def test_create_unknown_users_across_a_relation(ov_settings: Configure) -> None:
    ov_settings(
        USER_MAPPING="fingerprint",
        USER_FIELD="certificates__fingerprint",
        CREATE_UNKNOWN_USERS=True,
    )
    assert ids() == ["originverify.E011"]


def test_several_problems_are_reported_together(ov_settings: Configure, settings: Any) -> None:
    ov_settings(ANCHORS=None, EDGE_SECRETS=None, LOGIN_USERS=True)
    settings.AUTHENTICATION_BACKENDS = []
    settings.MIDDLEWARE = []
    assert ids() == [
        "originverify.E003",
        "originverify.E005",
        "originverify.E007",
        "originverify.E009",
    ]


def test_checks_are_registered_with_django(ov_settings: Configure, djpki: DjPKI) -> None:
    ov_settings(EDGE_SECRETS=None)
    with pytest.raises(SystemCheckError, match=r"originverify\.E005"):
        call_command("check", tags=["originverify"])
    ov_settings()
    call_command("check", tags=["security"])  # no error once fixed
