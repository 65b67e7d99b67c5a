"""x509-limbo conformance: every applicable case through our own verification path.

Skips cleanly when ``../shared/conformance/limbo.json`` is absent (outside this project's
CI). The summary line ``x509-limbo: N passed, N failed, N skipped`` is printed at the end of
the pytest run.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import pytest

from tests.conformance import limbo

CASES: list[dict[str, Any]] = limbo.load_cases() if limbo.LIMBO.exists() else []
RESULTS: Counter[str] = Counter()
pytestmark = pytest.mark.skipif(not CASES, reason=f"{limbo.LIMBO} not found")


def test_limbo_file_is_the_pinned_snapshot() -> None:
    assert hashlib.sha256(limbo.LIMBO.read_bytes()).hexdigest() == limbo.LIMBO_SHA256
    assert len(CASES) == 208


def test_every_skip_names_a_case_that_exists() -> None:
    ids = {case["id"] for case in CASES}
    assert set(limbo.CASE_SKIPS) <= ids and set(limbo.WEBPKI_CASES) <= ids
    assert set(limbo.OUR_VERDICTS) <= ids


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_limbo_case(case: dict[str, Any]) -> None:
    outcome = limbo.run_case(case)
    RESULTS[outcome.status] += 1
    if outcome.status == "skipped":
        pytest.skip(outcome.detail)
    assert outcome.status == "passed", outcome.detail
