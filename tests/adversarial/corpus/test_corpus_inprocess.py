"""Every corpus item through ``Verifier.verify_request``, as the leaf and as a chain element,
for one preset of each wire-encoding family; encoded by the project's own test encoders.

Asserted per request: no exception other than ``VerificationError`` leaves the verifier;
the verdict is one the item allows (``harness.expected``); no boundary hit outside the
known crash sites (``known.py``); no attribute of an accepted identity raises. The tally
(items by source, verdicts by reason, crash sites) is printed at the end of the run.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter

import pytest

from originverify import Reason
from originverify.devpki import cert_pem
from tests.adversarial.corpus.harness import (
    ACCEPTED,
    CHAIN_PRESETS,
    PRESETS,
    WITH_CLAIMS,
    Tally,
    expected,
    placements,
    request_headers,
    run,
    subset,
    verifier,
)
from tests.adversarial.corpus.items import Item, MutantPki
from tests.adversarial.corpus.known import IDENTITY_ATTRIBUTES, known_site
from tests.formats.edgewire import CHAIN_CAPABLE, ENCODERS

#: Filled by the tests, printed by the corpus conftest's terminal summary.
SUMMARY: dict[str, object] = {}


#: The preset whose verifier keeps a result cache: each request is sent twice, and the
#: second answer (a cache hit when the first was accepted) must be the first one.
CACHED = "alb-passthrough"


def _run_preset(
    preset: str, corpus: list[Item], pki: MutantPki, engine: str, chain_capable: set[str]
) -> Tally:
    cache = 8192 if preset == CACHED else None
    fmt = preset.removesuffix(WITH_CLAIMS)
    v = verifier(fmt, cert_pem(pki.root.cert), engine=engine, cache=cache)
    tally = Tally()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography's deprecation warnings on odd serials
        for item in corpus:
            for position, leaf, chain in placements(item, pki):
                if position == "chain" and fmt not in chain_capable:
                    continue  # this edge forwards the leaf only
                headers = request_headers(preset, leaf, chain)
                verdict = run(v, headers)
                label = f"{preset}:{position}:{item.name}"
                tally.add(label, item, verdict, expected(item, position, fmt))
                if cache is not None:
                    again = run(v, headers)
                    if (again.outcome, again.escaped) != (verdict.outcome, verdict.escaped):
                        tally.wrong.append(f"{label}: {verdict.outcome}, then {again.outcome}")
    return tally


def test_corpus_has_every_source(corpus: list[Item]) -> None:
    sources = Counter(item.source for item in corpus)
    SUMMARY["sources"] = dict(sources)
    SUMMARY["parses"] = dict(Counter((i.source, i.parses) for i in corpus))
    assert sources["pyca"] > 500
    assert sources["asn1crypto"] > 40
    assert sources["mutant"] > 1000
    assert sources["transplant"] > 1000
    # limbo.json lives in shared/, beside the repository; CI has a copy.
    assert sources["limbo"] > 500 or not (
        __import__("tests.conformance.limbo", fromlist=["LIMBO"]).LIMBO.exists()
    )
    # Both halves are real: malformed bytes and certificates that parse.
    assert sum(1 for i in corpus if not i.parses) > 500
    assert sum(1 for i in corpus if i.parses) > 1000


#: (preset, engine): every preset with the default engine, and the other two engines once.
CONFIGS = [(preset, "cryptography") for preset in PRESETS] + [
    (f"cloudfront-passthrough{WITH_CLAIMS}", "cryptography"),
    ("cloudfront-passthrough", "certvalidator"),
    ("cloudfront-passthrough", "both"),
]


@pytest.mark.parametrize(("preset", "engine"), CONFIGS)
def test_corpus_through_verify_request(
    preset: str, engine: str, corpus: list[Item], mutant_pki: MutantPki
) -> None:
    if engine != "cryptography":
        # The slower engines get a slice; limbo's chains run through them in tests/conformance.
        corpus = [i for i in subset(corpus, 3) if i.source != "limbo"]
    elif not preset.startswith("cloudfront-passthrough"):
        # The whole corpus goes through CloudFront's decoder; the other wire encodings get
        # every hand-made item and re-signed mutant, and half of the rest.
        corpus = subset(corpus, 2)
    tally = _run_preset(preset, corpus, mutant_pki, engine, set(CHAIN_PRESETS))
    SUMMARY[f"{preset}/{engine}"] = tally
    _assert_clean(tally)
    # The corpus is not vacuous for this preset: both verdict kinds occur.
    assert tally.outcomes[Reason.MALFORMED_CERTIFICATE.value] > 300
    leaf_only = preset.removesuffix(WITH_CLAIMS) not in CHAIN_PRESETS
    assert tally.outcomes[ACCEPTED] > 100 or leaf_only
    assert sum(n for o, n in tally.outcomes.items() if o != ACCEPTED) > 900


@pytest.mark.parametrize("preset", sorted(set(ENCODERS) - set(PRESETS)))
def test_corpus_slice_through_every_other_preset(
    preset: str, corpus: list[Item], mutant_pki: MutantPki
) -> None:
    """The other edge presets' decoders, on the slow-path slice of the corpus."""
    tally = _run_preset(preset, subset(corpus, 10), mutant_pki, "cryptography", CHAIN_CAPABLE)
    SUMMARY[f"{preset}/cryptography (slice)"] = tally
    _assert_clean(tally)
    assert tally.outcomes[Reason.MALFORMED_CERTIFICATE.value] > 100


def _assert_clean(tally: Tally) -> None:
    assert not tally.escaped, "\n".join(tally.escaped[:20])
    assert not tally.wrong, "\n".join(tally.wrong[:20])
    new_sites = {
        str(hit): labels[:3]
        for hit, labels in tally.hits.items()
        if known_site(hit.site, hit.exception) is None
    }
    assert not new_sites, f"new crash sites (add a fix, or list them in known.py): {new_sites}"
    new_attributes = {a: v[:3] for a, v in tally.unreadable.items() if a not in IDENTITY_ATTRIBUTES}
    assert not new_attributes, f"accepted identities whose attributes raise: {new_attributes}"


#: The corpus item reproducing each known crash site: (item, position, engine, preset).
REPRODUCERS: dict[str, tuple[str, str, str, str]] = {
    "invalid-version": (
        "pyca:custom/invalid_version.pem#0",
        "leaf",
        "cryptography",
        "cloudfront-passthrough",
    ),
    "certvalidator-dn-bitstring": (
        "pyca:scottishpower-bitstring-dn.pem#0",
        "chain",
        "certvalidator",
        "cloudfront-passthrough",
    ),
    "certvalidator-ca-key-usage-empty": (
        "mutant:chain:key-usage-empty-bitstring:resigned",
        "chain",
        "certvalidator",
        "cloudfront-passthrough",
    ),
    "certvalidator-unknown-key": (
        "mutant:chain:spki-curve-unknown:resigned",
        "chain",
        "certvalidator",
        "cloudfront-passthrough",
    ),
    "claims-validity-year-9999": (
        "asn1crypto:9999-years-rsa-cert.pem#0",
        "leaf",
        "cryptography",
        "cloudfront-passthrough+claims",
    ),
}


def _find(corpus: list[Item], name: str) -> Item:
    return next(item for item in corpus if item.name == name)


@pytest.mark.parametrize("key", list(REPRODUCERS))
def test_known_crash_site_is_fixed(key: str, corpus: list[Item], mutant_pki: MutantPki) -> None:
    """Regression: every crash site the corpus found stays fixed (no boundary hit). A site
    still open would be listed in known.BOUNDARY with a strict xfail here."""
    name, position, engine, preset = REPRODUCERS[key]
    item = _find(corpus, name)
    fmt = preset.removesuffix(WITH_CLAIMS)
    v = verifier(fmt, cert_pem(mutant_pki.root.cert), engine=engine)
    (leaf, chain) = next((lf, ch) for p, lf, ch in placements(item, mutant_pki) if p == position)
    verdict = run(v, request_headers(preset, leaf, chain))
    assert verdict.escaped is None
    assert not verdict.hits, [str(h) for h in verdict.hits]
    assert verdict.outcome in expected(item, position)


UNDECODABLE_SUBJECTS = [
    "cn-invalid-utf8-0",
    "cn-invalid-utf8-3",
    "cn-teletex-high-bytes",
    "cn-ia5-high-bytes",
    "cn-unknown-string-tag",
    "cn-not-a-string",
    "subject-empty-rdn",
]


@pytest.mark.parametrize("mutation", UNDECODABLE_SUBJECTS)
def test_accepted_identity_attributes_never_raise(
    mutation: str, corpus: list[Item], mutant_pki: MutantPki
) -> None:
    """A leaf our CA signed with an undecodable subject: either refused (a stable reason)
    or accepted with every attribute readable; never an identity that raises in a view.
    (Found by this corpus; fixed by refusing such leaves as malformed_certificate.)"""
    item = _find(corpus, f"mutant:leaf:{mutation}:resigned")
    v = verifier("cloudfront-passthrough", cert_pem(mutant_pki.root.cert))
    [(_, leaf, chain)] = placements(item, mutant_pki)
    verdict = run(v, request_headers("cloudfront-passthrough", leaf, chain))
    assert verdict.escaped is None
    assert verdict.unreadable == []


def test_debug_logging_never_raises(
    corpus: list[Item], mutant_pki: MutantPki, caplog: pytest.LogCaptureFixture
) -> None:
    """With the originverify logger at DEBUG, each accepted request's log line renders the
    subject: for every leaf our CA signed (mutants and re-issued public certificates), that
    must not raise out of verify_request (it did, for an undecodable subject)."""
    v = verifier("cloudfront-passthrough", cert_pem(mutant_pki.root.cert))
    escaped, accepted = [], 0
    with caplog.at_level(logging.DEBUG, logger="originverify"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for item in corpus:
            if not item.signed or item.role != "leaf":
                continue
            [(_, leaf, chain)] = placements(item, mutant_pki)
            verdict = run(v, request_headers("cloudfront-passthrough", leaf, chain))
            accepted += verdict.outcome == ACCEPTED
            if verdict.escaped is not None:
                escaped.append(f"{item.name}: {verdict.escaped}")
    assert not escaped, "\n".join(escaped[:20])
    assert accepted > 100
