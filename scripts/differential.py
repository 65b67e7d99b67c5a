"""The long differential run: ``python scripts/differential.py [--count N] [--seed S]``.

Generates ``N`` frankencert-style chains (tests/differential/generator.py), runs each
through pyca, pyhanko-certvalidator and OpenSSL behind ``Verifier.verify_request``, and
prints the counts: accepted/refused by all, disagreements by known difference, and every
unexplained disagreement (exit status 1 if there is one). Needs the ``dev`` extra.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.differential.run import Harness, run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0, help="first chain seed")
    parser.add_argument("--pool-seed", type=int, default=0, help="key pool seed")
    args = parser.parse_args()
    started = time.perf_counter()
    harness = Harness(pool_seed=args.pool_seed)
    summary = run(args.count, first_seed=args.seed, harness=harness)
    fatal_accepted = [r.describe() for r in summary.fatal_accepted]
    print(f"chains generated:      {summary.chains}")
    print(f"accepted by all:       {summary.accepted_by_all}")
    print(f"refused by all:        {summary.refused_by_all}")
    print(f"  (pyca/certvalidator reasons differ on {summary.reason_mismatches} of them)")
    print(f"disagreements:         {len(summary.disagreements)}")
    for name, count in sorted(summary.known.items()):
        print(f"  known {name}: {count}")
    print(f"unexplained:           {len(summary.unexplained)}")
    for result in summary.unexplained:
        print(f"  {result.describe()}")
    print(f"fatal defect accepted by ours: {len(fatal_accepted)}")
    for line in fatal_accepted:
        print(f"  {line}")
    print(f"elapsed: {time.perf_counter() - started:.1f} s")
    return 1 if summary.unexplained or fatal_accepted else 0


if __name__ == "__main__":
    raise SystemExit(main())
