#!/usr/bin/env python3
"""Run every fuzz target for a bounded time and report executions and findings.

    .venv/bin/python fuzz/run.py                 # every target, 20 s each
    .venv/bin/python fuzz/run.py --seconds 60 envoy-xfcc verify_request

Seeds are valid requests in each edge's wire form, generated fresh into a temporary corpus
(never committed: they hold generated certificates). Crashes are written to fuzz/crashes/.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_seeds(corpus: Path, target: str) -> int:
    """A few valid requests; the fuzzer's provider reads names and values from the bytes."""
    from tests.formats.edgewire import ENCODERS, client

    corpus.mkdir(parents=True, exist_ok=True)
    c = client()
    encode = ENCODERS.get("cloudfront-passthrough" if target == "verify_request" else target)
    if encode is None:
        return 0
    count = 0
    for chain in ([], list(c.chain)):
        pairs = encode(c.leaf, chain)
        blob = bytes([len(pairs)]) + b"".join(
            bytes([i]) + v.encode("utf-8", "surrogatepass") for i, (_, v) in enumerate(pairs)
        )
        (corpus / f"seed{count}").write_bytes(blob)
        count += 1
    return count


def run(target: str, seconds: int, crashes: Path) -> tuple[int, str]:
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as tmp:
        corpus = Path(tmp) / "corpus"
        write_seeds(corpus, target)
        crashes.mkdir(exist_ok=True)
        command = [
            sys.executable,
            str(Path(__file__).with_name("targets.py")),
            target,
            f"-max_total_time={seconds}",
            f"-artifact_prefix={crashes}/{target}-",
            "-max_len=16384",
            "-print_final_stats=1",
            str(corpus),
        ]
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    out = result.stdout + result.stderr
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", out)
    executions = int(runs[-1]) if runs else 0
    finding = "none" if result.returncode == 0 else out.strip().splitlines()[-1][:200]
    return executions, finding


def main() -> int:
    from targets import TARGETS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    crashes = Path(__file__).with_name("crashes")
    print("| target | executions | seconds | findings |\n|---|---:|---:|---|")
    failed = 0
    for target in args.targets:
        executions, finding = run(target, args.seconds, crashes)
        failed += finding != "none"
        print(f"| {target} | {executions} | {args.seconds} | {finding} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
