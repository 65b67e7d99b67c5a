"""The example project's one command works and shows what the docs say it shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dj_helpers import REPO

DEMO = REPO / "examples" / "django_project" / "demo.py"


@pytest.mark.e2e
def test_demo_runs_with_one_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "11 of 11 answers as expected" in result.stdout
    assert '{"user":"alice","certificate":"CN=alice,O=originverify test"}' in result.stdout
    # the audit receiver logs refusals through the certificate_rejected signal
    assert "audit: GET /staff refused (rule_denied, enforced=True)" in result.stderr
    assert (tmp_path / "client-ca.pem").exists()
    assert "X-Origin-Verify: " in (tmp_path / "alice.headers").read_text()
