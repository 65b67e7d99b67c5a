"""The documentation site builds with strict warnings (broken links, pages missing from the
nav, docstrings mkdocstrings cannot render all fail), and every page is in the nav."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _nav_pages(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_nav_pages(item) for item in nav))
    if isinstance(nav, dict):
        return set().union(*(_nav_pages(value) for value in nav.values()))
    return set()


def test_every_docs_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = _nav_pages(config["nav"])
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages - listed == set(), "add these pages to `nav` in mkdocs.yml"
    assert listed - pages == set(), "these nav entries have no page"


def test_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    core = (tmp_path / "reference" / "core" / "index.html").read_text()
    assert "verify_request" in core and "build_verifier" in core  # rendered from docstrings
    assert "x5t_s256" in (tmp_path / "reference" / "tools" / "index.html").read_text()
    edges = (tmp_path / "edges" / "index.html").read_text()
    assert "/blob/main/examples/cloudfront/" in edges  # repository links rewritten
