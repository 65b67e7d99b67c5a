"""The corpus: real-world odd and broken certificates from public test suites shipped on
PyPI, the x509-limbo chains, and mutants of certificates we issue ourselves.

Sources (each item's ``source``):

* ``pyca``: ``cryptography-vectors`` (same release as ``cryptography``): pyca's own x509
  vectors, many deliberately malformed (invalid versions, invalid UTF-8, negative serials,
  bad extensions, bad times, unknown algorithms), the NIST PKITS certificates, and, as
  DER that is not a certificate, its CSRs, CRLs and OCSP messages.
* ``asn1crypto``: ``asn1crypto-tests``' fixtures (real CA certificates of the 2000s,
  odd key types, attribute certificates, CMS blobs).
* ``limbo``: every distinct certificate of ``shared/conformance/limbo.json``.
* ``mutant``: see ``mutations.py``, applied to a leaf and an intermediate of our own PKI,
  re-signed by the real issuer (``resigned``) or not (``unsigned``), plus byte-level damage.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography import x509

from originverify.devpki import CertificateAuthority, Issued, cert_der
from tests.conformance.limbo import LIMBO

from . import der as tlv
from .mutations import FIELD_MUTATIONS, byte_mutations


@dataclass(frozen=True)
class Item:
    """One corpus entry: DER bytes that an attacker could forward as a certificate.

    ``role``: where a mutant was made to sit (``leaf``: the leaf's mutation, presented with
    the real intermediate; ``chain``: a mutated intermediate, presented after the real
    leaf). ``signed``: a mutant re-signed by its real issuer, so a valid signature wraps
    the mutation (these may legitimately be accepted: the CA signed them). Items from
    public corpora have ``role=None`` and are fed in both positions.
    """

    name: str
    source: str
    der: bytes
    role: str | None = None
    signed: bool = False

    @property
    def parses(self) -> bool:
        return parsed(self.der) is not None


@cache
def parsed(der: bytes) -> x509.Certificate | None:
    """What cryptography makes of the bytes, ``None`` if it refuses them."""
    try:
        return x509.load_der_x509_certificate(der)
    except Exception:  # any refusal counts as "not a certificate" for the oracle
        return None


_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def _blocks(data: bytes) -> Iterator[bytes]:
    """Every PEM block's bytes (whatever its label), or the file itself if it is not PEM."""
    found = False
    for match in _PEM.finditer(data):
        body = b"".join(line.strip() for line in match.group(2).splitlines() if b":" not in line)
        try:
            yield base64.b64decode(body, validate=False)
            found = True
        except binascii.Error:
            continue
    if not found and b"-----BEGIN" not in data:
        yield data


def _from_files(source: str, root: Path, files: list[Path]) -> Iterator[Item]:
    for path in sorted(files):
        for index, der in enumerate(_blocks(path.read_bytes())):
            if der:
                yield Item(f"{source}:{path.relative_to(root)}#{index}", source, der)


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


PYCA_DIRS = ("", "custom", "custom/ca", "ed25519", "ed448", "requests", "ocsp", "PKITS_data/certs")


def pyca_items() -> list[Item]:
    base = _package_dir("cryptography_vectors")
    if base is None:
        return []
    root = base / "x509"
    files = [p for d in PYCA_DIRS for p in (root / d).iterdir() if p.is_file()]
    return list(_from_files("pyca", root, files))


_CERTISH = {".crt", ".cer", ".pem", ".der"}


def asn1crypto_items() -> list[Item]:
    base = _package_dir("asn1crypto_tests")
    if base is None:
        return []
    root = base / "fixtures"
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _CERTISH]
    return list(_from_files("asn1crypto", root, files))


def limbo_items() -> list[Item]:
    if not LIMBO.exists():
        return []
    seen: dict[bytes, str] = {}
    for case in json.loads(LIMBO.read_text())["testcases"]:
        pems = [case["peer_certificate"], *case["untrusted_intermediates"]]
        pems += case["trusted_certs"]
        for index, pem in enumerate(pems):
            for der in _blocks(pem.encode()):
                seen.setdefault(der, f"limbo:{case['id']}#{index}")
    return [Item(name, "limbo", der) for der, name in seen.items()]


@dataclass(frozen=True)
class MutantPki:
    """root → intermediate → leaf; mutants of the leaf are re-signed by the intermediate's
    key, mutants of the intermediate by the root's (its own key stays, so the real leaf
    still chains to it)."""

    root: CertificateAuthority
    intermediate: CertificateAuthority
    leaf: Issued
    rsa_leaf: Issued  # the same issuer, an RSA key: for the RSA key mutations

    @classmethod
    def create(cls) -> MutantPki:
        root = CertificateAuthority.root_ca("corpus root")
        intermediate = root.intermediate("corpus intermediate")
        leaf = intermediate.issue(
            "corpus client",
            dns=["client.corpus.example"],
            uris=["spiffe://corpus.example/client"],
            emails=["client@corpus.example"],
        )
        rsa_leaf = intermediate.issue("corpus rsa client", key_type="rsa")
        return cls(root, intermediate, leaf, rsa_leaf)

    @property
    def intermediate_der(self) -> bytes:
        return cert_der(self.intermediate.cert)


def mutant_items(pki: MutantPki) -> list[Item]:
    items: list[Item] = []
    targets = (
        ("leaf", "leaf", pki.leaf.der, pki.intermediate.key),
        ("chain", "chain", pki.intermediate_der, pki.root.key),
        ("leaf", "rsa-leaf", pki.rsa_leaf.der, pki.intermediate.key),
    )
    for role, base, der, issuer_key in targets:
        for name, mutate in FIELD_MUTATIONS.items():
            cert = tlv.Cert.parse(der)
            try:
                mutate(cert)
            except (tlv.DERError, StopIteration, IndexError):
                continue  # the field this mutation changes is absent from this certificate
            if cert.encode() == der:
                continue  # already so in the original (an intermediate is a CA already)
            if base == "rsa-leaf" and not name.startswith("rsa-"):
                continue  # the EC leaf has every other mutation already
            items.append(
                Item(
                    f"mutant:{base}:{name}:resigned",
                    "mutant",
                    tlv.resign(cert, issuer_key),
                    role,
                    signed=True,
                )
            )
            items.append(Item(f"mutant:{base}:{name}:unsigned", "mutant", cert.encode(), role))
        if base == "rsa-leaf":
            continue
        items.extend(
            Item(f"mutant:{role}:{name}", "mutant", damaged, role)
            for name, damaged in byte_mutations(der)
        )
    return items


def transplanted_items(public: list[Item], pki: MutantPki) -> list[Item]:
    """Every public certificate that parses, re-issued under our PKI (see
    ``der.transplant``): as a leaf signed by our intermediate (its own subject and key),
    and as our intermediate re-signed by our root (our intermediate's subject and key, its
    own extensions), so our real leaf chains through it."""
    out = []
    for item in public:
        if not item.parses:
            continue
        try:
            as_leaf = tlv.transplant(item.der, pki.leaf.der, keep_key=True)
            as_ca = tlv.transplant(item.der, pki.intermediate_der, keep_key=False)
        except (tlv.DERError, IndexError):
            continue
        name = item.name.split(":", 1)[1]
        leaf_der = tlv.resign(as_leaf, pki.intermediate.key)
        out.append(Item(f"transplant:leaf:{name}", "transplant", leaf_der, "leaf", signed=True))
        ca_der = tlv.resign(as_ca, pki.root.key)
        out.append(Item(f"transplant:chain:{name}", "transplant", ca_der, "chain", signed=True))
    return out


def public_items() -> list[Item]:
    """Every item from the public corpora, duplicates (same DER) removed."""
    seen: set[bytes] = set()
    out = []
    for item in (*pyca_items(), *asn1crypto_items(), *limbo_items()):
        if item.der not in seen:
            seen.add(item.der)
            out.append(item)
    return out
