"""FastAPI behind originverify's pure-ASGI middleware, with the identity as a dependency.

Production shape (the edge, e.g. CloudFront in mTLS passthrough, is in front of uvicorn)::

    export ORIGINVERIFY_ANCHORS=client-ca.pem          # your client CA, PEM
    export ORIGINVERIFY_EDGE_SECRET=...                # the edge's X-Origin-Verify value
    uvicorn --host 127.0.0.1 --port 8000 --factory examples.fastapi_app:create_app

No edge and no CA at hand? ``python examples/fastapi_app.py --demo`` writes a throwaway PKI
to ``./demo-pki``, starts the app on 127.0.0.1:8000 and prints curl commands that play the
edge's part.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, WebSocket

from originverify import ClientIdentity, Rules, build_verifier
from originverify.asgi import ClientCertMiddleware, client_identity
from originverify.starlette import ClientCertRefused, RequireClient, refusal_handler

ADMINS = Rules(emails=("*@example.org",))  # compiled once, at import


def create_app() -> FastAPI:
    verifier = build_verifier(
        {
            "anchors": os.environ.get("ORIGINVERIFY_ANCHORS", "client-ca.pem"),
            "edge_secrets_env": "ORIGINVERIFY_EDGE_SECRET",
            # optional: anonymous requests reach the app (client_identity() is None) and
            # the dependencies decide; invalid certificates are refused by the middleware.
            "mode": os.environ.get("ORIGINVERIFY_MODE", "optional"),
        }
    )
    app = FastAPI(title="originverify example")
    app.add_middleware(ClientCertMiddleware, verifier=verifier)
    # Dependency refusals answer exactly like the middleware's (401/403, text or JSON).
    app.add_exception_handler(ClientCertRefused, refusal_handler)
    # The verified client, or 401; with rules, 403 when they say no (logged and counted).
    client = Depends(RequireClient(verifier))
    admin = Depends(RequireClient(verifier, rules=ADMINS))

    @app.get("/")
    def index(request: Request) -> dict[str, Any]:
        identity = client_identity(request)
        return {"anonymous": identity is None, "cn": identity.common_name if identity else None}

    @app.get("/hello")
    def hello(who: ClientIdentity = client) -> dict[str, Any]:
        return {"hello": who.common_name}

    @app.get("/api/me")
    def me(who: ClientIdentity = client) -> dict[str, object]:
        return who.as_dict()

    @app.get("/admin")
    def administrator(who: ClientIdentity = admin) -> dict[str, Any]:
        return {"administrator": who.emails[0]}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        identity = client_identity(websocket)
        await websocket.accept()
        await websocket.send_text(identity.common_name or "?" if identity else "anonymous")
        await websocket.close()

    return app


def demo(port: int) -> None:
    """Throwaway PKI + secret, the app on 127.0.0.1, and curl commands acting as the edge."""
    import uvicorn

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
    print(f"  curl -H @{directory}/alice.headers {url}/hello      # 200 alice")
    print(f"  curl -H @{directory}/bob.headers {url}/admin        # 403 rule denied")
    print(f"  curl -H @{directory}/nobody.headers {url}/hello     # 401 no certificate")
    print(f"  curl {url}/hello                                   # 403 not via the edge")
    uvicorn.run(create_app(), host="127.0.0.1", port=port)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="throwaway PKI, uvicorn")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if args.demo:
        demo(args.port)
    else:
        import uvicorn

        uvicorn.run(create_app(), host="127.0.0.1", port=args.port)
