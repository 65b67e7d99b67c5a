"""Settings of the demo project. The originverify part is the ``ORIGINVERIFY`` dict."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
#: demo.py writes the throwaway CA, certificates and edge secret here.
DEMO_DIR = Path(os.environ.get("DEMO_DIR", BASE_DIR / ".demo"))

DEBUG = True
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "django_originverify",
    "demo_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # right after AuthenticationMiddleware: LOGIN_USERS replaces request.user
    "django_originverify.middleware.ClientCertMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "django_originverify.backends.ClientCertBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ORIGINVERIFY = {
    "ANCHORS": DEMO_DIR / "client-ca.pem",  # the CA that issues client certificates
    "EDGE_SECRETS_FILE": DEMO_DIR / "edge-secret",  # what the edge sends in X-Origin-Verify
    "MODE": "optional",  # anonymous requests reach the views; bad certificates do not
    "LOGIN_USERS": True,  # request.user = the certificate's user, per request
    "USER_MAPPING": "common_name",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["django_originverify.drf.ClientCertAuthentication"],
}

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DEMO_DIR / "db.sqlite3"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"demo_site.audit": {"handlers": ["console"], "level": "INFO"}},
}
