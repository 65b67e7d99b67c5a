"""``originverify``: check a captured request, run the demo, run the reference edge.

argparse (standard library) parses the command line; ``http.client.parse_headers`` (also
standard library) parses captured header blocks, duplicates and order kept.
"""

from __future__ import annotations

import argparse
import email.message
import http.client
import io
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import formats
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


def read_request(data: bytes) -> tuple[HeaderList, dict[str, str]]:
    """Headers (and request line facts) from a captured HTTP request head."""
    text = data.replace(b"\r\n", b"\n")
    request: dict[str, str] = {}
    first, _, rest = text.partition(b"\n")
    parts = first.split()
    if len(parts) == 3 and parts[2].startswith(b"HTTP/"):
        request = {"method": parts[0].decode("latin-1"), "target": parts[1].decode("latin-1")}
        text = rest
    head = text.split(b"\n\n", 1)[0] + b"\n\n"
    message: email.message.Message = http.client.parse_headers(io.BytesIO(head))
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


def print_report(report: Report, out: io.TextIOBase | None = None) -> None:
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
        if reason in _HINTS:
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


def cmd_check(args: argparse.Namespace) -> int:
    data = (
        sys.stdin.buffer.read() if args.request in (None, "-") else Path(args.request).read_bytes()
    )
    headers, request = read_request(data)
    verifier = Verifier(
        trust=TrustStore(args.anchors, args.extra_intermediates or ()),
        source=_source_from_args(args),
        format=args.format,
        mode=args.mode,
        profile=args.profile,
        require_eku=args.require_eku,
        clock_skew=args.clock_skew,
        validation_time=datetime.fromisoformat(args.time) if args.time else None,
        cache=None,
    )
    print(
        f"originverify check: format {verifier.format.name}, profile {args.profile}, "
        f"mode {verifier.mode.value}"
    )
    report = verifier.explain(headers, args.peer, **request)
    print_report(report)
    return 0 if report.accepted else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="originverify",
        description="Verify client certificates forwarded by an edge in HTTP headers.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

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
    check.add_argument("--time", help="validate at this ISO 8601 time instead of now")
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

    try:
        from .edge import cli as edge_cli
    except ImportError:  # the 'edge' extra is not installed
        pass
    else:
        edge = commands.add_parser("edge", help="run the reference edge forwarder")
        edge_cli.configure_parser(edge)
        edge.set_defaults(func=edge_cli.run)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run

    return run(offline=args.offline)


def main(argv: Sequence[str] | None = None) -> int:
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
