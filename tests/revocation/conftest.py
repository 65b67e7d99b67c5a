"""Fixtures: a test PKI whose certificates point at a real local CRL/OCSP server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from originverify import EdgeSecret, Verifier
from originverify.devpki import CertificateAuthority, Issued
from originverify.revocation import Revocation
from tests.conftest import EDGE_SECRET
from tests.revocation.pkitools import RevocationServer, issue


@pytest.fixture
def server() -> Iterator[RevocationServer]:
    srv = RevocationServer().start()
    yield srv
    srv.stop()


@dataclass
class RevPKI:
    """root → intermediate → leaf; CRLDP and OCSP URLs point at ``server``."""

    root: CertificateAuthority
    intermediate: CertificateAuthority
    leaf: Issued
    other_leaf: Issued
    server: RevocationServer

    @property
    def leaf_crl_url(self) -> str:
        return self.server.url("/intermediate.crl")

    @property
    def ocsp_url(self) -> str:
        return self.server.url("/ocsp")


@pytest.fixture(scope="session")
def _cas() -> tuple[CertificateAuthority, CertificateAuthority]:
    root = CertificateAuthority.root_ca("revocation root")
    return root, root.intermediate("revocation intermediate")


@pytest.fixture
def rev(
    server: RevocationServer, _cas: tuple[CertificateAuthority, CertificateAuthority]
) -> RevPKI:
    root, intermediate = _cas
    leaf_crl, ocsp_url = server.url("/intermediate.crl"), server.url("/ocsp")
    leaf = issue(intermediate, "alice", crl_url=leaf_crl, ocsp_url=ocsp_url)
    other = issue(intermediate, "bob", crl_url=leaf_crl, ocsp_url=ocsp_url)
    return RevPKI(root, intermediate, leaf, other, server)


def verifier(
    pki: RevPKI | CertificateAuthority, revocation: Revocation | None, **kwargs: object
) -> Verifier:
    root = pki.root if isinstance(pki, RevPKI) else pki
    kwargs.setdefault("cache", None)
    return Verifier(
        trust=root.pem,
        source=EdgeSecret(secrets=[EDGE_SECRET]),
        revocation=revocation,
        **kwargs,  # type: ignore[arg-type]
    )
