"""``originverify``: check a captured request, capture some, run the demo, run the edge.

argparse (standard library) parses the command line; ``http.client.parse_headers`` (also
standard library) parses captured header blocks, duplicates and order kept, after
``read_request`` has refused what is not a header block (caps on size, lines and line
length; control bytes; lines that are not ``Name: value``).
"""

from __future__ import annotations

import argparse
import email.message
import http.client
import importlib.util
import io
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import formats
from .capture import PEER_PREFIX, REDACTED
from .diagnose import chain_diagnosis, other_formats
from .errors import ConfigurationError, Reason
from .headers import HeaderList
from .source import EdgeSecret, InsecureNoSourceProof, SourceProof, TrustedProxies, sources_from
from .trust import TrustStore
from .verifier import Report, Verifier

OK, FAIL = "✓", "✗"

# Where in the request path each reason is decided, and what usually fixes it.
_STAGE: dict[Reason, str] = {
    Reason.EDGE_SECRET_MISSING: "source proof",
    Reason.EDGE_SECRET_MISMATCH: "source proof",
    Reason.PROXY_NOT_TRUSTED: "source proof",
    Reason.EDGE_MISMATCH: "edge claims",
    Reason.RULE_DENIED: "rules",
    Reason.MISSING_CERTIFICATE: "decode",
}
_HINTS: dict[Reason, str] = {
    Reason.EDGE_SECRET_MISSING: "the edge must add its secret header (CloudFront: origin "
    "custom header); give the accepted secret with --edge-secret-env/--edge-secret-file, or "
    "--no-source-check to analyse a capture without it",
    Reason.EDGE_SECRET_MISMATCH: "the secret does not match any accepted value; during "
    "rotation list both old and new secrets (comma separated)",
    Reason.PROXY_NOT_TRUSTED: "the peer address is not in --trusted-proxy; pass --peer with "
    "the edge's address",
    Reason.DUPLICATE_HEADER: "a single-valued header arrived twice: something between the "
    "client and the origin adds instead of replacing (strip client copies at the edge)",
    Reason.AMBIGUOUS_HEADER_NAME: "a header was spelled with '_' (e.g. Client_Cert): the edge "
    "must strip underscore spellings of certificate headers",
    Reason.HEADER_TOO_LARGE: "raise the limit (Limits) or have the edge omit the root",
    Reason.MALFORMED_HEADER: "the header is not in the format chosen with --format; check the "
    "edge's configuration and the format table in docs/edges.md",
    Reason.MALFORMED_CERTIFICATE: "the header decoded, but not to an X.509 DER certificate",
    Reason.CHAIN_WITHOUT_LEAF: "the chain header arrived without the leaf header",
    Reason.CHAIN_TOO_LONG: "the client sent more chain certificates than allowed",
    Reason.MISSING_CERTIFICATE: "no client certificate reached the origin: check the edge "
    "requests one and forwards it (CloudFront: allowlist Client-Cert in the origin request "
    "policy)",
    Reason.UNSUPPORTED_KEY: "the key size or exponent is outside the accepted range",
    Reason.EXPIRED: "renew the certificate (or fix the origin's clock)",
    Reason.NOT_YET_VALID: "the certificate starts in the future: check clocks or allow clock_skew",
    Reason.UNTRUSTED_CHAIN: "no path to the configured anchors: check --anchors holds the "
    "issuing root and the edge forwards the intermediates (or pass --extra-intermediates)",
    Reason.CHAIN_TOO_DEEP: "more intermediates than max_chain_depth allows",
    Reason.BAD_USAGE: "the certificate is not for client authentication (EKU clientAuth "
    "missing on the leaf or an intermediate)",
    Reason.NAME_CONSTRAINTS: "a name in the leaf is outside a CA's name constraints",
    Reason.INVALID_CERTIFICATE: "the certificate breaks the profile's rules; try --profile "
    "private for private-CA certificates (CN only, critical EKU)",
    Reason.EDGE_MISMATCH: "the edge's metadata headers disagree with the forwarded "
    "certificate: a sign of tampering or of headers not set by the edge",
    Reason.RULE_DENIED: "the certificate is valid but not on the allow-list",
}


MAX_CAPTURE_BYTES = 1 << 20
MAX_HEADER_FIELDS = 100
MAX_LINE_BYTES = 64 * 1024
_FIELD = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_PEER = re.compile(r"peer=(\S+)")


class CaptureError(ValueError):
    """The input is not a request head ``check`` can read; the message says where."""


def _check_lines(lines: list[bytes], first: int) -> None:
    fields = 0
    for number, line in enumerate(lines, start=first):
        if len(line) > MAX_LINE_BYTES:
            raise CaptureError(f"line {number} is longer than {MAX_LINE_BYTES // 1024} KiB")
        control = _CONTROL.search(line)
        if control:
            raise CaptureError(
                f"line {number} holds the control byte 0x{control.group()[0]:02x}: "
                "not an HTTP header block (binary data?)"
            )
        if line[:1] in (b" ", b"\t"):
            if number == first:
                raise CaptureError(f"line {number} continues a header that does not exist")
            continue  # obs-fold: continues the previous field
        if not _FIELD.match(line):
            raise CaptureError(f"line {number} is not 'Name: value': {line[:60]!r}")
        fields += 1
        if fields > MAX_HEADER_FIELDS:
            raise CaptureError(f"more than {MAX_HEADER_FIELDS} header fields")


def read_request(data: bytes) -> tuple[HeaderList, dict[str, str]]:
    """Headers (and request line facts) from a captured HTTP request head; ``CaptureError``
    for anything that is not one. A leading ``# originverify capture ... peer=ADDR`` comment
    (what ``originverify.capture`` writes) gives ``peer``."""
    if len(data) > MAX_CAPTURE_BYTES:
        raise CaptureError(f"more than {MAX_CAPTURE_BYTES // 1024} KiB: not a request head")
    text = data.replace(b"\r\n", b"\n")
    lines = text.split(b"\n\n", 1)[0].split(b"\n")
    request: dict[str, str] = {}
    number = 1
    while lines and lines[0].startswith(b"#"):
        comment = lines.pop(0).decode("latin-1")
        peer = _PEER.search(comment) if comment.startswith(PEER_PREFIX) else None
        if peer and peer.group(1) != "-":
            request["peer"] = peer.group(1)
        number += 1
    parts = lines[0].split() if lines else []
    if len(parts) == 3 and parts[2].startswith(b"HTTP/") and b":" not in parts[0]:
        request |= {"method": parts[0].decode("latin-1"), "target": parts[1].decode("latin-1")}
        lines.pop(0)
        number += 1
    lines = [line for line in lines if line]
    if not lines and not request:
        raise CaptureError("empty: no request line and no header fields")
    _check_lines(lines, number)
    head = b"\n".join(lines) + b"\n\n"
    try:
        message: email.message.Message = http.client.parse_headers(io.BytesIO(head))
    except http.client.HTTPException as exc:  # its own caps, in case ours change
        raise CaptureError(f"cannot parse the header block: {exc}") from None
    return HeaderList(message.items()), request


def _describe_cert(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        kind = f"RSA-{key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind = f"EC {key.curve.name}"
    else:
        kind = type(key).__name__.replace("PublicKey", "").lstrip("_")
    return (
        f"{cert.subject.rfc4514_string()}  ←  {cert.issuer.rfc4514_string()}  "
        f"[{cert.not_valid_before_utc:%Y-%m-%d} → {cert.not_valid_after_utc:%Y-%m-%d}, {kind}]"
    )


def print_report(
    report: Report, out: io.TextIOBase | None = None, *, diagnosis: Sequence[str] = ()
) -> None:
    """Every step, the verdict, and what to fix: ``diagnosis`` (lines from
    ``originverify.diagnose``) when given, the reason's usual fix otherwise."""
    stream = out or sys.stdout
    for step in report.steps:
        if step.name == "verdict":
            continue
        print(f"  {OK if step.ok else FAIL} {step.name:<17} {step.detail}", file=stream)
        if step.name == "chain" and report.path:
            for index, cert in enumerate(report.path):
                tag = " (anchor)" if index == len(report.path) - 1 else ""
                print(f"      [{index}] {_describe_cert(cert)}{tag}", file=stream)
    if report.error is not None:
        reason = report.error.reason
        stage = _STAGE.get(reason) or ("decode" if reason.http_status == 400 else "chain")
        print(f"  {FAIL} {stage:<17} {reason.value}: {report.error.detail}", file=stream)
        for index, cert in enumerate(report.presented):
            role = "leaf" if index == 0 else f"chain[{index - 1}]"
            print(f"      {role}: {_describe_cert(cert)}", file=stream)
        print(f"\nREJECTED ({reason.http_status} {reason.value})", file=stream)
        for line in diagnosis:
            print(line, file=stream)
        if reason in _HINTS and not any(line.startswith("fix:") for line in diagnosis):
            print(f"fix: {_HINTS[reason]}", file=stream)
    elif report.identity is not None:
        ident = report.identity
        print(
            f"\nACCEPTED {ident.subject}  sha256={ident.fingerprint_sha256}\n"
            f"checks: {', '.join(ident.checks)}",
            file=stream,
        )
    else:
        print("\nACCEPTED as anonymous (no client certificate, optional mode)", file=stream)


def _source_from_args(args: argparse.Namespace) -> SourceProof:
    proofs: list[SourceProof] = []
    if args.edge_secret_env:
        proofs.append(EdgeSecret.from_env(args.edge_secret_env, args.edge_secret_header))
    if args.edge_secret_file:
        proofs.append(EdgeSecret.from_file(args.edge_secret_file, args.edge_secret_header))
    if args.trusted_proxy:
        proofs.append(TrustedProxies(args.trusted_proxy))
    if proofs:
        return sources_from(proofs)
    if args.no_source_check:
        return InsecureNoSourceProof()
    raise ConfigurationError(
        "say how the request proves it came from the edge: --edge-secret-env VAR, "
        "--edge-secret-file FILE, --trusted-proxy CIDR, or --no-source-check"
    )


def _read_input(name: str | None) -> bytes:
    if name in (None, "-"):
        return sys.stdin.buffer.read(MAX_CAPTURE_BYTES + 1)
    with Path(name).open("rb") as stream:
        return stream.read(MAX_CAPTURE_BYTES + 1)


def _diagnosis(report: Report, verifier: Verifier, headers: HeaderList) -> list[str]:
    """Specific fixes for the mistakes the generic hint cannot tell apart."""
    reason = report.error.reason if report.error else None
    if reason is Reason.UNTRUSTED_CHAIN and verifier.trust is not None:
        snapshot = verifier.trust.snapshot
        return chain_diagnosis(report.presented, snapshot.anchors, snapshot.extra_intermediates)
    if reason in (Reason.MISSING_CERTIFICATE, Reason.MALFORMED_HEADER, Reason.CHAIN_WITHOUT_LEAF):
        found = other_formats(headers, verifier.format.name)
        if found:
            names = "; ".join(f"{name} ({', '.join(seen)})" for name, seen in found)
            choices = " or ".join(f"--format {name}" for name, _ in found)
            return [
                f"wrong format? the request carries a client certificate in the headers of: "
                f"{names}",
                f"fix: run check with {choices} (whichever is your edge), and configure the "
                "origin's format the same way",
            ]
    if reason is Reason.EDGE_SECRET_MISMATCH and REDACTED in {v for _, v in headers.items()}:
        return ["fix: this capture's secret was redacted: check it with --no-source-check"]
    return []


def cmd_check(args: argparse.Namespace) -> int:
    try:
        headers, request = read_request(_read_input(args.request))
    except CaptureError as exc:
        print(f"originverify check: cannot read the captured request: {exc}", file=sys.stderr)
        return 2
    peer = args.peer or request.pop("peer", None)
    request.pop("peer", None)
    verifier = Verifier(
        trust=TrustStore(args.anchors, args.extra_intermediates or ()),
        source=_source_from_args(args),
        format=args.format,
        mode=args.mode,
        profile=args.profile,
        require_eku=args.require_eku,
        clock_skew=args.clock_skew,
        validation_time=args.time,
        cache=None,
    )
    print(
        f"originverify check: format {verifier.format.name}, profile {args.profile}, "
        f"mode {verifier.mode.value}"
    )
    report = verifier.explain(headers, peer, **request)
    print_report(report, diagnosis=_diagnosis(report, verifier, headers))
    return 0 if report.accepted else 1


def cmd_capture(args: argparse.Namespace) -> int:
    """A stand-in origin that answers 200 and writes what the edge sends (debugging)."""
    from wsgiref.simple_server import make_server

    from .capture import CaptureWSGI

    def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"captured by originverify\n"]

    host, _, port = args.listen.rpartition(":")
    app = CaptureWSGI(answer, args.directory, limit=args.limit, redact=args.redact or ())
    with make_server(host or "127.0.0.1", int(port), app) as server:
        print(f"originverify capture: listening on {args.listen}, writing to {args.directory}")
        while app.store.written < args.limit:
            server.handle_request()
    print(f"originverify capture: {args.limit} requests captured in {args.directory}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="originverify",
        description="Verify client certificates forwarded by an edge in HTTP headers.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_check(commands)
    _add_capture(commands)

    demo = commands.add_parser(
        "demo",
        help="throwaway PKI, the reference edge forwarder, an example origin, real requests",
    )
    demo.add_argument(
        "--offline",
        action="store_true",
        help="judge the same requests in-process, without forwarder and origin",
    )
    demo.set_defaults(func=_run_demo)

    from .signatures_cli import configure_keygen_parser, run_keygen

    keygen = commands.add_parser(
        "keygen", help="create an Ed25519 key pair for the signed edge envelope"
    )
    configure_keygen_parser(keygen)
    keygen.set_defaults(func=run_keygen)
    _add_edge(commands)
    return parser


Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_check(commands: Commands) -> None:
    check = commands.add_parser(
        "check",
        help="explain the verdict on a captured request's headers",
        description="Read a captured request head (file or stdin) and show every step.",
    )
    check.add_argument("request", nargs="?", help="file with the raw header block ('-': stdin)")
    check.add_argument("--anchors", required=True, help="trust anchors: PEM file or directory")
    check.add_argument("--extra-intermediates", help="PEM file of intermediates to add")
    check.add_argument(
        "--format",
        default="cloudfront-passthrough",
        choices=sorted(formats.PRESETS),
        help="the edge's header format",
    )
    check.add_argument(
        "--mode", default="required", choices=["required", "optional", "report_only"]
    )
    check.add_argument("--profile", default="private", choices=["private", "webpki"])
    check.add_argument("--require-eku", action="store_true", help="leaf must carry clientAuth EKU")
    check.add_argument("--clock-skew", type=float, default=0, help="seconds of tolerated skew")
    check.add_argument(
        "--time", type=_iso_time, help="validate at this ISO 8601 time instead of now"
    )
    check.add_argument("--peer", help="the TCP peer address the request came from")
    check.add_argument("--edge-secret-header", default="X-Origin-Verify")
    check.add_argument("--edge-secret-env", help="environment variable holding the secret(s)")
    check.add_argument("--edge-secret-file", help="file holding the secret(s), one per line")
    check.add_argument("--trusted-proxy", action="append", help="CIDR of the edge (repeatable)")
    check.add_argument(
        "--no-source-check",
        action="store_true",
        help="skip the source proof (analysing a capture without the secret)",
    )
    check.set_defaults(func=cmd_check)


def _add_capture(commands: Commands) -> None:
    capture = commands.add_parser(
        "capture",
        help="a stand-in origin that writes the requests the edge sends, for check",
        description="Answer 200 to every request and write its head (secrets redacted) in "
        "check's input format. Point the edge at it, send a request, then run check on the "
        "file. In an existing app, wrap it with originverify.capture.CaptureWSGI/CaptureASGI.",
    )
    capture.add_argument("directory", help="folder for the request-NNNN.http files")
    capture.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT to listen on")
    capture.add_argument("--limit", type=int, default=5, help="stop after this many requests")
    capture.add_argument(
        "--redact", action="append", help="another header whose value is never written"
    )
    capture.set_defaults(func=cmd_capture)


def _add_edge(commands: Commands) -> None:
    missing = _edge_extra_missing()
    if missing:  # the 'edge' extra is not installed: say how to get it, not a traceback
        # Listed in --help; main() answers ``originverify edge ...`` before parsing.
        edge = commands.add_parser(
            "edge", help="run the reference edge forwarder (needs the 'edge' extra)"
        )
        edge.set_defaults(func=lambda args: _edge_missing(missing))
    else:
        from .edge import cli as edge_cli

        edge = commands.add_parser("edge", help="run the reference edge forwarder")
        edge_cli.configure_parser(edge)
        edge.set_defaults(func=edge_cli.run)


def _edge_extra_missing() -> str | None:
    """Which module of the 'edge' extra is missing, if any (found without importing it)."""
    for module in ("OpenSSL", "httptools"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"no module named {module!r}"
        except (ImportError, ValueError):
            return f"module {module!r} cannot be imported"
    return None


def _edge_missing(error: str) -> int:
    print(
        "originverify edge needs the 'edge' extra (pyOpenSSL, httptools):\n"
        "    pip install 'originverify[edge]'\n"
        f"(import failed: {error})",
        file=sys.stderr,
    )
    return 2


def _iso_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-01-31T12:00:00+00:00)"
        ) from None


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run

    return run(offline=args.offline)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["edge"]:
        missing = _edge_extra_missing()
        if missing:
            return _edge_missing(missing)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigurationError as exc:
        print(f"originverify: configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"originverify: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
