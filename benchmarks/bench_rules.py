#!/usr/bin/env python3
"""Identity rules on parsed names vs the previous globs over rendered strings, same run.

Rules run on every uncached request, right after the identity is built, so each case builds
a fresh ``ClientIdentity`` (names are parsed lazily, on first use) and then checks:

  legacy-rendered   the pre-issue-15 matcher, kept here verbatim in spirit: one regex per
                    category (``fnmatch.translate``) over ``subject.rfc4514_string()``, the
                    last CN and the first ``spiffe://`` URI
  parsed            ``Rules.check``: DN patterns over RDNs, SPIFFE IDs parsed and matched
                    by segment, the one CN
  cross-check-sha256-serial  ``formats.claims.cross_check`` with the claims compared before
                    (sha256, serial: what CloudFront passthrough sends by default)
  cross-check       the same with validity and RFC 2253 subject and issuer claims too
  verify            a whole uncached ``verify_request`` with the parsed rules, for scale

Rounds interleaved, medians reported; ratios are medians of per-round ratios.
Run alone: ``python benchmarks/bench_rules.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from fnmatch import translate
from typing import Any

from _common import (
    CLIENT_CN,
    SECRET,
    interleaved,
    make_chain,
    paired_ratio,
    rfc9440_pairs,
    summarize,
)
from cryptography.x509.oid import NameOID

from originverify import ClientIdentity, EdgeSecret, HeaderList, Rules, Verifier
from originverify.formats.base import EdgeClaims, ForwardedCertificate
from originverify.formats.claims import RFC2253Name, cross_check

SUBJECT = "CN=*,O=originverify test"
ISSUER = "CN=*,O=originverify test"
SPIFFE = "spiffe://example.org/ns/*/sa/*"
CN = "bench-*"


def legacy_check(identity: ClientIdentity, compiled: dict[str, re.Pattern[str]]) -> bool:
    cert = identity.certificate
    subject = cert.subject.rfc4514_string()
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[-1].value if cns else ""
    spiffe = [u for u in identity.uris if u.startswith("spiffe://")]
    return bool(
        compiled["subject"].fullmatch(subject)
        and compiled["issuer"].fullmatch(cert.issuer.rfc4514_string())
        and compiled["cn"].fullmatch(str(cn))
        and compiled["spiffe"].fullmatch(spiffe[0] if len(spiffe) == 1 else "")
    )


def run(rounds: int) -> dict[str, Any]:
    chain = make_chain("ec", 3)
    # make_chain's leaf has no SPIFFE URI: issue one from the same CA for the rules cases.
    issued = chain.ca.issue(CLIENT_CN, uris=["spiffe://example.org/ns/prod/sa/web"])
    leaf = issued.cert
    legacy = {
        "subject": re.compile(translate(SUBJECT)),
        "issuer": re.compile(translate(ISSUER)),
        "cn": re.compile(translate(CN)),
        "spiffe": re.compile(translate("spiffe://example.org/ns/*")),
    }
    rules = Rules(subjects=(SUBJECT,), issuers=(ISSUER,), common_names=(CN,), spiffe_ids=(SPIFFE,))
    subject = leaf.subject.rfc4514_string()
    claims = EdgeClaims(
        sha256=hashlib.sha256(issued.der).digest(),
        serial=leaf.serial_number,
        unverified_subject=RFC2253Name(subject),
        unverified_issuer=RFC2253Name(leaf.issuer.rfc4514_string()),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        raw=(("x", "y"),),
    )
    forwarded = ForwardedCertificate(issued.der, (), claims)
    before = EdgeClaims(sha256=claims.sha256, serial=claims.serial, raw=claims.raw)
    forwarded_before = ForwardedCertificate(issued.der, (), before)
    verifier = Verifier(
        trust=chain.anchors_pem, source=EdgeSecret(secrets=[SECRET]), cache=None, rules=rules
    )
    headers = HeaderList(rfc9440_pairs(issued.der, issued.chain_der))
    assert verifier.verify_request(headers) is not None
    assert legacy_check(ClientIdentity(leaf, (), ()), legacy)
    cross_check(forwarded, leaf)

    cases = {
        "legacy-rendered": lambda: legacy_check(ClientIdentity(leaf, (), ()), legacy),
        "parsed": lambda: rules.check(ClientIdentity(leaf, (), ())),
        "cross-check-sha256-serial": lambda: cross_check(forwarded_before, leaf),
        "cross-check": lambda: cross_check(forwarded, leaf),
        "verify": lambda: verifier.verify_request(headers),
    }
    samples = interleaved(cases, rounds)
    return {
        "subject": subject,
        "us": {name: summarize(s) for name, s in samples.items()},
        "parsed_vs_legacy": paired_ratio(samples["parsed"], samples["legacy-rendered"]),
        "rules_share_of_verify": paired_ratio(samples["parsed"], samples["verify"]),
        "cross_check_share_of_verify": paired_ratio(samples["cross-check"], samples["verify"]),
        "cross_check_dn_validity_vs_before": paired_ratio(
            samples["cross-check"], samples["cross-check-sha256-serial"]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds), indent=2))


if __name__ == "__main__":
    main()
