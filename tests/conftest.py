"""Fixtures shared by the whole suite: throwaway PKIs and request builders."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from typing import Any

import pytest

from originverify.devpki import CertificateAuthority, Issued
from originverify.formats.sfbinary import serialize_item, serialize_list
from tests import summaries

EDGE_SECRET = "test-edge-secret-0123456789abcdef"


def require_binary(name: str, package: str | None = None) -> str:
    """Path of a server binary; skip outside CI when missing, fail in CI (it must run)."""
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if path is None:
        how = f"apt-get install {package or name}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI ({how}); .ci/run should install it")
        pytest.skip(f"{name} not installed; install it with: {how}")
    return path


@dataclass
class PKI:
    root: CertificateAuthority
    intermediate: CertificateAuthority
    leaf: Issued

    @property
    def root_pem(self) -> bytes:
        return self.root.pem


@pytest.fixture(scope="session")
def pki() -> PKI:
    """root → intermediate → leaf (ECDSA P-256), the shape CloudFront forwards."""
    root = CertificateAuthority.root_ca("test root")
    inter = root.intermediate("test intermediate")
    leaf = inter.issue(
        "alice", emails=["alice@example.com"], uris=["spiffe://example.org/ns/prod/sa/alice"]
    )
    return PKI(root, inter, leaf)


@pytest.fixture(scope="session")
def rsa_pki() -> PKI:
    root = CertificateAuthority.root_ca("rsa root", key_type="rsa")
    inter = root.intermediate("rsa intermediate", key_type="rsa")
    leaf = inter.issue("bob", dns=["bob.example.com"], key_type="rsa")
    return PKI(root, inter, leaf)


def passthrough_headers(
    leaf: Issued | bytes | None,
    chain: tuple[bytes, ...] | list[bytes] | None = None,
    *,
    secret: str | None = EDGE_SECRET,
    extra: list[tuple[str, str]] | None = None,
) -> list[tuple[str, str]]:
    """Headers as CloudFront passthrough sends them (raw pairs, duplicates kept)."""
    headers: list[tuple[str, str]] = []
    if secret is not None:
        headers.append(("X-Origin-Verify", secret))
    if leaf is not None:
        der = leaf if isinstance(leaf, bytes) else leaf.der
        headers.append(("Client-Cert", serialize_item(der)))
        if chain is None and isinstance(leaf, Issued):
            chain = leaf.chain_der
        if chain:
            headers.append(("Client-Cert-Chain", serialize_list(list(chain))))
    headers.extend(extra or [])
    return headers


NOW = dt.datetime.now(dt.UTC)


def _limbo_lines() -> list[str]:
    """The conformance harness's own tally, as the conformance issue asks for it."""
    import sys

    modules = [m for name, m in list(sys.modules.items()) if name.endswith("test_limbo")]
    results = next((m.RESULTS for m in modules if getattr(m, "RESULTS", None)), None)
    if not results:
        return []
    return [
        f"x509-limbo: {results['passed']} passed, {results['failed']} failed, "
        f"{results['skipped']} skipped"
    ]


summaries.register(_limbo_lines)
WORKER_LINES: list[str] = []  # under xdist: what the workers sent


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints
        workeroutput[summaries.KEY] = summaries.local_lines()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    WORKER_LINES.extend(getattr(node, "workeroutput", {}).get(summaries.KEY, []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in [*WORKER_LINES, *summaries.local_lines()]:
        terminalreporter.write_line(line)
