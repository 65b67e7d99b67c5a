"""Every CloudFront claim in docs/edges.md cites AWS's documentation or says it is inferred."""

from __future__ import annotations

import re
from pathlib import Path

TEXT = (Path(__file__).resolve().parents[2] / "docs" / "edges.md").read_text()
MARKERS = re.compile(r"\]\[cf-[a-z-]+\]|[Ii]nferred|not documented|not confirmed")


def test_cloudfront_section_bullets_cite_or_say_inferred() -> None:
    section = TEXT.split("### Amazon CloudFront\n", 1)[1].split("\n### ", 1)[0]
    bullets = [b for b in re.split(r"\n- ", section)[1:] if b.strip()]
    assert len(bullets) >= 5
    for bullet in bullets:
        assert MARKERS.search(bullet), bullet


def test_cloudfront_table_rows_cite() -> None:
    rows = [line for line in TEXT.splitlines() if line.startswith("| Amazon CloudFront")]
    assert len(rows) == 2
    for row in rows:
        assert "][cf-modes]" in row and "][cf-headers]" in row


def test_every_cited_source_is_defined() -> None:
    used = set(re.findall(r"\]\[(cf-[a-z-]+)\]", TEXT))
    defined = set(re.findall(r"^\[(cf-[a-z-]+)\]: https://docs\.aws\.amazon\.com/", TEXT, re.M))
    assert used and used <= defined
