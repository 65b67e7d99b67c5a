"""Settings for the real-server tests; the values come from the environment the test sets.

The in-process tests reuse everything here except ``ORIGINVERIFY`` and ``DATABASES``
(see ``conftest.py``).
"""

from __future__ import annotations

import json
import os

DEBUG = False
SECRET_KEY = "django-originverify-tests-only-" + "x" * 20
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "djtestproject.urls"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "django_originverify",
    "djtestproject",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_originverify.middleware.ClientCertMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "django_originverify.backends.ClientCertBackend",
    "django.contrib.auth.backends.ModelBackend",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["django_originverify.drf.ClientCertAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["django_originverify.drf.HasClientCert"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("OV_TEST_DB", ":memory:"),
    }
}

if not os.environ.get("OV_TEST_STOCK_LOGGING"):  # set: Django's default logging, untouched
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"class": "logging.StreamHandler"}},
        "loggers": {"originverify": {"handlers": ["stderr"], "level": "INFO"}},
    }

if "OV_TEST_ANCHORS" in os.environ:
    ORIGINVERIFY = {
        "ANCHORS": os.environ["OV_TEST_ANCHORS"],
        "EDGE_SECRETS_ENV": "OV_TEST_SECRET",
        "MODE": os.environ.get("OV_TEST_MODE", "required"),
        "LOGIN_USERS": True,
        **json.loads(os.environ.get("OV_TEST_EXTRA", "{}")),
    }
