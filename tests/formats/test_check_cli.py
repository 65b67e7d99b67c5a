"""``originverify check --format NAME`` for every preset, on requests in each edge's wire form."""

from __future__ import annotations

from pathlib import Path

import pytest

from originverify import formats
from originverify.cli import main
from originverify.devpki import CertificateAuthority, cert_der, cert_pem
from tests.formats.edgewire import CHAIN_CAPABLE, ENCODERS, METADATA_ONLY


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.root_ca("check root").intermediate("check intermediate")


@pytest.mark.parametrize("name", sorted(formats.PRESETS))
def test_check_works_for_every_preset(
    name: str, ca: CertificateAuthority, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leaf = ca.issue("device-7", dns=["device-7.example"])
    # Formats that carry the chain get root as anchor and the intermediate on the wire;
    # leaf-only formats anchor on the intermediate (as extra_intermediates would supply it).
    chain = [cert_der(ca.cert)] if name in CHAIN_CAPABLE else []
    anchors = tmp_path / "ca.pem"
    anchors.write_bytes(cert_pem(ca.root) if chain else ca.pem)
    encode = ENCODERS.get(name)
    pairs = list(encode(leaf.der, chain)) if encode else []
    head = "GET /orders HTTP/1.1\r\nHost: api.example\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n"
    capture = tmp_path / "request.txt"
    capture.write_text(head, encoding="latin-1")
    args = ["check", str(capture), "--anchors", str(anchors), "--format", name, "--no-source-check"]
    code = main(args)
    out = capsys.readouterr().out
    assert f"format {name}" in out
    if name in METADATA_ONLY or encode is None:
        assert code == 1 and "missing_certificate" in out
    else:
        assert code == 0, out
        assert "ACCEPTED CN=device-7" in out
