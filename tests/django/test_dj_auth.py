"""ClientCertBackend and LOGIN_USERS: certificates mapped to Django users."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from dj_helpers import DjPKI, cert_headers, cert_pairs
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client
from django_originverify import conf
from django_originverify.backends import ClientCertBackend
from django_originverify.mapping import by_email
from djtestproject.models import CertificateBinding

from originverify import ClientIdentity

pytestmark = pytest.mark.usefixtures("user_db")

Configure = Callable[..., Any]


def identity_of(leaf: Any) -> ClientIdentity:
    identity = conf.get_verifier().verify_request(cert_pairs(leaf))
    assert identity is not None
    return identity


def user_seen(client: Client, leaf: Any, path: str = "/whoami") -> str | None:
    response = client.get(path, headers=cert_headers(leaf))
    assert response.status_code == 200, response.content
    return response.json()["user"]  # type: ignore[no-any-return]


@pytest.fixture
def login(ov_settings: Configure) -> Configure:
    def configure(**changes: Any) -> Any:
        return ov_settings(LOGIN_USERS=True, **changes)

    return configure


def test_existing_user_is_logged_in_per_request(
    client: Client, djpki: DjPKI, login: Configure
) -> None:
    login()
    User.objects.create_user("alice")
    assert user_seen(client, djpki.alice) == "alice"
    assert "sessionid" not in client.cookies  # no session was created


def test_async_views_get_the_user_from_auser(
    async_client: AsyncClient, djpki: DjPKI, login: Configure
) -> None:
    login()
    User.objects.create_user("alice")
    response = async_to_sync(async_client.get)("/async/whoami", headers=cert_headers(djpki.alice))
    assert response.json()["user"] == "alice"


def test_unknown_user_is_not_created_by_default(
    client: Client, djpki: DjPKI, login: Configure
) -> None:
    login()
    assert user_seen(client, djpki.carol) is None
    assert not User.objects.filter(username="carol").exists()


def test_unknown_user_is_created_when_asked(client: Client, djpki: DjPKI, login: Configure) -> None:
    login(CREATE_UNKNOWN_USERS=True)
    assert user_seen(client, djpki.carol) == "carol"
    carol = User.objects.get(username="carol")
    assert not carol.has_usable_password()
    assert user_seen(client, djpki.carol) == "carol"
    assert User.objects.filter(username="carol").count() == 1


def test_backend_attribute_overrides_the_setting(djpki: DjPKI, login: Configure) -> None:
    login(CREATE_UNKNOWN_USERS=False)

    class Creating(ClientCertBackend):
        create_unknown_user = True

    user = Creating().authenticate(None, client_cert=identity_of(djpki.carol))
    assert user is not None
    assert user.get_username() == "carol"


def test_map_by_email_field(client: Client, djpki: DjPKI, login: Configure) -> None:
    login(USER_MAPPING="email", USER_FIELD="email")
    User.objects.create_user("a.smith", email="alice@example.com")
    assert user_seen(client, djpki.alice) == "a.smith"


def test_created_user_gets_username_from_the_mapped_value(
    client: Client, djpki: DjPKI, login: Configure
) -> None:
    login(USER_MAPPING="email", USER_FIELD="email", CREATE_UNKNOWN_USERS=True)
    assert user_seen(client, djpki.carol) == "carol@example.com"
    assert User.objects.get(email="carol@example.com").username == "carol@example.com"


def test_map_by_fingerprint_stored_on_a_model(
    client: Client, djpki: DjPKI, login: Configure
) -> None:
    login(USER_MAPPING="fingerprint", USER_FIELD="certificates__fingerprint")
    owner = User.objects.create_user("fp-owner")
    CertificateBinding.objects.create(
        user=owner, fingerprint=identity_of(djpki.bob).fingerprint_sha256
    )
    assert user_seen(client, djpki.bob) == "fp-owner"
    assert user_seen(client, djpki.alice) is None  # same CA, no binding


def test_map_by_spiffe_id(client: Client, djpki: DjPKI, login: Configure) -> None:
    login(USER_MAPPING="spiffe_id")
    User.objects.create_user("spiffe://example.org/ns/prod/sa/alice")
    assert user_seen(client, djpki.alice) == "spiffe://example.org/ns/prod/sa/alice"


def first_label_of_dns(identity: ClientIdentity) -> str | None:
    return identity.dns_names[0].split(".")[0] if identity.dns_names else None


def test_map_by_a_dotted_path_function(client: Client, djpki: DjPKI, login: Configure) -> None:
    login(USER_MAPPING=f"{__name__}.first_label_of_dns")
    User.objects.create_user("backup")
    assert user_seen(client, djpki.service) == "backup"


def test_inactive_user_is_refused(client: Client, djpki: DjPKI, login: Configure) -> None:
    login()
    User.objects.create_user("alice", is_active=False)
    assert user_seen(client, djpki.alice) is None


def test_ambiguous_match_maps_to_nobody(
    client: Client, djpki: DjPKI, login: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    login(USER_MAPPING="email", USER_FIELD="email")
    User.objects.create_user("one", email="alice@example.com")
    User.objects.create_user("two", email="alice@example.com")
    with caplog.at_level(logging.WARNING, "originverify.django"):
        assert user_seen(client, djpki.alice) is None
    assert "several users" in caplog.text


def test_several_sans_of_the_mapped_kind_map_to_nobody(djpki: DjPKI) -> None:
    two = djpki.intermediate.issue("x", emails=["a@example.com", "b@example.com"])
    identity = ClientIdentity(two.cert, (), ())
    assert by_email(identity) is None
    assert by_email(identity_of(djpki.alice)) == "alice@example.com"


def test_certificate_user_replaces_the_session_user_only_when_mapped(
    client: Client, djpki: DjPKI, login: Configure
) -> None:
    login()
    User.objects.create_user("alice")
    client.force_login(User.objects.create_user("session-bob"))
    assert user_seen(client, djpki.alice) == "alice"
    assert user_seen(client, djpki.carol) == "session-bob"  # carol maps to nobody


def test_user_lookup_is_lazy(
    client: Client, djpki: DjPKI, login: Configure, django_assert_num_queries: Any
) -> None:
    login()
    with django_assert_num_queries(0):
        assert client.get("/protected", headers=cert_headers(djpki.alice)).status_code == 200


def test_login_users_needs_authentication_middleware(
    client: Client, djpki: DjPKI, login: Configure, settings: Any
) -> None:
    login()
    settings.MIDDLEWARE = ["django_originverify.middleware.ClientCertMiddleware"]
    with pytest.raises(ImproperlyConfigured, match="AuthenticationMiddleware"):
        client.get("/whoami", headers=cert_headers(djpki.alice))


def test_authenticate_ignores_other_credentials(djpki: DjPKI) -> None:
    User.objects.create_user("alice", password="pw-0123456789")
    assert authenticate(None, client_cert="alice") is None
    assert authenticate(None, client_cert=None) is None
    assert authenticate(None, username="alice", password="pw-0123456789") is not None
    user = authenticate(None, client_cert=identity_of(djpki.alice))
    assert user is not None
    assert user.get_username() == "alice"
    assert user.backend == "django_originverify.backends.ClientCertBackend"  # type: ignore[attr-defined]


def test_login_users_off_leaves_request_user_alone(client: Client, djpki: DjPKI) -> None:
    User.objects.create_user("alice")
    assert user_seen(client, djpki.alice) is None
