"""``Edge``: the headers your edge adds to a request, for a test client.

It writes exactly what the configured preset's edge writes (``wire``), with the edge's
secret header, or a signed RFC 9421 envelope over them, and gives the matching settings for
``build_verifier``, Flask's ``app.config`` and Django's ``ORIGINVERIFY``, so a test builds
its origin and its requests from one object.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..formats import PRESETS, CertificateFormat
from . import wire
from .pki import PKI, anchors_pem, client_cert

DEFAULT_SECRET_HEADER = "X-Origin-Verify"  # noqa: S105 - a header name
#: ``Edge(secret=RANDOM)`` (the default): a fresh random secret per edge.
RANDOM: Final = "\x00random"  # not a valid header value, so never a real secret


class Edge:
    """An edge that forwards client certificates in ``format``'s headers.

    ``format``: a preset name, or a format from a preset's factory with renamed headers
    (``formats.alb_passthrough(cert="X-Client-Cert")``): the edge then writes the new names.
    ``secret``: the edge's secret header value (random by default, ``None`` for none: then
    prove the source otherwise, e.g. ``trusted_proxies`` in the settings). ``signed=True``
    also signs every request with a fresh Ed25519 key (the ``signed`` extra).
    """

    def __init__(
        self,
        format: str | CertificateFormat = "cloudfront-passthrough",
        *,
        secret: str | None = RANDOM,
        secret_header: str = DEFAULT_SECRET_HEADER,
        signed: bool = False,
        key_id: str = "test-edge",
    ) -> None:
        self.certificate_format: str | CertificateFormat = format
        self.format = format if isinstance(format, str) else format.name
        self._encode = wire.encoder(self.format)
        self._renamed = _renamed_headers(format)
        if secret == "":
            raise ValueError("an empty edge secret proves nothing; pass None for no secret")
        self.secret = secrets.token_urlsafe(24) if secret is RANDOM else secret
        self.secret_header = secret_header
        self.key_id = key_id
        self._key = Ed25519PrivateKey.generate() if signed else None
        self._signer: Any = None
        if self._key is not None:
            from ..signatures import EnvelopeSigner

            self._signer = EnvelopeSigner(self._key, key_id)

    def __repr__(self) -> str:
        return f"Edge({self.format!r}, signed={self._key is not None})"

    @property
    def signed(self) -> bool:
        return self._key is not None

    def pairs(
        self,
        cert: Any = None,
        *,
        method: str = "GET",
        path: str = "/",
        host: str = "testserver",
    ) -> list[tuple[str, str]]:
        """The headers the edge adds, as ``(name, value)`` pairs; ``cert=None`` for a
        request without a client certificate. ``method``, ``path`` (with the query) and
        ``host`` matter only when signed: they must be what the application will see."""
        out: list[tuple[str, str]] = []
        if cert is not None:
            client = client_cert(cert)
            pairs = self._encode(client.der, client.chain_der)
            out.extend((self._renamed.get(name.lower(), name), value) for name, value in pairs)
        if self.secret is not None:
            out.append((self.secret_header, self.secret))
        if self._signer is not None:
            out.extend(self._signer.sign(method, host, path, out))
        return out

    def headers(self, cert: Any = None, **request: str) -> dict[str, str]:
        """``pairs`` as a dict: the ``headers=`` argument of Flask's, Django's (4.2+),
        Starlette's / FastAPI's ``TestClient`` and httpx."""
        return dict(self.pairs(cert, **request))

    def environ(self, cert: Any = None, **request: str) -> dict[str, str]:
        """``pairs`` as WSGI environ keys (``HTTP_CLIENT_CERT``): Flask's ``environ_base``,
        Django's ``Client.get(path, **environ)``, or a raw WSGI call."""
        return {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in self.pairs(cert, **request)
        }

    def settings(self, anchors: Any, **extra: Any) -> dict[str, Any]:
        """``build_verifier`` settings of an origin behind this edge: format, anchors (a
        ``PKI``, trustme ``CA``, certificate or PEM), the secret, the signing key, plus
        ``extra`` keys (``mode``, ``rules``, ...)."""
        out: dict[str, Any] = {
            "format": self.certificate_format,
            "anchors": anchors_pem(anchors),
        }
        intermediates = _intermediates_pem(anchors)
        if intermediates and self.format not in wire.CARRIES_CHAIN:
            out["extra_intermediates"] = intermediates
        if self.secret is not None:
            out["edge_secret_header"] = self.secret_header
            out["edge_secrets"] = [self.secret]
        if self._key is not None:
            public = self._key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            out["signature_keys"] = {self.key_id: public.decode("ascii")}
            if self.secret is not None:
                out["signature_extra_headers"] = [self.secret_header.lower()]
        out.update(extra)
        return out

    def flask_config(self, anchors: Any, **extra: Any) -> dict[str, Any]:
        """``settings`` as Flask ``app.config`` keys (``ORIGINVERIFY_FORMAT``, ...)."""
        return {f"ORIGINVERIFY_{k.upper()}": v for k, v in self.settings(anchors, **extra).items()}

    def django_setting(self, anchors: Any, **extra: Any) -> dict[str, Any]:
        """``settings`` as Django's ``ORIGINVERIFY`` dict (upper-case keys)."""
        return {k.upper(): v for k, v in self.settings(anchors, **extra).items()}


def _renamed_headers(fmt: str | CertificateFormat) -> dict[str, str]:
    """Preset header name (lower case) → the name ``fmt`` reads instead, for renamed formats."""
    if isinstance(fmt, str):
        return {}
    preset = PRESETS.get(fmt.name)
    if preset is None or len(preset.header_names) != len(fmt.header_names):
        raise ValueError(
            f"the testing kit writes presets and their renamed variants; {fmt.name!r} with "
            f"headers {fmt.header_names} is neither"
        )
    return {
        old.lower(): new
        for old, new in zip(preset.header_names, fmt.header_names, strict=True)
        if old != new
    }


def _intermediates_pem(source: Any) -> bytes:
    if isinstance(source, PKI):
        return source.intermediates_pem
    if hasattr(source, "parent_cert") and hasattr(source, "cert_pem"):  # trustme.CA
        blobs = []
        while source.parent_cert is not None:
            blobs.append(source.cert_pem.bytes())
            source = source.parent_cert
        return b"".join(blobs)
    return b""
