"""A Flask app that trusts client certificates only as far as originverify verified them.

Production shape (the edge, e.g. CloudFront in mTLS passthrough, is in front of gunicorn)::

    export ORIGINVERIFY_ANCHORS=client-ca.pem          # your client CA, PEM
    export ORIGINVERIFY_EDGE_SECRET=...                # the edge's X-Origin-Verify value
    gunicorn --bind 127.0.0.1:8000 'examples.flask_app:create_app()'

No edge and no CA at hand? ``python examples/flask_app.py --demo`` writes a throwaway PKI
to ``./demo-pki``, starts the app on 127.0.0.1:8000 and prints curl commands that play the
edge's part.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from flask_originverify import (
    ClientCertificateError,
    OriginVerify,
    client_cert_exempt,
    client_cert_optional,
    client_cert_required,
    client_rejected,
    current_client,
)

originverify = OriginVerify()


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        ORIGINVERIFY_ANCHORS=os.environ.get("ORIGINVERIFY_ANCHORS", "client-ca.pem"),
        ORIGINVERIFY_EDGE_SECRETS_ENV="ORIGINVERIFY_EDGE_SECRET",
        ORIGINVERIFY_MODE=os.environ.get("ORIGINVERIFY_MODE", "required"),
    )
    originverify.init_app(app)  # configuration errors stop start-up here

    @app.get("/health")
    @client_cert_exempt
    def health() -> str:
        return "ok"

    @app.get("/hello")
    @client_cert_required
    def hello() -> str:
        return f"hello {current_client.common_name}\n"

    @app.get("/api/me")
    @client_cert_required
    def me() -> Any:
        return jsonify(current_client.as_dict())

    @app.get("/admin")
    @client_cert_required(emails=["*@example.org"])
    def admin() -> str:
        return f"welcome, administrator {current_client.emails[0]}\n"

    @app.get("/")
    @client_cert_optional
    def index() -> str:
        if current_client:
            return f"signed in with a certificate as {current_client.common_name}\n"
        return "anonymous visitor (present a client certificate to sign in)\n"

    @app.errorhandler(ClientCertificateError)
    def refused(error: ClientCertificateError) -> Any:
        """JSON with the reason for the API, the standard refusal everywhere else."""
        if request.path.startswith("/api/"):
            return jsonify(error=error.description, reason=error.reason.value), error.code
        return error

    @client_rejected.connect_via(app)
    def audit(sender: Flask, error: Any, enforced: bool) -> None:
        sender.logger.warning("client certificate refused: %s", error.reason.value)

    return app


def demo(port: int) -> None:
    """Throwaway PKI + secret, the app on 127.0.0.1, and curl commands acting as the edge."""
    from originverify.devpki import CertificateAuthority, cert_pem
    from originverify.formats.sfbinary import serialize_item, serialize_list

    directory = Path("demo-pki")
    directory.mkdir(exist_ok=True)
    ca = CertificateAuthority.root_ca("demo root").intermediate("demo issuing ca")
    alice = ca.issue("alice", emails=["alice@example.org"])
    bob = ca.issue("bob", emails=["bob@elsewhere.example"])
    (directory / "client-ca.pem").write_bytes(cert_pem(ca.root))
    secret = secrets.token_urlsafe(32)
    for name, issued in (("alice", alice), ("bob", bob), ("nobody", None)):
        lines = [f"X-Origin-Verify: {secret}"]
        if issued is not None:
            lines.append(f"Client-Cert: {serialize_item(issued.der)}")
            lines.append(f"Client-Cert-Chain: {serialize_list(issued.chain_der)}")
        (directory / f"{name}.headers").write_text("\n".join(lines) + "\n")
    os.environ["ORIGINVERIFY_ANCHORS"] = str(directory / "client-ca.pem")
    os.environ["ORIGINVERIFY_EDGE_SECRET"] = secret
    url = f"http://127.0.0.1:{port}"
    print("Play the edge with curl (each .headers file holds what the edge would add):")
    print(f"  curl -H @{directory}/alice.headers {url}/hello      # 200 hello alice")
    print(f"  curl -H @{directory}/bob.headers {url}/admin        # 403 rule denied")
    print(f"  curl -H @{directory}/nobody.headers {url}/hello     # 401 no certificate")
    print(f"  curl {url}/hello                                   # 403 not via the edge")
    create_app().run(host="127.0.0.1", port=port)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="throwaway PKI, dev server")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if args.demo:
        demo(args.port)
    else:
        create_app().run(host="127.0.0.1", port=args.port)
