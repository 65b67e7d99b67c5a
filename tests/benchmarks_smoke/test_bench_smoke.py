"""The benchmark comparison still runs and its report still renders (benchmarks are not
tests: tiny round counts, no timing is asserted; this only catches a broken benchmark)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Iterator[dict[str, ModuleType]]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_compare
        import bench_fleet
        import report

        yield {"compare": bench_compare, "fleet": bench_fleet, "report": report}
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def results(bench: dict[str, ModuleType]) -> dict[str, Any]:
    compare = bench["compare"].run(
        rounds=1, target_s=0.002, quick=True, thread_seconds=0.05, thread_rounds=1, fresh_cap=10
    )
    fleet = bench["fleet"].run(sizes=(20, 40), rounds=1, target_s=0.002)
    return {"compare": compare, "fleet": fleet, "meta": {"quick": True, "command": "smoke"}}


def test_every_case_is_measured_for_both_key_types(
    bench: dict[str, ModuleType], results: dict[str, Any]
) -> None:
    compare = results["compare"]
    envelope = set(bench["compare"].ENVELOPE)
    for key_type in ("ec", "rsa"):
        row = compare[key_type]
        expected = set(compare["cases"]) - (set() if key_type == "ec" else envelope)
        assert set(row["us"]) == expected
        assert row["ratio_to_bare"]["bare_der"] == pytest.approx(1.0)
        facts = row["facts"]
        assert facts["via_cold"] != "cache", "cache off must not answer from a cache"
        assert facts["via_hit"] == "cache"
        assert facts["new_leaf_cache_hits"] == 0, "a new leaf must never be a cache hit"
        assert not any(facts["stale_fresh"].values()), "a pre-made pool wrapped around"
    assert set(compare["ec"]["ratio_to_raw"]) == {"env_ed25519", "env_hmac"}
    assert compare["ec"]["facts"]["via_env_ed25519"] == "cache"
    assert compare["threads"]["ec"]["ov_cold"]["rps_1"] > 0


def test_report_renders_with_every_target(
    bench: dict[str, ModuleType], results: dict[str, Any], tmp_path: Path
) -> None:
    path = bench["report"].write_report(results, tmp_path / "benchmarks.md")
    text = path.read_text()
    for heading in ("## Headline: targets", "## 1. One verification", "## 2. A fleet"):
        assert heading in text
    verdicts = bench["report"].targets(results)
    names = {row["id"] for row in verdicts}
    for expected in (
        "new_leaf_ec",
        "new_leaf_rsa",
        "cold_ec",
        "cold_rsa",
        "hit_ec",
        "hit_rsa",
        "envelope_ed25519",
        "envelope_hmac_ec",
    ):
        assert expected in names
    for row in verdicts:  # met or missed, never hidden
        assert f"| {row['name']} | {row['value']} |" in text
    assert "Not run (skipped on the command line)" in text  # the sections not given here
    if (tmp_path / "benchmarks" / "compare.png").exists():
        assert (tmp_path / "benchmarks" / "fleet.png").stat().st_size > 0
