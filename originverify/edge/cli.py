"""``originverify edge``: command-line options and the TOML config file that mirrors them.

Every option can also be given in the ``--config`` file under the same name without the dashes in
front (``origin-secret-file = "secret.txt"``); the command line wins. The origin secret itself is
only ever read from a file or an environment variable, so it never shows up in ``ps``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from originverify.edge.config import (
    ConfigError,
    EdgeConfig,
    Limits,
    Mode,
    UnderscorePolicy,
    load_secret,
    parse_listen,
    parse_upstream,
)
from originverify.edge.eventloop import EventLoop
from originverify.edge.styles import Style

if TYPE_CHECKING:  # pragma: no cover
    from originverify.signatures import EnvelopeSigner

_DEST_PREFIX = "edge_"  # keeps our options apart from the main CLI's in a shared Namespace


@dataclass(frozen=True)
class _Option:
    name: str
    kind: Callable[[str], Any]
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    path: bool = False


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_positive_float.__name__ = "positive number"
_positive_int.__name__ = "positive integer"

_DEFAULT_LIMITS = Limits()
_OPTIONS: tuple[_Option, ...] = (
    _Option("listen", str, "127.0.0.1:8443", "address to accept TLS on, HOST:PORT"),
    _Option("upstream", str, "http://127.0.0.1:8000", "origin to forward to, http://HOST:PORT"),
    _Option("cert", str, None, "server certificate chain (PEM)", path=True),
    _Option("key", str, None, "server private key (PEM)", path=True),
    _Option(
        "mode",
        str,
        Mode.PASSTHROUGH.value,
        "passthrough: accept any client certificate (proof of possession only); "
        "optional: validate a presented certificate against --client-ca; "
        "required: like optional, and a certificate is mandatory",
        tuple(m.value for m in Mode),
    ),
    _Option("client-ca", str, None, "CA bundle (PEM) for optional/required", path=True),
    _Option(
        "style",
        str,
        Style.CLOUDFRONT_PASSTHROUGH.value,
        "which edge's certificate headers to write",
        tuple(s.value for s in Style),
    ),
    _Option(
        "origin-secret-file", str, None, "file holding the edge secret header value", path=True
    ),
    _Option("origin-secret-env", str, None, "environment variable holding the edge secret"),
    _Option("origin-secret-header", str, "X-Origin-Verify", "header name for the edge secret"),
    _Option(
        "sign-key",
        str,
        None,
        "sign every forwarded request (RFC 9421 signed envelope) with this Ed25519 private key "
        "or hmac-sha256 secret file, as `originverify keygen` writes them",
        path=True,
    ),
    _Option("key-id", str, None, "key id the origin knows the --sign-key key by"),
    _Option(
        "underscore-headers",
        str,
        UnderscorePolicy.REJECT.value,
        "what to do with a header such as Client_Cert that folds onto a protected name",
        tuple(p.value for p in UnderscorePolicy),
    ),
    _Option("workers", _positive_int, 1, "worker processes sharing the port (SO_REUSEPORT)"),
    _Option(
        "event-loop",
        str,
        EventLoop.AUTO.value,
        "auto: uvloop when installed (the edge-fast extra), else asyncio's loop",
        tuple(e.value for e in EventLoop),
    ),
    _Option("access-log", str, "-", "access log file, '-' for stderr, 'off' to disable"),
    _Option(
        "max-header-bytes",
        _positive_int,
        _DEFAULT_LIMITS.max_header_bytes,
        "largest request head accepted (431 above)",
    ),
    _Option("max-body-bytes", _positive_int, None, "largest request body accepted (413 above)"),
    _Option("handshake-timeout", _positive_float, _DEFAULT_LIMITS.handshake_timeout, "seconds"),
    _Option(
        "header-timeout",
        _positive_float,
        _DEFAULT_LIMITS.header_timeout,
        "seconds to receive a complete request head (408 after)",
    ),
    _Option(
        "idle-timeout",
        _positive_float,
        _DEFAULT_LIMITS.idle_timeout,
        "seconds a keep-alive connection or a request body may stay silent",
    ),
    _Option(
        "upstream-connect-timeout",
        _positive_float,
        _DEFAULT_LIMITS.upstream_connect_timeout,
        "seconds (504 after)",
    ),
    _Option(
        "upstream-read-timeout",
        _positive_float,
        _DEFAULT_LIMITS.upstream_read_timeout,
        "seconds the origin may stay silent (504 before the response starts)",
    ),
    _Option(
        "drain-timeout",
        _positive_float,
        _DEFAULT_LIMITS.drain_timeout,
        "seconds in-flight requests get after SIGTERM",
    ),
    _Option(
        "upstream-pool-size",
        _positive_int,
        _DEFAULT_LIMITS.upstream_pool_size,
        "idle origin connections kept per worker",
    ),
    _Option(
        "log-level",
        str,
        "warning",
        "error log verbosity",
        ("debug", "info", "warning", "error"),
    ),
)
_BY_NAME = {o.name: o for o in _OPTIONS}


def _dest(name: str) -> str:
    return _DEST_PREFIX + name.replace("-", "_")


def _metavar(opt: _Option) -> str:
    if opt.kind is _positive_float:
        return "SECONDS"
    if opt.name == "key-id":
        return "ID"
    return opt.name.split("-")[-1].upper()


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the edge options to ``parser`` (a subcommand parser of the main CLI, or our own)."""
    parser.description = (
        "Reference edge forwarder: terminates TLS with client certificates and forwards them to "
        "an origin in the headers a real edge (CloudFront, ALB, Envoy) would write."
    )
    parser.add_argument(
        "--config", dest=_dest("config"), metavar="FILE", help="TOML file with the same keys"
    )
    for opt in _OPTIONS:
        default = f" (default: {opt.default})" if opt.default is not None else ""
        parser.add_argument(
            f"--{opt.name}",
            dest=_dest(opt.name),
            type=opt.kind,
            choices=opt.choices,
            default=None,  # None = not given, so the config file can fill it in
            metavar=None if opt.choices else _metavar(opt),
            help=opt.help + default,
        )


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("_", "-")
        opt = _BY_NAME.get(name)
        if opt is None:
            hint = " (put the secret in a file or variable)" if "secret" in name else ""
            raise ConfigError(f"{path}: unknown key {key!r}{hint}")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"{path}: {key} must be a string or a number")
        try:
            parsed = opt.kind(str(value))
        except ValueError:
            raise ConfigError(f"{path}: invalid value for {key}: {value!r}") from None
        if opt.choices and parsed not in opt.choices:
            raise ConfigError(f"{path}: {key} must be one of {', '.join(opt.choices)}")
        if opt.path:
            parsed = str((path.parent / parsed).resolve())
        values[name] = parsed
    return values


def build_config(args: argparse.Namespace) -> tuple[EdgeConfig, str]:
    """Defaults, then the config file, then the command line; returns the config and log level."""
    values = {o.name: o.default for o in _OPTIONS}
    config_file = getattr(args, _dest("config"), None)
    if config_file:
        values.update(_from_file(Path(config_file)))
    for opt in _OPTIONS:
        given = getattr(args, _dest(opt.name), None)
        if given is not None:
            values[opt.name] = given
    for required in ("cert", "key"):
        if not values[required]:
            raise ConfigError(f"--{required} is required")

    def path(name: str) -> Path | None:
        return Path(values[name]) if values[name] else None

    secret_file = path("origin-secret-file")
    limits = Limits(
        max_header_bytes=values["max-header-bytes"],
        max_body_bytes=values["max-body-bytes"],
        handshake_timeout=values["handshake-timeout"],
        header_timeout=values["header-timeout"],
        idle_timeout=values["idle-timeout"],
        upstream_connect_timeout=values["upstream-connect-timeout"],
        upstream_read_timeout=values["upstream-read-timeout"],
        drain_timeout=values["drain-timeout"],
        upstream_pool_size=values["upstream-pool-size"],
    )
    config = EdgeConfig(
        listen=parse_listen(values["listen"]),
        upstream=parse_upstream(values["upstream"]),
        cert=Path(values["cert"]),
        key=Path(values["key"]),
        mode=Mode(values["mode"]),
        style=Style(values["style"]),
        client_ca=path("client-ca"),
        origin_secret=load_secret(file=secret_file, env=values["origin-secret-env"]),
        origin_secret_header=values["origin-secret-header"],
        underscore_headers=UnderscorePolicy(values["underscore-headers"]),
        workers=values["workers"],
        access_log=values["access-log"],
        limits=limits,
        sign_key=path("sign-key"),
        key_id=values["key-id"],
        event_loop=EventLoop(values["event-loop"]),
    )
    return config, values["log-level"]


def load_signer(config: EdgeConfig) -> EnvelopeSigner | None:
    """The request signer, built once at start-up (before workers fork); None if not signing."""
    if config.sign_key is None or config.key_id is None:
        return None
    # Imported here: the signed envelope needs the "signed" extra (http-message-signatures).
    from originverify.errors import ConfigurationError
    from originverify.signatures import EnvelopeSigner

    try:
        return EnvelopeSigner.from_file(config.sign_key, config.key_id)
    except ConfigurationError as exc:
        raise ConfigError(f"--sign-key: {exc}") from None


def run(args: argparse.Namespace) -> int:
    try:
        config, log_level = build_config(args)
        signer = load_signer(config)
    except ConfigError as exc:
        print(f"originverify edge: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # pyOpenSSL is needed only from here on (it is the optional "edge" extra).
    from OpenSSL import SSL

    from originverify.edge.serve import serve

    try:
        return serve(config, signer)
    except OSError as exc:
        print(f"originverify edge: {exc}", file=sys.stderr)
        return 1
    except SSL.Error as exc:  # unreadable or mismatched certificate/key
        print(f"originverify edge: cannot load TLS material: {exc}", file=sys.stderr)
        return 1
