"""Run generated chains through every engine (behind the same ``Verifier``) and compare.

Three opinions: ``cryptography`` (pyca), ``certvalidator`` (pyhanko) and ``openssl``
(pyOpenSSL, SSL-client purpose). All three sit behind ``Verifier.verify_request``, so the
leaf profile, the key caps and the clock are the same; what differs is path building and
validation. A *disagreement* is a chain one of them accepts and another refuses.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass

from originverify import InsecureNoSourceProof, Reason, VerificationError, Verifier
from originverify.chain import ValidationPolicy
from originverify.formats.sfbinary import serialize_item, serialize_list
from originverify.trust import TrustStore
from tests.differential.generator import T0, Chain, Generator, Issuer, KeyPool, make_roots
from tests.differential.openssl_engine import OpenSSLEngine
from tests.differential.triage import fatal, triage

ENGINES = ("cryptography", "certvalidator", "openssl")
Verdict = Reason | None


@dataclass
class Result:
    chain: Chain
    verdicts: dict[str, Verdict]

    @property
    def agreed(self) -> bool:
        return len({v is None for v in self.verdicts.values()}) == 1

    def describe(self) -> str:
        verdicts = ", ".join(
            f"{e}={'accept' if v is None else v.value}" for e, v in self.verdicts.items()
        )
        return f"seed {self.chain.seed} [{' '.join(self.chain.labels) or 'clean'}]: {verdicts}"


class Harness:
    def __init__(self, pool_seed: int = 0) -> None:
        self.pool = KeyPool(random.Random(pool_seed))
        self.roots = make_roots(self.pool)
        self.generator = Generator(self.pool, self.roots)
        policy = ValidationPolicy(validation_time=T0)
        self.verifiers: dict[int, dict[str, Verifier]] = {}
        for root in self.roots:
            self.verifiers[id(root.cert)] = self._verifiers(root, policy)

    @staticmethod
    def _verifiers(root: Issuer, policy: ValidationPolicy) -> dict[str, Verifier]:
        store = TrustStore(root.cert)
        engines: dict[str, object] = {
            "cryptography": "cryptography",
            "certvalidator": "certvalidator",
            "openssl": OpenSSLEngine(store, policy),
        }
        return {
            name: Verifier(
                trust=store,
                source=InsecureNoSourceProof(),
                engine=engine,  # type: ignore[arg-type]
                policy=policy,
                cache=None,
            )
            for name, engine in engines.items()
        }

    def run_one(self, seed: int) -> Result:
        chain = self.generator.generate(seed)
        headers = [("Client-Cert", serialize_item(chain.leaf))]
        if chain.presented:
            headers.append(("Client-Cert-Chain", serialize_list(chain.presented)))
        verdicts: dict[str, Verdict] = {}
        for name, verifier in self.verifiers[id(chain.anchor)].items():
            try:
                verifier.verify_request(headers)
                verdicts[name] = None
            except VerificationError as exc:
                verdicts[name] = exc.reason
        return Result(chain, verdicts)


@dataclass
class Summary:
    chains: int
    accepted_by_all: int
    refused_by_all: int
    disagreements: list[Result]
    known: Counter[str]
    unexplained: list[Result]
    reason_mismatches: int  # both refuse, different reasons (pyca vs certvalidator)
    fatal_accepted: list[Result]  # a defect our policy refuses, accepted by one of ours


def run(count: int, first_seed: int = 0, harness: Harness | None = None) -> Summary:
    harness = harness or Harness()
    results = []
    logging.disable(logging.WARNING)
    try:
        for seed in range(first_seed, first_seed + count):
            results.append(harness.run_one(seed))
    finally:
        logging.disable(logging.NOTSET)
    disagreements = [r for r in results if not r.agreed]
    known: Counter[str] = Counter()
    unexplained = []
    for result in disagreements:
        name = triage(result.chain.labels, result.verdicts)
        if name is None:
            unexplained.append(result)
        else:
            known[name] += 1
    mismatched = sum(
        1
        for r in results
        if r.agreed
        and r.verdicts["cryptography"] is not None
        and r.verdicts["cryptography"] != r.verdicts["certvalidator"]
    )
    return Summary(
        chains=len(results),
        accepted_by_all=sum(1 for r in results if r.agreed and r.verdicts["cryptography"] is None),
        refused_by_all=sum(
            1 for r in results if r.agreed and r.verdicts["cryptography"] is not None
        ),
        disagreements=disagreements,
        known=known,
        unexplained=unexplained,
        reason_mismatches=mismatched,
        fatal_accepted=[
            r
            for r in results
            if None in (r.verdicts["cryptography"], r.verdicts["certvalidator"])
            and fatal(r.chain.labels)
        ],
    )
