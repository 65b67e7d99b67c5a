"""The forwarder's settings, checked once at start-up so a bad combination never serves traffic."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from originverify.edge.eventloop import EventLoop, uvloop_installed
from originverify.edge.styles import Style


class Mode(Enum):
    """How the TLS handshake treats the client certificate (CloudFront's three modes)."""

    PASSTHROUGH = "passthrough"
    OPTIONAL = "optional"
    REQUIRED = "required"


class UnderscorePolicy(Enum):
    """What to do with ``Client_Cert``-style names that alias a protected header."""

    REJECT = "reject"
    DROP = "drop"


class ConfigError(ValueError):
    """The configuration cannot be served safely; the message says what to change."""


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int = 16384
    max_body_bytes: int | None = None
    handshake_timeout: float = 10.0
    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    upstream_connect_timeout: float = 5.0
    upstream_read_timeout: float = 60.0
    drain_timeout: float = 30.0
    upstream_pool_size: int = 64


@dataclass(frozen=True)
class EdgeConfig:
    listen: Address
    upstream: Address
    cert: Path
    key: Path
    mode: Mode = Mode.PASSTHROUGH
    style: Style = Style.CLOUDFRONT_PASSTHROUGH
    client_ca: Path | None = None
    origin_secret: bytes | None = None
    origin_secret_header: str = "X-Origin-Verify"  # noqa: S105 (a header name)
    underscore_headers: UnderscorePolicy = UnderscorePolicy.REJECT
    workers: int = 1
    access_log: str = "-"
    limits: Limits = Limits()
    # Signed envelope (RFC 9421): the edge's private key (or HMAC secret) file and its key id.
    sign_key: Path | None = None
    key_id: str | None = None
    event_loop: EventLoop = EventLoop.AUTO

    def __post_init__(self) -> None:
        if self.mode is Mode.PASSTHROUGH and self.client_ca is not None:
            raise ConfigError(
                "--client-ca has no effect in passthrough mode (nothing is validated at the "
                "edge); drop it or use --mode optional/required"
            )
        if self.mode is not Mode.PASSTHROUGH and self.client_ca is None:
            raise ConfigError(f"--mode {self.mode.value} needs --client-ca")
        if self.style is Style.CLOUDFRONT_VIEWER and self.mode is Mode.PASSTHROUGH:
            # CloudFront-Viewer-Cert-Pem means "the edge validated this"; emitting it for an
            # unvalidated certificate would invite an origin to skip validation.
            raise ConfigError("--style cloudfront-viewer needs --mode optional or required")
        if not _TOKEN.fullmatch(self.origin_secret_header):
            raise ConfigError(f"invalid header name {self.origin_secret_header!r}")
        if self.workers < 1:
            raise ConfigError("--workers must be at least 1")
        if (self.sign_key is None) != (self.key_id is None):
            raise ConfigError("--sign-key and --key-id go together (the key id names the key)")
        if self.event_loop is EventLoop.UVLOOP and not uvloop_installed():
            raise ConfigError(
                "--event-loop uvloop: uvloop is not installed "
                "(pip install 'originverify[edge-fast]'), or use --event-loop auto"
            )


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SECRET_VALUE = re.compile(rb"[\x21-\x7e]+")


def parse_listen(text: str) -> Address:
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([^:\[\]]+):(\d+)", text)
    if not m:
        raise ConfigError(f"listen address must be HOST:PORT or [IPv6]:PORT, got {text!r}")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if port > 65535:
        raise ConfigError(f"port out of range in {text!r}")
    return Address(host, port)


def parse_upstream(text: str) -> Address:
    parts = urlsplit(text)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"upstream must look like http://HOST:PORT, got {text!r}")
    if parts.query or parts.fragment or parts.username:
        raise ConfigError(f"upstream must look like http://HOST:PORT, got {text!r}")
    return Address(parts.hostname, parts.port or 80)


def load_secret(*, file: Path | None, env: str | None) -> bytes | None:
    """Read the edge secret from a file or an environment variable, never from argv."""
    if file is not None and env is not None:
        raise ConfigError("give either --origin-secret-file or --origin-secret-env, not both")
    if file is not None:
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read origin secret file: {exc.strerror}") from None
        source = f"file {file}"
    elif env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"environment variable {env} is not set")
        raw = value.encode("utf-8")
        source = f"variable {env}"
    else:
        return None
    secret = raw.strip()
    # The value is sent as a header: visible ASCII only, and long enough to be a real secret.
    if not _SECRET_VALUE.fullmatch(secret):
        raise ConfigError(f"origin secret in {source} must be visible ASCII without spaces")
    if len(secret) < 16:
        raise ConfigError(f"origin secret in {source} is shorter than 16 characters")
    return secret
