"""The exact headers each preset's edge writes, for users' tests.

One encoder per preset, written from the edges' documentation
(/docs/edges.md and the reference it cites), with the standard library only: what goes on the
wire here is what the real edge sends, so a test that passes with these headers exercises the
same decoding path production does.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Callable, Sequence
from urllib.parse import quote

from cryptography import x509

Pairs = list[tuple[str, str]]
Encoder = Callable[[bytes, Sequence[bytes]], Pairs]


def pem(der: bytes) -> str:
    """OpenSSL's PEM: 64-column base64 lines, LF endings, trailing LF."""
    return ssl.DER_cert_to_PEM_cert(der)


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


def _sf_binary(der: bytes) -> str:
    return f":{_b64(der)}:"


def _url_pem(ders: Sequence[bytes], safe: str) -> str:
    return quote("".join(pem(d) for d in ders), safe=safe)


def _spaced_pem(der: bytes) -> str:
    """Apache mod_headers: every CR and LF of the PEM becomes a space."""
    return pem(der).replace("\n", " ").rstrip(" ")


def _folded_pem(der: bytes) -> str:
    """nginx's deprecated ``$ssl_client_cert`` after the server unfolded it: one space per
    line break (what gunicorn, uvicorn and the test clients hand the application)."""
    return pem(der).rstrip("\n").replace("\n", " ")


def _sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _rfc9440(cert: str, chain: str) -> Encoder:
    def encode(leaf: bytes, rest: Sequence[bytes]) -> Pairs:
        out = [(cert, _sf_binary(leaf))]
        if rest:
            out.append((chain, ", ".join(_sf_binary(d) for d in rest)))
        return out

    return encode


def _apache(leaf: bytes, rest: Sequence[bytes]) -> Pairs:
    out = [("X-SSL-Client-Cert", _spaced_pem(leaf))]
    for index in range(3):
        value = _spaced_pem(rest[index]) if index < len(rest) else "(null)"
        out.append((f"X-SSL-Client-Cert-Chain-{index}", value))
    return out


def _haproxy(leaf: bytes, rest: Sequence[bytes]) -> Pairs:
    return [
        ("X-SSL-Client-Cert", _b64(leaf)),
        ("X-SSL-Client-Chain", _b64(b"".join(rest)) if rest else "-"),
        ("X-SSL-Client-Verify", "0"),
        ("X-SSL-Client-SHA256", _sha256_hex(leaf).upper()),
    ]


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _xfcc_value(value: str) -> str:
    return _quoted(value) if any(ch in value for ch in ',;="') else value


def _xfcc(leaf: bytes, rest: Sequence[bytes]) -> Pairs:
    cert = x509.load_der_x509_certificate(leaf)
    pairs = [
        ("Hash", _sha256_hex(leaf)),
        ("Cert", _quoted(_url_pem([leaf], ""))),
        ("Chain", _quoted(_url_pem([leaf, *rest], ""))),
        ("Subject", _quoted(cert.subject.rfc4514_string())),
    ]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        pairs += [("URI", _xfcc_value(u)) for u in uris]
        pairs += [("DNS", _xfcc_value(d)) for d in san.get_values_for_type(x509.DNSName)]
    return [("X-Forwarded-Client-Cert", ";".join(f"{k}={v}" for k, v in pairs))]


def _gcp(leaf: bytes, rest: Sequence[bytes]) -> Pairs:
    return [
        ("X-Client-Cert-Leaf", _sf_binary(leaf)),
        ("X-Client-Cert-Chain", ",".join(_sf_binary(d) for d in rest)),
        ("X-Client-Cert-Present", "true"),
        ("X-Client-Cert-Chain-Verified", "true"),
        ("X-Client-Cert-Error", ""),
        ("X-Client-Cert-Hash", _b64(hashlib.sha256(leaf).digest())),
    ]


def _cloudflare_rfc9440(leaf: bytes, rest: Sequence[bytes]) -> Pairs:
    return [
        *_rfc9440("Client-Cert", "Client-Cert-Chain")(leaf, rest),
        ("cf-cert-presented", "true"),
        ("cf-cert-verified", "true"),
        ("cf-cert-revoked", "false"),
        ("cf-cert-sha256", _sha256_hex(leaf)),
    ]


#: preset name → encoder(leaf DER, chain DERs, issuer first) → the headers that edge sends.
ENCODERS: dict[str, Encoder] = {
    "rfc9440": _rfc9440("Client-Cert", "Client-Cert-Chain"),
    "cloudfront-passthrough": _rfc9440("Client-Cert", "Client-Cert-Chain"),
    "cloudfront-viewer": lambda leaf, _: [
        ("CloudFront-Viewer-Cert-Pem", _url_pem([leaf], "+/=")),
    ],
    "alb-passthrough": lambda leaf, rest: [
        ("X-Amzn-Mtls-Clientcert", _url_pem([leaf, *rest], "+/=")),
    ],
    "alb-verify": lambda leaf, _: [("X-Amzn-Mtls-Clientcert-Leaf", _url_pem([leaf], "+/="))],
    "envoy-xfcc": _xfcc,
    "nginx": lambda leaf, _: [
        ("X-SSL-Client-Cert", _url_pem([leaf], "")),
        ("X-SSL-Client-Verify", "SUCCESS"),
    ],
    "nginx-legacy": lambda leaf, _: [("X-SSL-Client-Cert", _folded_pem(leaf))],
    "ingress-nginx": lambda leaf, _: [
        ("ssl-client-cert", _url_pem([leaf], "")),
        ("ssl-client-verify", "SUCCESS"),
    ],
    "apache": _apache,
    "traefik": lambda leaf, rest: [
        ("X-Forwarded-Tls-Client-Cert", ",".join(_b64(d) for d in (leaf, *rest))),
    ],
    "haproxy": _haproxy,
    "caddy": lambda leaf, _: [
        ("X-Client-Cert", _b64(leaf)),
        ("X-Client-Cert-Sha256", _sha256_hex(leaf)),
    ],
    "gcp": _gcp,
    "cloudflare-rfc9440": _cloudflare_rfc9440,
    "cloudflare-access": lambda leaf, _: [
        ("Cf-Client-Cert-Der-Base64", _b64(leaf)),
        ("Cf-Client-Cert-Sha256", _sha256_hex(leaf)),
    ],
    "azure-app-service": lambda leaf, _: [("X-ARR-ClientCert", _b64(leaf))],
}

#: Presets whose headers carry intermediates; the others need ``extra_intermediates``.
CARRIES_CHAIN = frozenset(
    {"rfc9440", "cloudfront-passthrough", "alb-passthrough", "envoy-xfcc", "apache", "traefik"}
    | {"haproxy", "gcp", "cloudflare-rfc9440"}
)


def encoder(format_name: str) -> Encoder:
    """The encoder of one preset; ``ValueError`` names the presets it knows."""
    try:
        return ENCODERS[format_name]
    except KeyError:
        known = ", ".join(sorted(ENCODERS))
        raise ValueError(
            f"the testing kit writes the headers of the presets ({known}); "
            f"{format_name!r} is not one of them"
        ) from None
