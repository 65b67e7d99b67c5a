"""Rotation without restarts: anchors and edge secrets given as files are watched in every
worker and swapped atomically; a broken file keeps the previous generation in force and
says why, once; adding the new value before removing the old refuses no valid request."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from originverify import EdgeSecret, Reason, VerificationError, Verifier, build_verifier
from originverify.devpki import CertificateAuthority, Issued, cert_pem
from tests.conftest import PKI, passthrough_headers

HERE = Path(__file__).resolve().parent
OLD_SECRET = "old-edge-secret-0123456789abcdef"
NEW_SECRET = "new-edge-secret-fedcba9876543210"


def write_atomically(path: Path, data: bytes) -> None:
    """How operators (and Kubernetes secret mounts) replace files: write, then rename."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def reason(verifier: Verifier, headers: list[tuple[str, str]]) -> Reason | None:
    try:
        verifier.verify_request(headers)
    except VerificationError as exc:
        return exc.reason
    return None


@pytest.fixture
def second_ca() -> CertificateAuthority:
    return CertificateAuthority.root_ca("rotated root").intermediate("rotated issuing")


def test_anchor_file_rotation(pki: PKI, second_ca: CertificateAuthority, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(pki.root_pem)
    secret = [("X-Origin-Verify", OLD_SECRET)]
    verifier = Verifier(
        trust=anchors, source=EdgeSecret("X-Origin-Verify", [OLD_SECRET]), watch_interval=0.05
    )
    newcomer = second_ca.issue("newcomer")
    old_client = passthrough_headers(pki.leaf, secret=OLD_SECRET)
    new_client = passthrough_headers(newcomer, secret=OLD_SECRET)
    assert reason(verifier, new_client) is Reason.UNTRUSTED_CHAIN
    write_atomically(anchors, pki.root_pem + cert_pem(second_ca.root))  # add before removing
    wait_until(lambda: reason(verifier, new_client) is None)
    assert reason(verifier, old_client) is None
    write_atomically(anchors, cert_pem(second_ca.root))
    wait_until(lambda: reason(verifier, old_client) is Reason.UNTRUSTED_CHAIN)
    assert reason(verifier, new_client) is None
    assert secret  # the secret never changed here


@pytest.mark.parametrize(
    "broken",
    [b"not a certificate", b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"],
    ids=["garbage", "bad-block"],
)
def test_broken_anchor_file_keeps_the_previous_generation(
    pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture, broken: bytes
) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(pki.root_pem)
    verifier = Verifier(
        trust=anchors, source=EdgeSecret("X-Origin-Verify", [OLD_SECRET]), watch_interval=0.05
    )
    client = passthrough_headers(pki.leaf, secret=OLD_SECRET)
    generation = verifier.trust.generation if verifier.trust else -1
    with caplog.at_level(logging.ERROR, logger="originverify"):
        write_atomically(anchors, broken)
        wait_until(lambda: "reloading trust anchors failed" in caplog.text)
        time.sleep(0.3)  # several more polls of the same broken file
    assert caplog.text.count("reloading trust anchors failed") == 1  # said once
    assert verifier.trust is not None and verifier.trust.generation == generation
    assert reason(verifier, client) is None  # the old anchors are still in force
    write_atomically(anchors, pki.root_pem)
    wait_until(lambda: verifier.trust is not None and verifier.trust.generation > generation)
    assert reason(verifier, client) is None


def test_secret_file_rotation_under_load_refuses_no_valid_request(pki: PKI, tmp_path: Path) -> None:
    """The documented procedure: add the new secret to the file, switch the edge, remove the
    old secret. A load loop sends what the edge sends at each moment; nothing valid is
    refused, and the old secret is refused once removed."""
    secrets_file = tmp_path / "edge-secrets"
    secrets_file.write_text(OLD_SECRET + "\n")
    verifier = build_verifier(
        {"anchors": pki.root_pem, "edge_secrets_file": str(secrets_file), "watch_interval": 0.05}
    )
    edge_uses = [OLD_SECRET]
    results: Counter[str] = Counter()
    stop = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            current = edge_uses[0]
            outcome = reason(verifier, passthrough_headers(pki.leaf, secret=current))
            results["ok" if outcome is None else f"refused:{outcome.value}"] += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.2)
        write_atomically(secrets_file, f"{OLD_SECRET}\n{NEW_SECRET}\n".encode())
        wait_until(
            lambda: reason(verifier, passthrough_headers(pki.leaf, secret=NEW_SECRET)) is None
        )
        edge_uses[0] = NEW_SECRET  # the edge switches
        time.sleep(0.2)
        write_atomically(secrets_file, f"{NEW_SECRET}\n".encode())
        wait_until(
            lambda: (
                reason(verifier, passthrough_headers(pki.leaf, secret=OLD_SECRET))
                is Reason.EDGE_SECRET_MISMATCH
            )
        )
        time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert results["ok"] > 100
    assert set(results) == {"ok"}, results


@pytest.mark.e2e
@pytest.mark.parametrize("preload", [False, True], ids=["import-per-worker", "preload"])
def test_rotation_under_load_in_every_gunicorn_worker(
    pki: PKI, second_ca: CertificateAuthority, tmp_path: Path, preload: bool
) -> None:
    """Two gunicorn workers, each watching the files (with ``--preload`` the watcher is
    restarted after fork); the whole rotation (anchors and secret) under a load loop:
    zero refused valid requests, zero wrong verdicts."""
    anchors, secrets_file = tmp_path / "anchors.pem", tmp_path / "secrets"
    anchors.write_bytes(pki.root_pem)
    secrets_file.write_text(OLD_SECRET + "\n")
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "OV_TEST_ANCHORS": str(anchors),
        "OV_TEST_SECRET_FILE": str(secrets_file),
        "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent.parent)]),
    }
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    argv += ["--preload"] if preload else []
    log = tmp_path / "gunicorn.log"
    process = subprocess.Popen(
        [*argv, "--graceful-timeout", "2", "rotation_app:app"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    newcomer: Issued = second_ca.issue("newcomer")
    expect = {"alice": True, "newcomer": False}  # who should be accepted right now
    edge_uses = [OLD_SECRET]
    results: Counter[str] = Counter()
    stop = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=10) as client:
            while not stop.is_set() and time.monotonic() < deadline:
                for name, leaf in (("alice", pki.leaf), ("newcomer", newcomer)):
                    wanted = expect[name]
                    headers = passthrough_headers(leaf, secret=edge_uses[0])
                    try:
                        reply = client.get(url, headers=headers)
                    except httpx.TransportError as exc:
                        results[f"transport:{type(exc).__name__}"] += 1
                        continue
                    accepted = reply.status_code == 200
                    if accepted and reply.text not in ("client", name):
                        results["wrong identity"] += 1
                    elif accepted == wanted or wanted is None:
                        results["right"] += 1
                    else:
                        results[f"{name}:{reply.status_code}"] += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    try:
        wait_until(lambda: _answers(url), timeout=30)
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        # 1. add the new CA and the new secret
        expect["newcomer"] = None  # type: ignore[assignment]  # in flight: either verdict
        write_atomically(anchors, pki.root_pem + cert_pem(second_ca.root))
        write_atomically(secrets_file, f"{OLD_SECRET}\n{NEW_SECRET}\n".encode())
        time.sleep(1.0)  # > watch_interval in every worker
        expect["newcomer"] = True
        edge_uses[0] = NEW_SECRET  # 2. the edge switches to the new secret
        time.sleep(0.5)
        # 3. remove the old CA and the old secret
        expect["alice"] = None  # type: ignore[assignment]
        write_atomically(anchors, cert_pem(second_ca.root))
        write_atomically(secrets_file, f"{NEW_SECRET}\n".encode())
        time.sleep(1.0)
        expect["alice"] = False
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(15)
        process.terminate()
        process.wait(10)
    assert results["right"] > 50, (results, log.read_text()[-2000:])
    assert set(results) == {"right"}, (results, log.read_text()[-2000:])


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True
