"""Edge formats: each preset decodes exactly what one edge sends, nothing else.

Pick one per route; never detect the format from the request (the attacker would choose).
Every preset has a factory of the same name in lower case whose keyword arguments rename
its headers (ALB listener attributes, CloudFront ``cf.mtls`` helpers, your own nginx or
HAProxy names): ``formats.alb_passthrough(cert="X-Client-Cert")``. docs/edges.md lists them.
"""

from __future__ import annotations

from .alb import ALB_PASSTHROUGH, ALB_VERIFY, alb_passthrough, alb_verify
from .apache import APACHE, apache
from .base import (
    NO_CERTIFICATE,
    CertificateFormat,
    EdgeClaims,
    ForwardedCertificate,
    Limits,
)
from .base64der import (
    AZURE_APP_SERVICE,
    CADDY,
    CLOUDFLARE_ACCESS,
    HAPROXY,
    TRAEFIK,
    azure_app_service,
    caddy,
    cloudflare_access,
    haproxy,
    traefik,
)
from .cloudflare import CLOUDFLARE, CLOUDFLARE_RFC9440, cloudflare, cloudflare_rfc9440
from .cloudfront import CloudFrontViewer, cloudfront_passthrough, cloudfront_viewer
from .encodings import EncodedCertificate
from .gcp import GCP, gcp
from .nginx import INGRESS_NGINX, NGINX, NGINX_LEGACY, ingress_nginx, nginx, nginx_legacy
from .rfc9440 import RFC9440
from .xfcc import ENVOY_XFCC, EnvoyXFCC, envoy_xfcc

RFC9440_DEFAULT = RFC9440()
CLOUDFRONT_PASSTHROUGH = cloudfront_passthrough()
CLOUDFRONT_VIEWER = cloudfront_viewer()

PRESETS: dict[str, CertificateFormat] = {
    f.name: f
    for f in (
        RFC9440_DEFAULT,
        CLOUDFRONT_PASSTHROUGH,
        CLOUDFRONT_VIEWER,
        ALB_PASSTHROUGH,
        ALB_VERIFY,
        ENVOY_XFCC,
        NGINX,
        NGINX_LEGACY,
        INGRESS_NGINX,
        APACHE,
        TRAEFIK,
        HAPROXY,
        CADDY,
        GCP,
        CLOUDFLARE,
        CLOUDFLARE_RFC9440,
        CLOUDFLARE_ACCESS,
        AZURE_APP_SERVICE,
    )
}


def get(name: str) -> CertificateFormat:
    """The preset called ``name`` (``originverify check --format NAME``)."""
    try:
        return PRESETS[name.lower().replace("_", "-")]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise KeyError(f"unknown format {name!r}; known formats: {known}") from None


__all__ = [
    "ALB_PASSTHROUGH",
    "ALB_VERIFY",
    "APACHE",
    "AZURE_APP_SERVICE",
    "CADDY",
    "CLOUDFLARE",
    "CLOUDFLARE_ACCESS",
    "CLOUDFLARE_RFC9440",
    "CLOUDFRONT_PASSTHROUGH",
    "CLOUDFRONT_VIEWER",
    "ENVOY_XFCC",
    "GCP",
    "HAPROXY",
    "INGRESS_NGINX",
    "NGINX",
    "NGINX_LEGACY",
    "NO_CERTIFICATE",
    "PRESETS",
    "RFC9440",
    "RFC9440_DEFAULT",
    "TRAEFIK",
    "CertificateFormat",
    "CloudFrontViewer",
    "EdgeClaims",
    "EncodedCertificate",
    "EnvoyXFCC",
    "ForwardedCertificate",
    "Limits",
    "alb_passthrough",
    "alb_verify",
    "apache",
    "azure_app_service",
    "caddy",
    "cloudflare",
    "cloudflare_access",
    "cloudflare_rfc9440",
    "cloudfront_passthrough",
    "cloudfront_viewer",
    "envoy_xfcc",
    "gcp",
    "get",
    "haproxy",
    "ingress_nginx",
    "nginx",
    "nginx_legacy",
    "traefik",
]
