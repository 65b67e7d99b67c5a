"""A minimal project using django_originverify: middleware, auth backend, DRF view.

Run ``python demo.py`` next to this folder; see ../README.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# Running from a source checkout before `pip install -e .`: use the in-tree integration.
if importlib.util.find_spec("django_originverify") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "integrations"))
