"""Every corpus item as configuration: a trust anchor, an extra intermediate, a file named
in ``build_verifier`` settings, for every engine. Configuration is read at start-up, so a
bad certificate must stop it with ``ConfigurationError`` (a message naming the problem),
never with another exception; a certificate that loads must give a verifier whose requests
never raise anything but ``VerificationError``."""

from __future__ import annotations

import traceback
import warnings
from collections import Counter
from pathlib import Path

import pytest

from originverify import ConfigurationError, EdgeSecret, TrustStore, Verifier, build_verifier
from originverify.devpki import cert_pem
from tests.adversarial.corpus.harness import SECRET, request_headers, run, subset
from tests.adversarial.corpus.items import Item, MutantPki

#: Exceptions other than ConfigurationError that configuration currently lets out:
#: (file, function, exception) → owner. Empty since trust.py turned InvalidVersion (found
#: by this corpus) into ConfigurationError; test_invalid_version_is_a_configuration_error
#: keeps it so.
KNOWN: dict[tuple[str, str, str], str] = {}
REPRODUCER = "pyca:custom/invalid_version.pem#0"

SUMMARY: dict[str, Counter[str]] = {}


def _site(exc: BaseException) -> tuple[str, str, str]:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/originverify/" in f.filename]
    frame = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return (Path(frame.filename).name, frame.name, type(exc).__name__)


def _configure(item: Item, pki: MutantPki, how: str, engine: str, tmp: Path) -> Verifier:
    anchors = cert_pem(pki.root.cert)
    source = EdgeSecret(secrets=[SECRET])
    if how == "anchor":
        return Verifier(trust=item.der, source=source, engine=engine, cache=None)
    if how == "extra-intermediate":
        trust = TrustStore(anchors, item.der)
        return Verifier(trust=trust, source=source, engine=engine, cache=None)
    path = tmp / "configured.pem"
    path.write_bytes(item.der)
    (tmp / "anchors.pem").write_bytes(anchors)
    settings = {"edge_secrets": [SECRET], "engine": engine, "cache_size": 0}
    if how == "anchors-file":
        return build_verifier({**settings, "anchors": str(path)})
    return build_verifier(
        {**settings, "anchors": str(tmp / "anchors.pem"), "extra_intermediates": str(path)}
    )


HOW = ("anchor", "extra-intermediate", "anchors-file", "extra-intermediates-file")


def _judge(
    item: Item, pki: MutantPki, how: str, engine: str, tmp: Path, tally: Counter[str]
) -> str | None:
    """``None`` if the item was handled as it must be, else a description of the crash."""
    try:
        v = _configure(item, pki, how, engine, tmp)
    except ConfigurationError as exc:
        tally["ConfigurationError"] += 1
        assert str(exc), "a ConfigurationError must say what is wrong"
        return None
    except Exception as exc:
        site = _site(exc)
        tally["crash"] += 1
        return None if site in KNOWN else f"{how}/{engine} {item.name}: {site} {exc!r}"
    tally["loaded"] += 1
    verdict = run(
        v, request_headers("cloudfront-passthrough", pki.leaf.der, (pki.intermediate_der,))
    )
    tally[f"request:{verdict.outcome}"] += 1
    if verdict.escaped is not None:
        return f"{how}/{engine} {item.name}: request raised {verdict.escaped}"
    return None


@pytest.mark.parametrize(
    ("engine", "ways", "every"),
    [
        ("cryptography", HOW[:2], 1),  # objects: the whole corpus
        ("cryptography", HOW[2:], 10),  # settings naming files: a slice
        ("certvalidator", HOW[:2], 40),
        ("both", HOW[:2], 40),
    ],
)
def test_corpus_as_configuration(
    engine: str,
    ways: tuple[str, ...],
    every: int,
    corpus: list[Item],
    mutant_pki: MutantPki,
    tmp_path: Path,
) -> None:
    tally: Counter[str] = Counter()
    crashes = []
    items = corpus if every == 1 else subset(corpus, every)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for item in items:
            for how in ways:
                crash = _judge(item, mutant_pki, how, engine, tmp_path, tally)
                if crash:
                    crashes.append(crash)
    SUMMARY[f"{engine} {'/'.join(ways)}"] = tally
    assert not crashes, "\n".join(crashes[:20])
    assert tally["ConfigurationError"] > 50 and tally["loaded"] > 50


@pytest.mark.parametrize("how", HOW)
def test_invalid_version_is_a_configuration_error(
    how: str, corpus: list[Item], mutant_pki: MutantPki, tmp_path: Path
) -> None:
    item = next(i for i in corpus if i.name == REPRODUCER)
    with pytest.raises(ConfigurationError):
        _configure(item, mutant_pki, how, "cryptography", tmp_path)
