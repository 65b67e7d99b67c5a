"""The fast path's differential proof, long: ``python -m tests.fastpath.long_run [N]``.

Runs N generated cases (default 5000) and every limbo case, prints the counts (cases
compared, how each was decided, disagreements) and exits non-zero on any disagreement.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.fastpath import test_differential as differential
from tests.fastpath.limbo_pairs import run_limbo


def main() -> int:
    import logging

    logging.disable(logging.CRITICAL)
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    counts: Counter[str] = Counter()
    failures: list[str] = []

    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(case=differential.cases)
    def generated(case: dict[str, Any]) -> None:
        try:
            differential.check_case(case, counts)
        except AssertionError as exc:
            failures.append(str(exc)[:2000])

    generated()
    print("generated:", dict(sorted(counts.items())))
    limbo_counts = run_limbo(differential.LIMBO_CASES)
    print("limbo:", dict(sorted(limbo_counts.items())))
    for failure in failures[:10]:
        print("DISAGREEMENT", failure)
    return 1 if failures or limbo_counts["disagreements"] else 0


if __name__ == "__main__":
    sys.exit(main())
