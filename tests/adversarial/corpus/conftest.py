"""Fixtures of the corpus tests: the corpus itself and the PKI its mutants come from."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

from tests import summaries
from tests.adversarial.corpus.items import (
    Item,
    MutantPki,
    mutant_items,
    public_items,
    transplanted_items,
)

TESTS = Path(__file__).resolve().parents[2]
for _path in (TESTS / "asgi_wsgi", TESTS / "flask", TESTS / "django"):
    if str(_path) not in sys.path:  # the server kits (ovkit, dj_helpers), as their suites do
        sys.path.insert(0, str(_path))

#: Packages that ship the public corpora (the ``dev`` extra installs them).
CORPUS_PACKAGES = ("cryptography_vectors", "asn1crypto_tests")


@pytest.fixture(scope="session")
def mutant_pki() -> MutantPki:
    return MutantPki.create()


@pytest.fixture(scope="session")
def corpus(mutant_pki: MutantPki) -> list[Item]:
    """Every item: the public corpora, the mutants, the public certificates re-issued under
    the mutants' PKI (deterministic names and order)."""
    import importlib.util

    missing = [p for p in CORPUS_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        how = "pip install -e '.[dev]' (cryptography-vectors, asn1crypto-tests)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"corpus packages missing in CI: {missing}; {how}")
        pytest.skip(f"corpus packages missing: {missing}; {how}")
    with warnings.catch_warnings():
        # cryptography warns about negative serials while the corpus is classified.
        warnings.simplefilter("ignore")
        public = public_items()
        items = public + mutant_items(mutant_pki) + transplanted_items(public, mutant_pki)
        for item in items:
            _ = item.parses
    return items


def corpus_lines() -> list[str]:
    """The corpus's own tally: sizes, verdicts by reason per run, HTTP statuses, and every
    crash site once (with how many requests reached it over all runs)."""
    lines: list[str] = []
    write = lines.append
    sites: dict[str, int] = {}
    for name, module in sorted(sys.modules.items()):
        summary = getattr(module, "SUMMARY", None)
        if not name.startswith("tests.adversarial.corpus.test_") or not summary:
            continue
        for key, value in summary.items():
            if not hasattr(value, "outcomes"):
                write(f"corpus {name.rsplit('_', 1)[-1]} {key}: {dict(value)}")
                continue
            total = sum(value.outcomes.values())
            write(f"corpus {key}: {total} requests, {dict(value.outcomes.most_common())}")
            for hit, labels in value.hits.items():
                where = f"boundary hit: {hit.exception} in stage {hit.stage} at {hit.site}"
                sites[where] = sites.get(where, 0) + len(labels)
            for attribute, labels in value.unreadable.items():
                where = f"accepted identity raises reading {attribute}"
                sites[where] = sites.get(where, 0) + len(labels)
    for where, count in sorted(sites.items()):
        write(f"corpus {where} (x{count})")
    return lines


summaries.register(corpus_lines)
