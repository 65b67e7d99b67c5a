from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

from originverify.devpki import CertificateAuthority, Issued
from originverify.signatures import HmacSecret


@dataclass(frozen=True)
class Pki:
    root: CertificateAuthority
    alice: Issued  # root → intermediate → alice: CloudFront forwards a Client-Cert-Chain
    bob: Issued


@pytest.fixture(scope="session")
def pki() -> Pki:
    root = CertificateAuthority.root_ca("cloudfront-function root")
    intermediate = root.intermediate("cloudfront-function intermediate")
    return Pki(root, intermediate.issue("alice"), root.issue("bob"))


@pytest.fixture(scope="session")
def key_1() -> HmacSecret:
    return HmacSecret(secrets.token_bytes(32))


@pytest.fixture(scope="session")
def key_2() -> HmacSecret:
    return HmacSecret(secrets.token_bytes(32))
