"""Certificates, headers and real servers for the Django tests."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from originverify.devpki import CertificateAuthority, Issued
from originverify.formats.sfbinary import serialize_item, serialize_list

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
INTEGRATIONS = REPO / "integrations"
EDGE_SECRET = "dj-test-edge-secret-0123456789abcdef"
NOW = dt.datetime.now(dt.UTC)


@dataclass
class DjPKI:
    """root → intermediate → leaves; a second root for "wrong CA"."""

    root: CertificateAuthority
    intermediate: CertificateAuthority
    alice: Issued  # user "alice" exists; e-mail in the allowed domain
    bob: Issued  # e-mail outside the allowed domain
    carol: Issued  # no user "carol"
    service: Issued  # CN svc-backup, for DRF rules
    expired: Issued
    stranger: Issued  # issued by another root

    @classmethod
    def create(cls) -> DjPKI:
        root = CertificateAuthority.root_ca("django test root")
        inter = root.intermediate("django test intermediate")
        other = CertificateAuthority.root_ca("attacker root").intermediate("attacker inter")
        return cls(
            root=root,
            intermediate=inter,
            alice=inter.issue(
                "alice",
                emails=["alice@example.com"],
                uris=["spiffe://example.org/ns/prod/sa/alice"],
            ),
            bob=inter.issue("bob", emails=["bob@other.org"]),
            carol=inter.issue("carol", emails=["carol@example.com"]),
            service=inter.issue("svc-backup", dns=["backup.internal"]),
            expired=inter.issue(
                "alice",
                emails=["alice@example.com"],
                not_before=NOW - dt.timedelta(days=30),
                not_after=NOW - dt.timedelta(days=1),
            ),
            stranger=other.issue("alice", emails=["alice@example.com"]),
        )


def cert_pairs(
    leaf: Issued | None,
    *,
    secret: str | None = EDGE_SECRET,
    extra: list[tuple[str, str]] | None = None,
) -> list[tuple[str, str]]:
    """Raw header pairs as CloudFront passthrough sends them (duplicates kept)."""
    pairs: list[tuple[str, str]] = []
    if secret is not None:
        pairs.append(("X-Origin-Verify", secret))
    if leaf is not None:
        pairs.append(("Client-Cert", serialize_item(leaf.der)))
        if leaf.chain_der:
            pairs.append(("Client-Cert-Chain", serialize_list(list(leaf.chain_der))))
    pairs.extend(extra or [])
    return pairs


def cert_headers(leaf: Issued | None, **kwargs: Any) -> dict[str, str]:
    """The same as a dict, for Django's test client ``headers=``."""
    return dict(cert_pairs(leaf, **kwargs))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def send(port: int, path: str, pairs: list[tuple[str, str]], timeout: float = 10) -> Reply:
    """One GET with exactly these header field lines, in this order and spelling."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in pairs:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return Reply(response.status, response.read(), dict(response.getheaders()))
    finally:
        conn.close()


def server_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(HERE), str(INTEGRATIONS), str(REPO)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["DJANGO_SETTINGS_MODULE"] = "djtestproject.settings"
    env["OV_TEST_SECRET"] = EDGE_SECRET
    env.update(extra)
    return env


def server_command(kind: str, port: int) -> list[str]:
    py = sys.executable
    if kind == "gunicorn":
        return [
            py, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--graceful-timeout", "2", "djtestproject.wsgi:application",
        ]  # fmt: skip
    if kind == "uvicorn":
        return [
            py, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
            "--lifespan", "off", "djtestproject.asgi:application",
        ]  # fmt: skip
    if kind == "daphne":
        return [
            py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
            "djtestproject.asgi:application",
        ]  # fmt: skip
    raise ValueError(kind)


class Server:
    """A real server in a subprocess; ``stop()`` always reaps it."""

    def __init__(
        self, kind: str, env: dict[str, str], log_path: Path, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [*server_command(kind, self.port), *extra_args],
            env=env,
            cwd=HERE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited ({self.process.returncode}):\n{self.log()}")
            try:
                send(self.port, "/whoami", [], timeout=2)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.kind} not ready after {timeout}s:\n{self.log()}")

    def wait_exit(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if not self._log.closed:
            self._log.close()


def manage(env: dict[str, str], *args: str) -> None:
    """``django-admin`` against the test project, failing loudly."""
    result = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=env,
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"django-admin {' '.join(args)} failed:\n{result.stderr[-4000:]}")
