#!/usr/bin/env python3
"""Run every benchmark section and regenerate ``docs/benchmarks.md`` and its plots.

    python benchmarks/run_all.py            # the full suite (under 12 min on 2 cores)
    python benchmarks/run_all.py --quick    # smoke run (under 3 min): short, small, noisy
    python benchmarks/run_all.py --skip frameworks,edge --json /tmp/bench.json

Sections (each also runs alone, see its module):
  compare     bench_compare.py        one verification side by side: signature floors, bare
                                      pyca, OpenSSL, pyhanko, originverify cold / new leaf /
                                      hit (P-256 and RSA-2048); the signed envelope against
                                      its floor; thread scaling
  breakdown   bench_profile.py        stage by stage: cold, new leaf, hit
  fleet       bench_fleet.py          cost per request for N devices as N passes the cache size
  scaling     bench_cache_scaling.py  memory per cache entry up to 100k; hit cost; chain length
  hostile     bench_hostile.py        RSS under distinct large bogus certificates
  decode      bench_decode.py         header decoding per edge format, share of the total
  revocation  bench_revocation.py     CRL checking and the second engine (run as a child)
  frameworks  bench_frameworks.py     Flask and Django under gunicorn + wrk, with/without
  edge        bench_edge.py           the reference forwarder vs nginx (run as a child)

A section that fails is reported as failed in the document; the others still run. Every
child process has a timeout, so the run is bounded even when something hangs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_cache_scaling  # noqa: E402 - after the sys.path line, for `python -m` too
import bench_compare  # noqa: E402
import bench_decode  # noqa: E402
import bench_fleet  # noqa: E402
import bench_frameworks  # noqa: E402
import bench_hostile  # noqa: E402
import bench_profile  # noqa: E402
import report  # noqa: E402
from _common import CLOCK_NAME, load_average, machine_info  # noqa: E402

SECTIONS = (
    "compare",
    "breakdown",
    "fleet",
    "scaling",
    "hostile",
    "decode",
    "revocation",
    "frameworks",
    "edge",
)


def run_child(script: str, options: list[str], timeout: float) -> dict[str, Any]:
    """A section script as a child process; its Markdown output goes into the report."""
    cmd = [sys.executable, str(HERE / script), *options]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"{script} did not finish within {timeout:.0f} s"}
    if proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"{script} exited {proc.returncode}: {' / '.join(tail)}"}
    return {
        "command": " ".join(["python", f"benchmarks/{script}", *options]),
        "seconds": time.monotonic() - start,
        "markdown": proc.stdout,
    }


def jobs_for(args: argparse.Namespace) -> dict[str, Callable[[], dict[str, Any]]]:
    """What each section runs, with the quick or full settings."""
    quick = args.quick
    seconds = args.seconds or (2 if quick else 3)
    rounds = args.rounds or (1 if quick else 5)
    edge = ["--seconds", str(int(seconds)), "--workers", str(args.workers)]
    revocation = ["--rounds", "7", "--entries", "100000", "--calls", "100"]
    return {
        "compare": lambda: (
            bench_compare.run(3, 0.01, quick=True, thread_seconds=0.5, thread_rounds=1)
            if quick
            else bench_compare.run(11, 0.03, thread_seconds=1.0, thread_rounds=3)
        ),
        "breakdown": lambda: bench_profile.run(150 if quick else 1000),
        "fleet": lambda: (
            bench_fleet.run(bench_fleet.QUICK_SIZES, 3, 0.01) if quick else bench_fleet.run()
        ),
        "scaling": lambda: (
            bench_cache_scaling.run(
                sizes=bench_cache_scaling.QUICK_SIZES,
                lookups=2_000,
                rounds=3,
                chain_rounds=3,
                target_s=0.01,
                timeout=120,
            )
            if quick
            else bench_cache_scaling.run(timeout=420)
        ),
        "hostile": lambda: bench_hostile.run(4_000 if quick else 12_000, timeout=300),
        "decode": lambda: bench_decode.run(
            rounds=3 if quick else 11, target_s=0.01 if quick else 0.02
        ),
        "revocation": lambda: run_child(
            "bench_revocation.py",
            ["--rounds", "2", "--entries", "5000", "--calls", "30"] if quick else revocation,
            timeout=300,
        ),
        "frameworks": lambda: bench_frameworks.run(
            workers=args.workers, seconds=seconds, rounds=rounds
        ),
        "edge": lambda: run_child(
            "bench_edge.py",
            edge + (["--rounds", "1"] if quick else []),
            timeout=300 if quick else 480,
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs, small sizes")
    parser.add_argument("--skip", default="", help=f"comma-separated: {','.join(SECTIONS)}")
    parser.add_argument("--only", default="", help="comma-separated sections to run")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--output", type=Path, default=report.DOC, help="Markdown report path")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn / edge workers")
    parser.add_argument("--seconds", type=float, help="wrk run length (default 3, quick 2)")
    parser.add_argument("--rounds", type=int, help="framework rounds (default 5, quick 1)")
    args = parser.parse_args()

    chosen = [s for s in SECTIONS if not args.only or s in args.only.split(",")]
    chosen = [s for s in chosen if s not in args.skip.split(",")]
    unknown = set(filter(None, (args.skip + "," + args.only).split(","))) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    quick = args.quick
    jobs = jobs_for(args)

    command = "python benchmarks/run_all.py" + (
        " " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""
    )
    results: dict[str, Any] = {
        "machine": machine_info(),
        "meta": {
            "quick": quick,
            "command": command,
            "clock": CLOCK_NAME,
            "load_before": load_average(),
        },
    }
    started = time.monotonic()
    timings: dict[str, float] = {}
    for name in chosen:
        print(f"[run_all] {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            results[name] = jobs[name]()
        except Exception as exc:  # one failed section must not lose the others
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        timings[name] = time.monotonic() - t0
        print(f"[run_all] {name}: {timings[name]:.0f} s", file=sys.stderr, flush=True)
    results["meta"].update(
        duration_s=time.monotonic() - started,
        section_s=timings,
        load_after=load_average(),
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    path = report.write_report(results, args.output)
    print(f"[run_all] wrote {path} in {results['meta']['duration_s']:.0f} s", file=sys.stderr)
    for row in report.targets(results):
        print(f"  {'met   ' if row['met'] else 'MISSED'} {row['name']}: {row['value']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
