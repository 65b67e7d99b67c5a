"""The fast path across trust reloads and with revoked intermediates: same verdicts and
reasons as the engine alone, and the fast path really taken where it may be."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from originverify.devpki import CertificateAuthority, cert_der, cert_pem
from originverify.revocation import Revocation
from tests.fastpath import pki


def _sibling(ca: CertificateAuthority, name: str) -> bytes:
    return ca.issue(
        name,
        emails=[f"{name}@example.com"],
        key=pki.leaf_key("ec"),  # type: ignore[arg-type]
        not_before=pki.START,
        not_after=pki.FAR,
    ).der


def test_trust_reload_drops_and_rebuilds_subpaths(tmp_path: Path) -> None:
    world = pki.world("ec")
    ca = world.issuers["plain"]
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(world.anchors)
    pair = pki.Pair(str(anchors), pki.policy())
    chain = [cert_der(ca.cert)]
    counts: Counter[str] = Counter()

    def both(name: str) -> tuple[pki.Verdict, pki.Verdict]:
        return pair.compare(pki.request(_sibling(ca, name), chain), counts)

    both("first")
    fast, full = both("second")
    assert fast == full and fast[0] is None and counts["via:fast"] == 1
    other = CertificateAuthority.root_ca("fastpath root ec", not_before=pki.START)
    anchors.write_bytes(cert_pem(other.cert))  # same name, another key
    pair.fast.reload_trust()
    pair.full.reload_trust()
    fast, full = both("after reload")
    assert fast == full and fast[0] == "untrusted_chain"
    anchors.write_bytes(world.anchors)
    pair.fast.reload_trust()
    pair.full.reload_trust()
    fast, full = both("back")
    assert fast == full and fast[0] is None
    fast, full = both("back again")
    assert fast == full and fast[0] is None and counts["via:fast"] == 2
    assert counts["disagreements"] == 0


def _crl(issuer: CertificateAuthority, revoked: list[x509.Certificate]) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(pki.NOW - dt.timedelta(days=1))
        .next_update(pki.NOW + dt.timedelta(days=7))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.key.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(pki.NOW - dt.timedelta(hours=1))
            .build()
        )
    crl = builder.sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]
    return crl.public_bytes(Encoding.PEM)


def test_revoked_intermediate_is_refused_alike() -> None:
    world = pki.world("ec")
    root, plain, deep = world.root, world.issuers["plain"], world.issuers["deep"]
    counts: Counter[str] = Counter()
    for revoked in ([], [deep.cert]):
        crls = [_crl(root, []), _crl(plain, revoked), _crl(deep, [])]
        revocation = {"revocation": Revocation(crls=crls, mode="hard", scope="chain")}
        pair = pki.Pair(world.anchors, pki.policy(), **revocation)  # type: ignore[arg-type]
        chain = [cert_der(deep.cert), cert_der(plain.cert)]
        for name in ("one", "two", "three"):
            fast, full = pair.compare(pki.request(_sibling(deep, name), chain), counts)
            assert fast == full
            assert fast[0] == ("revoked" if revoked else None), fast
    assert counts["disagreements"] == 0
    assert counts["via:fast"] >= 2, counts  # at least the unrevoked run's 2nd and 3rd leaves
