"""Deprecated: the signed envelope moved to ``originverify.envelope``.

This module re-exports its public names for one release; import from
``originverify.envelope`` instead.
"""

from __future__ import annotations

import warnings

from .envelope import *  # noqa: F403
from .envelope import __all__ as __all__

warnings.warn(
    "originverify.signatures is deprecated; import from originverify.envelope",
    DeprecationWarning,
    stacklevel=2,
)
