"""The ``originverify`` command line: check explains, demo judges, errors say what to fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from originverify.cli import main, read_request
from tests.conftest import EDGE_SECRET, PKI, passthrough_headers


def capture(pairs: list[tuple[str, str]], request_line: bool = True) -> bytes:
    head = "GET /api/orders?id=1 HTTP/1.1\r\n" if request_line else ""
    head += "".join(f"{k}: {v}\r\n" for k, v in [("Host", "origin.example"), *pairs])
    return (head + "\r\n").encode()


@pytest.fixture
def anchors(pki: PKI, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(pki.root.pem)
    return path


def test_read_request_keeps_duplicates_and_request_line() -> None:
    headers, request = read_request(b"POST /x HTTP/1.1\r\nA: 1\r\na: 2\r\nB: 3\r\n\r\nbody")
    assert headers.get_all("a") == ["1", "2"] and request == {"method": "POST", "target": "/x"}
    headers, request = read_request(b"A: 1\n\n")
    assert headers.get_all("A") == ["1"] and request == {}


def test_check_accepts_and_prints_each_link(
    pki: PKI,
    anchors: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SECRET", EDGE_SECRET)
    req = tmp_path / "req.txt"
    req.write_bytes(capture(passthrough_headers(pki.leaf)))
    assert main(["check", str(req), "--anchors", str(anchors), "--edge-secret-env", "SECRET"]) == 0
    out = capsys.readouterr().out
    assert "✓ source proof" in out and "✓ chain" in out
    assert "[0] CN=alice" in out and "(anchor)" in out and "ACCEPTED CN=alice" in out


def test_check_rejects_with_reason_and_fix(
    pki: PKI, anchors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "req.txt"
    req.write_bytes(capture(passthrough_headers(pki.leaf, chain=()), request_line=False))
    assert main(["check", str(req), "--anchors", str(anchors), "--no-source-check"]) == 1
    out = capsys.readouterr().out
    assert "✗ chain" in out and "untrusted_chain" in out and "REJECTED (403" in out
    assert "leaf: CN=alice" in out
    # The chain arrived without its intermediate: check names the missing issuer.
    assert "missing intermediate" in out and "issuer CN=test intermediate" in out
    assert "anchors loaded: CN=test root" in out and "fix: have the edge forward" in out


def test_check_without_source_option_says_what_to_do(
    anchors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "req.txt"
    req.write_bytes(capture([]))
    assert main(["check", str(req), "--anchors", str(anchors)]) == 2
    assert "--edge-secret-env" in capsys.readouterr().err


def test_check_reads_stdin_via_the_installed_command(pki: PKI, anchors: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "originverify.cli",
            "check",
            "--anchors",
            str(anchors),
            "--no-source-check",
            "--format",
            "cloudfront-passthrough",
        ],
        input=capture(passthrough_headers(pki.leaf, secret=None)),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"ACCEPTED" in result.stdout


def test_missing_anchor_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "req.txt"
    req.write_bytes(capture([]))
    code = main(["check", str(req), "--anchors", str(tmp_path / "nope.pem"), "--no-source-check"])
    assert code == 2 and "cannot read" in capsys.readouterr().err


def test_demo_runs_live_and_every_verdict_is_as_expected(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Real forwarder subprocess, real Flask origin, real mTLS clients.
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "reference edge forwarder" in out
    assert "8/8 verdicts as expected" in out and "UNEXPECTED" not in out


def test_offline_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "10/10 verdicts as expected" in out and "UNEXPECTED" not in out


def test_keygen_through_the_main_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--out-dir", str(tmp_path), "--key-id", "edge-test"]) == 0
    assert (tmp_path / "edge-test.key").stat().st_mode & 0o077 == 0
    assert "SignedEnvelope.from_files" in capsys.readouterr().out
