"""Certificates and the exact wire forms each edge writes, for the format tests.

The encoders here deliberately avoid ``originverify``: each one re-implements what the edge
does (per shared/reference/header-formats.md) with the standard library only, so a decoder
bug cannot hide behind a matching encoder bug.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote, quote_plus

from cryptography import x509

from originverify.devpki import CertificateAuthority, Issued
from originverify.headers import HeaderList

Pairs = list[tuple[str, str]]


@dataclass(frozen=True)
class Client:
    """A client certificate and the intermediates it presents (TLS order, root excluded)."""

    issued: Issued

    @property
    def leaf(self) -> bytes:
        return self.issued.der

    @property
    def chain(self) -> tuple[bytes, ...]:
        return self.issued.chain_der

    @property
    def root(self) -> bytes:
        from originverify.devpki import cert_der

        return cert_der(self.issued.root)

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.leaf).digest()

    @property
    def serial(self) -> int:
        return int(self.issued.cert.serial_number)


@cache
def client() -> Client:
    """EC leaf under two intermediates: chain = (issuing intermediate, upper intermediate)."""
    root = CertificateAuthority.root_ca("wire root")
    upper = root.intermediate("wire upper intermediate")
    issuing = upper.intermediate("wire issuing intermediate")
    return Client(
        issuing.issue("wire client", uris=["spiffe://example.org/client"], dns=["client.test"])
    )


@cache
def rsa_client() -> Client:
    """RSA leaf directly under a root: no intermediates, longer base64 with more '+' and '/'."""
    root = CertificateAuthority.root_ca("wire rsa root", key_type="rsa")
    return Client(root.issue("wire rsa client", key_type="rsa"))


def headers(*pairs: tuple[str, str]) -> HeaderList:
    return HeaderList(list(pairs))


# -- encodings, the way each edge writes them ------------------------------------------------


def pem(der: bytes) -> str:
    """OpenSSL's PEM: 64-column base64 lines, LF endings, trailing LF."""
    return ssl.DER_cert_to_PEM_cert(der)


def b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


def sf_binary(der: bytes) -> str:
    return f":{b64(der)}:"


def nginx_escaped(der: bytes) -> str:
    """``$ssl_client_escaped_cert``: everything but ``A-Z a-z 0-9 - . _ ~`` as ``%XX``."""
    return quote(pem(der), safe="")


def alb_escaped(ders: Sequence[bytes], *, escape_padding: bool = False) -> str:
    """ALB: ``+ = /`` kept literal ("safe"), or ``=`` as ``%3D`` as in AWS's own example."""
    return quote("".join(pem(d) for d in ders), safe="+/" if escape_padding else "+/=")


def envoy_escaped(ders: Sequence[bytes]) -> str:
    """Envoy's ``urlEncodedPemEncodedPeerCertificate``: ``%20 %0A %2F %2B %3D`` all escaped."""
    return quote("".join(pem(d) for d in ders), safe="")


def apache_spaced(der: bytes) -> str:
    """mod_headers ``unwrap_header``: every CR and LF becomes a space (then OWS trimmed)."""
    return pem(der).replace("\r", " ").replace("\n", " ").rstrip(" ")


def nginx_folded(der: bytes) -> str:
    """Deprecated ``$ssl_client_cert``: TAB before every line after the first, no final LF."""
    return pem(der).rstrip("\n").replace("\n", "\n\t")


def nginx_unfolded(der: bytes) -> str:
    """What h11 / gunicorn (``permit_obsolete_folding``) hand over: each fold is one space."""
    return pem(der).rstrip("\n").replace("\n", " ")


def traefik_list(ders: Sequence[bytes]) -> str:
    return ",".join(b64(d) for d in ders)


def traefik_info(elements: Sequence[Sequence[tuple[str, str]]]) -> str:
    """Go's ``url.QueryEscape`` of ``Key="value"`` pairs (``;``), certificates by ``,``."""
    text = ",".join(";".join(f'{k}="{v}"' for k, v in element) for element in elements)
    return quote_plus(text, safe="")


def xfcc_element(pairs: Sequence[tuple[str, str]]) -> str:
    """One XFCC element; values with ``, ; = "`` quoted, ``"`` escaped as Envoy does."""
    out = []
    for key, value in pairs:
        if key in ("Cert", "Chain", "Subject") or any(ch in value for ch in ',;="'):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(f"{key}={value}")
    return ";".join(out)


# -- a full request per preset: headers a correctly configured edge sends ---------------------

#: Presets whose wire form can carry intermediates, and how many at most in our tests.
CHAIN_CAPABLE = {
    "rfc9440",
    "cloudfront-passthrough",
    "alb-passthrough",
    "envoy-xfcc",
    "apache",
    "traefik",
    "haproxy",
    "gcp",
    "cloudflare-rfc9440",
}


def _rfc9440(cert: str, chain: str) -> Callable[[bytes, Sequence[bytes]], Pairs]:
    def encode(leaf: bytes, rest: Sequence[bytes]) -> Pairs:
        out = [(cert, sf_binary(leaf))]
        if rest:
            out.append((chain, ", ".join(sf_binary(d) for d in rest)))
        return out

    return encode


def _apache(leaf: bytes, rest: Sequence[bytes]) -> Pairs:
    out = [("X-SSL-Client-Cert", apache_spaced(leaf))]
    for index in range(3):
        value = apache_spaced(rest[index]) if index < len(rest) else "(null)"
        out.append((f"X-SSL-Client-Cert-Chain-{index}", value))
    return out


def _haproxy(leaf: bytes, rest: Sequence[bytes]) -> Pairs:
    return [
        ("X-SSL-Client-Cert", b64(leaf)),
        ("X-SSL-Client-Chain", b64(b"".join(rest)) if rest else "-"),
        ("X-SSL-Client-Verify", "0"),
        ("X-SSL-Client-SHA256", hashlib.sha256(leaf).hexdigest().upper()),
    ]


def _xfcc(leaf: bytes, rest: Sequence[bytes]) -> Pairs:
    subject, san = "CN=wire client", x509.SubjectAlternativeName([])
    try:  # round-trip tests feed arbitrary bytes: those get no SAN pairs
        cert = x509.load_der_x509_certificate(leaf)
        subject = cert.subject.rfc4514_string()
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        pass
    pairs = [
        ("By", "spiffe://example.org/origin"),
        ("Hash", hashlib.sha256(leaf).hexdigest()),
        ("Cert", envoy_escaped([leaf])),
        ("Chain", envoy_escaped([leaf, *rest])),
        ("Subject", subject),
        # Envoy writes one URI= / DNS= pair per SAN of the certificate (checked by the origin).
        *(("URI", u) for u in san.get_values_for_type(x509.UniformResourceIdentifier)),
        *(("DNS", d) for d in san.get_values_for_type(x509.DNSName)),
    ]
    return [("x-forwarded-client-cert", xfcc_element(pairs))]


#: preset name → encoder(leaf DER, chain DERs) → the headers that edge sends.
ENCODERS: dict[str, Callable[[bytes, Sequence[bytes]], Pairs]] = {
    "rfc9440": _rfc9440("Client-Cert", "Client-Cert-Chain"),
    "cloudfront-passthrough": _rfc9440("Client-Cert", "Client-Cert-Chain"),
    "cloudfront-viewer": lambda leaf, _: [("CloudFront-Viewer-Cert-Pem", alb_escaped([leaf]))],
    "alb-passthrough": lambda leaf, rest: [("X-Amzn-Mtls-Clientcert", alb_escaped([leaf, *rest]))],
    "alb-verify": lambda leaf, _: [("X-Amzn-Mtls-Clientcert-Leaf", alb_escaped([leaf]))],
    "envoy-xfcc": _xfcc,
    "nginx": lambda leaf, _: [
        ("X-SSL-Client-Cert", nginx_escaped(leaf)),
        ("X-SSL-Client-Verify", "SUCCESS"),
    ],
    "nginx-legacy": lambda leaf, _: [("X-SSL-Client-Cert", nginx_folded(leaf))],
    "ingress-nginx": lambda leaf, _: [
        ("ssl-client-cert", nginx_escaped(leaf)),
        ("ssl-client-verify", "SUCCESS"),
    ],
    "apache": _apache,
    "traefik": lambda leaf, rest: [("X-Forwarded-Tls-Client-Cert", traefik_list([leaf, *rest]))],
    "haproxy": _haproxy,
    "caddy": lambda leaf, _: [
        ("X-Client-Cert", b64(leaf)),
        ("X-Client-Cert-Sha256", hashlib.sha256(leaf).hexdigest()),
    ],
    "gcp": lambda leaf, rest: [
        ("X-Client-Cert-Leaf", sf_binary(leaf)),
        ("X-Client-Cert-Chain", ",".join(sf_binary(d) for d in rest)),
        ("X-Client-Cert-Present", "true"),
        ("X-Client-Cert-Chain-Verified", "true"),
        ("X-Client-Cert-Error", ""),
        ("X-Client-Cert-Hash", base64.b64encode(hashlib.sha256(leaf).digest()).decode()),
    ],
    "cloudflare-rfc9440": lambda leaf, rest: [
        ("Client-Cert", sf_binary(leaf)),
        ("Client-Cert-Chain", ", ".join(sf_binary(d) for d in rest)),
        ("cf-cert-presented", "true"),
        ("cf-cert-verified", "true"),
        ("cf-cert-revoked", "false"),
        ("cf-cert-sha256", hashlib.sha256(leaf).hexdigest()),
    ],
    "cloudflare-access": lambda leaf, _: [
        ("Cf-Client-Cert-Der-Base64", b64(leaf)),
        ("Cf-Client-Cert-Sha256", hashlib.sha256(leaf).hexdigest()),
    ],
    "azure-app-service": lambda leaf, _: [("X-ARR-ClientCert", b64(leaf))],
}

#: Metadata-only presets: the edge never sends the certificate.
METADATA_ONLY = {"cloudflare"}
