"""Django integration for originverify: verify client certificates forwarded by the edge.

Add ``"django_originverify"`` to ``INSTALLED_APPS``, one ``ORIGINVERIFY`` dict to the
settings, and ``django_originverify.middleware.ClientCertMiddleware`` to ``MIDDLEWARE``; every
request then carries ``request.client_identity``. Like ``django.contrib.auth``, the pieces live in
submodules named after what they are, so importing this package never touches the app
registry or the settings:

- ``middleware.ClientCertMiddleware`` and ``middleware.client_identity``
- ``backends.ClientCertBackend`` (certificate → ``User``, cf. ``RemoteUserBackend``)
- ``decorators.client_cert_required`` and ``mixins.ClientCertRequiredMixin``
- ``drf.ClientCertAuthentication`` and ``drf.HasClientCert`` (Django REST framework)
- ``signals.client_verified`` and ``signals.client_rejected`` (audit logs)
- ``conf.load_settings`` (validate an ``ORIGINVERIFY`` dict without a running project)
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
