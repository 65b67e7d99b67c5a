"""mkdocs hook: links from docs/ to the rest of the repository (``../examples/...``) work on
GitHub as they are; on the site they become links to the repository's files."""

from __future__ import annotations

import re
from typing import Any

_OUTSIDE = re.compile(r"\]\(\.\./([^)#\s]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Rewrite ``](../path)`` to ``](<repo_url>/blob/main/path)``."""
    base = str(config["repo_url"]).rstrip("/")

    def repo_link(match: re.Match[str]) -> str:
        return f"]({base}/blob/main/{match.group(1)}{match.group(2) or ''})"

    return _OUTSIDE.sub(repo_link, markdown)
