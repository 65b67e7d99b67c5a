"""The settings table in docs/configuration.md is generated from ``settings.KEYS``: it must
list every key the code accepts, and nothing else."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from originverify.settings import KEYS

ROOT = Path(__file__).resolve().parents[2]


def test_generated_table_matches_the_code() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_key_is_documented_and_only_those() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    block = text.split("<!-- settings-reference:", 1)[1].split("<!-- /settings-reference -->")[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", block, re.MULTILINE)
    assert documented == list(KEYS)
    assert {k for k in KEYS if k.startswith("signature_")} <= set(documented)


def test_check_fails_on_a_stale_table(tmp_path: Path) -> None:
    # The checker itself: a table missing a key is reported as stale.
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import config_reference
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    fresh = config_reference.rewrite(
        (ROOT / "docs" / "configuration.md").read_text(), config_reference.render()
    )
    stale = "\n".join(line for line in fresh.splitlines() if "`ocsp_timeout`" not in line)
    assert config_reference.rewrite(stale, config_reference.render()) != stale
