"""Every ```python block in README.md and docs/*.md runs, as users would paste it.

Each block runs on its own in a fresh temporary directory that holds what the docs assume
exists: ``client-ca.pem`` (trust anchors), ``intermediates.pem``, and the environment
variable ``ORIGINVERIFY_EDGE_SECRET``. Blocks must not start servers or touch the network.
"""

from __future__ import annotations

import os
import re
import runpy
import sys
from pathlib import Path

import pytest

from originverify.devpki import CertificateAuthority, cert_pem

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        if not path.exists():
            continue
        text = path.read_text()
        for index, match in enumerate(BLOCK.finditer(text)):
            line = text[: match.start()].count("\n") + 1
            found.append((f"{path.relative_to(ROOT)}:{line}#{index}", match.group(1)))
    return found


@pytest.fixture(scope="module")
def pki() -> CertificateAuthority:
    return CertificateAuthority.root_ca("docs root").intermediate("docs intermediate")


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[b[0] for b in _blocks()])
def test_snippet_runs(
    where: str,
    code: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pki: CertificateAuthority,
) -> None:
    (tmp_path / "client-ca.pem").write_bytes(cert_pem(pki.root))
    (tmp_path / "intermediates.pem").write_bytes(pki.pem)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORIGINVERIFY_EDGE_SECRET", "docs-secret-0123456789abcdef")
    monkeypatch.syspath_prepend(str(tmp_path))
    script = tmp_path / "snippet.py"
    script.write_text(code)
    modules = set(sys.modules)
    try:
        runpy.run_path(str(script), run_name="snippet")
    finally:
        for name in set(sys.modules) - modules:
            if name == "snippet" or name.startswith("snippet_"):
                del sys.modules[name]
    assert os.getcwd() == str(tmp_path)
