"""Set-up for ``bench_edge.py`` (not a benchmark): the throwaway PKI, the Flask origin and
the nginx configuration that does the same job as the reference forwarder."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

SECRET = "bench-edge-secret-0123456789abcdef"

FLASK_APP = """
from flask import Flask, request
app = Flask(__name__)

@app.get("/")
def index():
    present = request.headers.get("CloudFront-Viewer-Cert-Present", "?")
    return {"hello": "world", "cert_present": present}
"""


def make_pki(root: Path) -> dict[str, Path]:
    now = dt.datetime.now(dt.UTC)

    def issue(
        cn: str,
        issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
        ca: bool,
        san: str | None = None,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer[0].subject if issuer else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), False)
        return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key

    def pem(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca = issue("bench CA", None, ca=True)
    server = issue("localhost", ca, ca=False, san="localhost")
    client = issue("bench client", ca, ca=False)
    files = {
        "server.pem": pem(server[0]) + pem(ca[0]),
        "server.key": key_pem(server[1]),
        "client.pem": pem(client[0]),
        "client.key": key_pem(client[1]),
        "secret.txt": SECRET.encode(),
    }
    paths = {}
    for name, data in files.items():
        (root / name).write_bytes(data)
        paths[name] = root / name
    signing = ed25519.Ed25519PrivateKey.generate()
    paths["sign.key"] = root / "sign.key"
    paths["sign.key"].write_bytes(
        signing.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log error;
events {{ worker_connections 4096; }}
http {{
  access_log {root}/nginx-access.log combined buffer=64k flush=1s;
  map $ssl_client_verify $cert_present {{ NONE 0; default 1; }}
  upstream origin {{ server 127.0.0.1:{origin}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} ssl reuseport;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client optional_no_ca;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets off;
    keepalive_requests 1000000;
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Client-Cert $ssl_client_escaped_cert;
      proxy_set_header Client-Cert-Chain "";
      proxy_set_header CloudFront-Viewer-Cert-Present $cert_present;
      proxy_set_header CloudFront-Viewer-Cert-Sha256 "";
      proxy_set_header X-Origin-Verify "{secret}";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header Forwarded "for=$remote_addr;proto=https";
    }}
  }}
}}
"""


def nginx_command(
    root: Path, pki: dict[str, Path], workers: int, origin_name: str, origin_port: int, port: int
) -> list[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = root / f"nginx-{origin_name}"
    conf = root / f"nginx-{origin_name}.conf"
    conf.write_text(
        NGINX_CONF.format(
            workers=workers,
            root=prefix,
            origin=origin_port,
            port=port,
            cert=pki["server.pem"],
            key=pki["server.key"],
            secret=SECRET,
        )
    )
    prefix.mkdir()
    return [nginx, "-c", str(conf), "-p", str(prefix)]
