"""``originverify keygen``: the files it writes work together, and nothing leaks."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest

from originverify import ConfigurationError, Verifier
from originverify.envelope import EnvelopeSigner, SignedEnvelope, default_key_id, keygen
from originverify.signatures_cli import configure_keygen_parser, run_keygen
from tests.conftest import PKI
from tests.signatures.kit import signed, verify


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ed25519_pair_round_trips(tmp_path: Path, pki: PKI) -> None:
    made = keygen(tmp_path, "edge-test")
    assert made.signing_key == tmp_path / "edge-test.key"
    assert made.verification_key == tmp_path / "edge-test.pub"
    assert mode(made.signing_key) == 0o600
    assert b"PRIVATE KEY" in made.signing_key.read_bytes()
    assert made.verification_key.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    signer = EnvelopeSigner.from_file(made.signing_key, made.key_id)
    origin = SignedEnvelope.from_files({made.key_id: made.verification_key})
    assert verify(Verifier(trust=pki.root_pem, source=origin, cache=None), signed(pki.leaf, signer))


def test_hmac_secret_round_trips(tmp_path: Path, pki: PKI) -> None:
    made = keygen(tmp_path, "edge-h", algorithm="hmac-sha256")
    assert made.signing_key == made.verification_key == tmp_path / "edge-h.hmac"
    assert mode(made.signing_key) == 0o600
    signer = EnvelopeSigner.from_file(made.signing_key, "edge-h")
    origin = SignedEnvelope.from_files({"edge-h": made.verification_key})
    assert verify(Verifier(trust=pki.root_pem, source=origin, cache=None), signed(pki.leaf, signer))


def test_printed_origin_config_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = keygen(tmp_path, "edge-cfg")
    lines = made.origin_config.splitlines()
    start = lines.index("# Origin, Python:") + 1
    code = "\n".join(lines[start : start + 2])
    namespace: dict[str, object] = {}
    monkeypatch.chdir(tmp_path)
    exec(code, namespace)  # the text keygen prints for users to paste
    source = namespace["source"]
    assert isinstance(source, SignedEnvelope) and source.key_ids == ("edge-cfg",)
    assert f"--sign-key {made.signing_key} --key-id edge-cfg" in made.origin_config


def test_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    first = keygen(tmp_path, "edge-x")
    old = first.signing_key.read_bytes()
    with pytest.raises(ConfigurationError, match="--force"):
        keygen(tmp_path, "edge-x")
    assert first.signing_key.read_bytes() == old
    first.signing_key.chmod(0o644)
    second = keygen(tmp_path, "edge-x", overwrite=True)
    assert second.signing_key.read_bytes() != old
    assert mode(second.signing_key) == 0o600


def test_default_key_id_is_dated(tmp_path: Path) -> None:
    made = keygen(tmp_path)
    assert made.key_id == default_key_id()
    assert made.key_id.startswith("edge-20")


def test_bad_key_id_or_algorithm(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        keygen(tmp_path, "no spaces")
    with pytest.raises(ConfigurationError):
        keygen(tmp_path, "k", algorithm="rsa")


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="originverify keygen")
    configure_keygen_parser(parser)
    return parser.parse_args(argv)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_keygen(cli("--key-id", "edge-cli", "--out-dir", str(tmp_path))) == 0
    out = capsys.readouterr().out
    assert "edge-cli.key (private, 0600" in out
    assert "originverify edge --sign-key" in out and "SignedEnvelope.from_files" in out
    key = (tmp_path / "edge-cli.key").read_text()
    assert key.split("\n")[1] not in out  # the private key is never printed
    assert run_keygen(cli("--key-id", "edge-cli", "--out-dir", str(tmp_path))) == 2
    assert "--force" in capsys.readouterr().err
    assert run_keygen(cli("--key-id", "edge-cli", "--out-dir", str(tmp_path), "--force")) == 0


def test_cli_hmac(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_keygen(cli("--hmac", "--key-id", "edge-h", "--out-dir", str(tmp_path))) == 0
    out = capsys.readouterr().out
    secret = (tmp_path / "edge-h.hmac").read_text().strip()
    assert secret.startswith("hmac-sha256:") and secret not in out
    assert "shared secret, 0600" in out
    assert os.access(tmp_path / "edge-h.hmac", os.R_OK)
