"""``ClientCertBackend``: the ``RemoteUserBackend`` of client certificates.

Called as ``django.contrib.auth.authenticate(request, client_cert=identity)`` (the middleware
does it when ``LOGIN_USERS`` is on; the DRF authentication class always does). The identity
is already verified: the backend only answers *which account is this*.

``ORIGINVERIFY["USER_MAPPING"]`` picks the value (CN by default; SAN e-mail, SPIFFE ID,
fingerprint, ... or a function) and ``USER_FIELD`` the ``User`` field, or ORM lookup across a
relation, that must equal it. Override the methods below for anything else, as with
``RemoteUserBackend``.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from originverify import ClientIdentity

from . import conf

log = logging.getLogger("originverify.django")


class ClientCertBackend(ModelBackend):
    """Map a verified ``ClientIdentity`` to a ``User``.

    Unknown certificates get no user unless ``create_unknown_user`` (class attribute, or
    ``ORIGINVERIFY["CREATE_UNKNOWN_USERS"]`` when left at ``None``) says so. Unlike
    ``RemoteUserBackend`` the default is *not* to create: every certificate the CA ever
    issued would otherwise become an account. Inactive users are refused, as by
    ``ModelBackend``; subclass ``AllowAllUsersClientCertBackend`` to allow them.
    """

    create_unknown_user: bool | None = None

    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, client_cert: ClientIdentity | None = None
    ) -> AbstractBaseUser | None:
        if not isinstance(client_cert, ClientIdentity):
            return None
        value = self.user_value(client_cert)
        if not value:
            log.info("originverify: no user name in certificate of %s", client_cert.subject)
            return None
        value = self.clean_username(value)
        user_model = get_user_model()
        field = self.user_field()
        manager = user_model._default_manager
        created = False
        try:
            if self.should_create_user():
                user, created = manager.get_or_create(
                    **{field: value}, defaults=self.user_defaults(field, value)
                )
            else:
                user = manager.get(**{field: value})
        except user_model.DoesNotExist:
            log.info("originverify: no user with %s=%r (%s)", field, value, client_cert.subject)
            return None
        except user_model.MultipleObjectsReturned:
            log.warning("originverify: several users with %s=%r; refusing to pick", field, value)
            return None
        user = self.configure_user(request, user, created=created, client_cert=client_cert)
        return user if self.user_can_authenticate(user) else None

    async def aauthenticate(  # type: ignore[override]
        self, request: HttpRequest | None, client_cert: ClientIdentity | None = None
    ) -> AbstractBaseUser | None:
        return await sync_to_async(self.authenticate)(request, client_cert=client_cert)

    # -- hooks -----------------------------------------------------------------------------

    def user_value(self, client_cert: ClientIdentity) -> str | None:
        """The value that names the user (``ORIGINVERIFY["USER_MAPPING"]``)."""
        return conf.get_options().user_mapping(client_cert)

    def user_field(self) -> str:
        """The field (or lookup) compared with ``user_value`` (``USER_FIELD``)."""
        return conf.get_options().user_field or str(get_user_model().USERNAME_FIELD)

    def should_create_user(self) -> bool:
        if self.create_unknown_user is not None:
            return self.create_unknown_user
        return conf.get_options().create_unknown_users

    def clean_username(self, username: str) -> str:
        """Normalise the value before the lookup (as ``RemoteUserBackend.clean_username``)."""
        return username

    def user_defaults(self, field: str, value: str) -> dict[str, Any]:
        """Fields of a user created for an unknown certificate, besides ``field``."""
        username_field = str(get_user_model().USERNAME_FIELD)
        return {} if field == username_field else {username_field: value}

    def configure_user(
        self,
        request: HttpRequest | None,
        user: AbstractBaseUser,
        created: bool = True,
        client_cert: ClientIdentity | None = None,
    ) -> AbstractBaseUser:
        """Adjust the user after the lookup; new users get an unusable password."""
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        return user


class AllowAllUsersClientCertBackend(ClientCertBackend):
    """Also authenticates inactive users (cf. ``AllowAllUsersRemoteUserBackend``)."""

    def user_can_authenticate(self, user: Any) -> bool:
        return True
