#!/usr/bin/env python
"""One command: a throwaway CA, the demo project on 127.0.0.1, and requests that show it.

    python examples/django_project/demo.py            # run the requests, print, exit
    python examples/django_project/demo.py --serve    # then keep serving, print curl commands

This script plays the edge (CloudFront in mTLS passthrough): it sends each client's
certificate in ``Client-Cert``/``Client-Cert-Chain`` and the shared secret in
``X-Origin-Verify``. Exit status 0 means every answer was the expected one.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import secrets
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def make_pki(workdir: Path) -> dict[str, list[tuple[str, str]]]:
    """CA, client certificates and edge secret on disk; header sets the edge would send."""
    from originverify.devpki import CertificateAuthority
    from originverify.formats.sfbinary import serialize_item, serialize_list

    workdir.mkdir(parents=True, exist_ok=True)
    root = CertificateAuthority.root_ca("demo client root")
    issuing = root.intermediate("demo client issuing CA")
    (workdir / "client-ca.pem").write_bytes(root.pem)
    secret = secrets.token_urlsafe(32)
    (workdir / "edge-secret").write_text(secret + "\n")
    (workdir / "edge-secret").chmod(0o600)
    attacker = CertificateAuthority.root_ca("attacker root").issue(
        "alice", emails=["a@example.com"]
    )

    def edge(leaf: object | None, edge_secret: str = secret) -> list[tuple[str, str]]:
        pairs = [("X-Origin-Verify", edge_secret)]
        if leaf is not None:
            pairs.append(("Client-Cert", serialize_item(leaf.der)))  # type: ignore[attr-defined]
            chain = list(leaf.chain_der)  # type: ignore[attr-defined]
            if chain:
                pairs.append(("Client-Cert-Chain", serialize_list(chain)))
        return pairs

    alice = issuing.issue("alice", emails=["alice@example.com"])
    bob = issuing.issue("bob", emails=["bob@partner.example.org"])
    clients = {
        "no certificate": edge(None),
        "alice (has an account)": edge(alice),
        "bob (no account, other domain)": edge(bob),
        "certificate from another CA": edge(attacker),
        "alice, without the edge secret": edge(alice, "guessed-" + "x" * 24),
    }
    for name, pairs in clients.items():
        stem = name.split(" ")[0].strip(",")
        if name.startswith("alice (") or name.startswith("bob"):
            lines = "".join(f"{k}: {v}\n" for k, v in pairs)
            (workdir / f"{stem}.headers").write_text(lines)
    return clients


#: (client, path) → expected status.
EXPECTED = {
    ("no certificate", "/"): 200,
    ("no certificate", "/staff"): 401,
    ("no certificate", "/api/me"): 403,
    ("alice (has an account)", "/"): 200,
    ("alice (has an account)", "/staff"): 200,
    ("alice (has an account)", "/api/me"): 200,
    ("bob (no account, other domain)", "/"): 200,
    ("bob (no account, other domain)", "/staff"): 403,
    ("bob (no account, other domain)", "/api/me"): 403,
    ("certificate from another CA", "/"): 403,
    ("alice, without the edge secret", "/"): 403,
}


def request(port: int, path: str, pairs: list[tuple[str, str]]) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path)
        for name, value in pairs:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode().strip()
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep serving after the demo")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--workdir", type=Path, default=HERE / ".demo")
    args = parser.parse_args(argv)

    workdir = args.workdir.resolve()
    os.environ["DEMO_DIR"] = str(workdir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    clients = make_pki(workdir)

    import demo_site  # noqa: F401  (finds django_originverify in a source checkout)
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    call_command("migrate", verbosity=0)  # runs the system checks too
    User.objects.get_or_create(username="alice")

    verbose = args.serve

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *values: object) -> None:
            if verbose:
                super().log_message(format, *values)

    server = ThreadedWSGIServer(("127.0.0.1", args.port), Quiet)
    server.set_app(get_wsgi_application())
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    print(f"demo project on http://127.0.0.1:{port}/ (files in {workdir})\n")
    failures = 0
    for (client, path), expected in EXPECTED.items():
        status, body = request(port, path, clients[client])
        mark = "ok " if status == expected else "BAD"
        failures += status != expected
        print(f"{mark} {client:<32} GET {path:<8} {status}  {body[:70]}")

    if args.serve:
        print(
            "\nServing; try (curl >= 7.55):\n"
            f"  curl -H @{workdir}/alice.headers http://127.0.0.1:{port}/api/me\n"
            f"  curl -H @{workdir}/bob.headers http://127.0.0.1:{port}/staff\n"
            "Ctrl-C to stop."
        )
        with contextlib.suppress(KeyboardInterrupt):
            thread.join()
    server.shutdown()
    server.server_close()
    print(f"\n{len(EXPECTED) - failures} of {len(EXPECTED)} answers as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
