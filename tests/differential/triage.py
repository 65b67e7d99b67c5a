"""Known, documented differences between the engines (docs/engines.md keeps the table).

pyca (``cryptography``, the default engine) is the reference. Every other engine whose
verdict differs from pyca's (accept vs refuse) must be explained by one entry below: a
mutation the chain carries and the verdict pattern it causes. A disagreement that is not
fully explained fails the differential test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from originverify.errors import Reason

Verdicts = Mapping[str, Reason | None]


@dataclass(frozen=True)
class Known:
    name: str
    engine: str  # the engine deviating from pyca
    mutation: str  # label suffix (``ca0.no_ku`` matches ``.no_ku``)
    pyca: Reason | None  # pyca's verdict (None: accepts)
    other: Reason | None  # the deviating engine's verdict
    why: str


KNOWN = (
    Known(
        "certvalidator-policy-constraints",
        "certvalidator",
        ".policy_constraints",
        None,
        Reason.INVALID_CERTIFICATE,
        "pyhanko runs RFC 5280 6.1 policy processing (requireExplicitPolicy); pyca does none",
    ),
    Known(
        "openssl-any-eku",
        "openssl",
        ".eku_any",
        None,
        Reason.BAD_USAGE,
        "OpenSSL's SSL-client purpose ignores anyExtendedKeyUsage; RFC 5280 4.2.1.12 allows it",
    ),
    Known(
        "openssl-ca-bc-noncritical",
        "openssl",
        ".bc_noncritical",
        Reason.INVALID_CERTIFICATE,
        None,
        "a CA with non-critical basicConstraints: OpenSSL accepts without X509_STRICT",
    ),
    Known(
        "openssl-ca-without-ku",
        "openssl",
        ".no_ku",
        Reason.BAD_USAGE,
        None,
        "a CA without keyUsage: RFC 5280 allows it, pyca's CA/B-style profile does not",
    ),
    Known(
        "openssl-ed25519-signature",
        "openssl",
        ".key_ed25519",
        Reason.INVALID_CERTIFICATE,
        None,
        "Ed25519 signatures: outside pyca's web-PKI algorithm set, accepted by OpenSSL",
    ),
    Known(
        "openssl-name-case",
        "openssl",
        ".issuer_case",
        Reason.UNTRUSTED_CHAIN,
        None,
        "issuer name differing in case: OpenSSL matches names case-insensitively (RFC 5280 "
        "7.1), pyca byte for byte",
    ),
)


def explain(engine: str, labels: list[str], verdicts: Verdicts) -> Known | None:
    pyca, other = verdicts["cryptography"], verdicts[engine]
    for known in KNOWN:
        if known.engine != engine or not any(label.endswith(known.mutation) for label in labels):
            continue
        if known.pyca == pyca and known.other == other:
            return known
        if known.pyca is None and pyca is None and other is not None:
            return known  # a refusal whose reason may come from another defect
        if known.other is None and other is None and pyca is not None:
            return known
    return None


def triage(labels: list[str], verdicts: Verdicts) -> str | None:
    """The names of the known differences explaining a disagreement, or ``None``."""
    pyca_accepts = verdicts["cryptography"] is None
    names = []
    for engine, verdict in verdicts.items():
        if engine == "cryptography" or (verdict is None) == pyca_accepts:
            continue
        known = explain(engine, labels, verdicts)
        if known is None:
            return None
        names.append(known.name)
    return "+".join(sorted(names)) or None


#: Mutations that make a chain unacceptable under our policy whatever else it carries:
#: a chain with one of them that every engine accepts is a shared bug, not a difference.
FATAL = (
    ".bad_sig", ".wrong_issuer_name", ".expired", ".not_yet_valid", ".issuer_case",
    ".unknown_critical", ".bc_false", ".ku_no_certsign", ".no_bc_ca", "leaf.ca_true",
    "leaf.ku_no_ds", "leaf.ku_certsign", "leaf.eku_server", "leaf.key_rsa1024",
    "leaf.key_rsa_e3", ".eku_server", ".no_ku_ca", ".bc_noncritical", ".key_ed25519_ca",
)  # fmt: skip


def fatal(labels: list[str]) -> list[str]:
    """The labels of ``labels`` that no acceptable chain can carry."""
    found = [label for label in labels if any(label.endswith(f) for f in FATAL)]
    found += [
        label for label in labels if label.startswith("ca") and label.endswith((".no_ku", ".no_bc"))
    ]
    found += [
        label for label in labels if label.startswith("ca") and label.endswith(".key_ed25519")
    ]
    return found
