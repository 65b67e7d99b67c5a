"""Differential run (frankencert style): generated chains through pyca, pyhanko-certvalidator
and OpenSSL, all behind ``Verifier.verify_request``. Every disagreement must be a known,
documented difference (``triage.KNOWN``, docs/engines.md); no engine of ours may accept a
chain carrying a defect our policy refuses. The long run is ``scripts/differential.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("OpenSSL")
pytest.importorskip("pyhanko_certvalidator")

from tests.differential.run import Harness, Summary, run
from tests.differential.triage import KNOWN

CHAINS = 300
DOCS = Path(__file__).resolve().parents[2] / "docs" / "engines.md"


@pytest.fixture(scope="module")
def harness() -> Harness:
    return Harness(pool_seed=0)


@pytest.fixture(scope="module")
def summary(harness: Harness) -> Summary:
    return run(CHAINS, first_seed=0, harness=harness)


def test_every_disagreement_is_a_known_difference(summary: Summary) -> None:
    print(
        f"\ndifferential: {summary.chains} chains, {summary.accepted_by_all} accepted by all, "
        f"{summary.refused_by_all} refused by all, {len(summary.disagreements)} disagreements "
        f"({dict(summary.known)}), {len(summary.unexplained)} unexplained"
    )
    assert [r.describe() for r in summary.unexplained] == []


def test_the_run_exercises_both_verdicts(summary: Summary) -> None:
    assert summary.accepted_by_all >= CHAINS // 10
    assert summary.refused_by_all >= CHAINS // 3


def test_no_engine_of_ours_accepts_a_fatal_defect(summary: Summary) -> None:
    assert [r.describe() for r in summary.fatal_accepted] == []


def test_pyca_and_certvalidator_agree_except_policy_processing(summary: Summary) -> None:
    for result in summary.disagreements:
        pyca, pyhanko = result.verdicts["cryptography"], result.verdicts["certvalidator"]
        if (pyca is None) != (pyhanko is None):
            assert any(label.endswith(".policy_constraints") for label in result.chain.labels)


def test_every_known_difference_is_documented() -> None:
    text = DOCS.read_text()
    for known in KNOWN:
        assert f"`{known.name}`" in text, known.name


def test_generation_is_deterministic(harness: Harness) -> None:
    first, again = harness.generator.generate(7), harness.generator.generate(7)
    assert first.labels == again.labels and first.anchor == again.anchor
