"""x509-limbo cases run through ``Verifier.verify_request``, the path every adapter calls.

Each case becomes a CloudFront passthrough request: the peer certificate in ``Client-Cert``,
the untrusted intermediates in ``Client-Cert-Chain``, the trusted certificates as anchors,
with the case's validation time, EKU and maximum depth. Cases are judged on the verdict
(accept/refuse), as limbo specifies. Every case that does not run is listed below with the
reason; nothing is skipped silently.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from originverify import (
    ConfigurationError,
    InsecureNoSourceProof,
    Limits,
    ValidationPolicy,
    VerificationError,
    Verifier,
)
from originverify.formats.sfbinary import serialize_item, serialize_list
from originverify.revocation import Revocation

LIMBO = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "limbo.json"
LIMBO_SHA256 = "29de834059a941bf6ac8a53a90e0656c0143244260df6c0eb634e2b537027cdc"

NAME_DEPENDENT = (
    "the verdict depends on matching a server name; client-certificate validation has no "
    "name to match"
)
PYCA = "not enforced by pyca/cryptography's verifier (its own limbo harness skips it too)"

FEATURE_SKIPS: dict[str, str] = {
    "name-constraint-dn": "directoryName constraints are unsupported by pyca and fail closed: "
    "a case expecting acceptance is refused (the ones expecting refusal run)",
    "has-policy-constraints": "certificate policies are not processed (by design: policy "
    "processing is the CVE-2023-0464 class of DoS)",
    "rfc5280-incompatible-with-webpki": "RFC 5280 and the WebPKI disagree; we follow WebPKI",
    "pedantic-serial-number": "serial-number encoding rules: pyca accepts with a deprecation "
    "warning",
    "pedantic-public-suffix-wildcard": NAME_DEPENDENT,
}

CASE_SKIPS: dict[str, str] = {
    **{
        case: NAME_DEPENDENT
        for case in (
            "rfc5280::san::underscore-dns",
            "rfc5280::san::ip-in-dns",
            "webpki::cn::ipv4-hex-mismatch",
            "webpki::cn::ipv4-leading-zeros-mismatch",
            "webpki::cn::ipv6-uppercase-mismatch",
            "webpki::cn::ipv6-uncompressed-mismatch",
            "webpki::cn::ipv6-non-rfc5952-mismatch",
            "webpki::cn::punycode-not-in-san",
            "webpki::cn::utf8-vs-punycode-mismatch",
            "webpki::cn::not-in-san",
            "webpki::cn::case-mismatch",
            "webpki::san::mismatch-domain-san",
            "webpki::san::mismatch-subdomain-san",
            "webpki::san::mismatch-subdomain-apex-san",
            "webpki::san::mismatch-apex-subdomain-san",
            "webpki::san::wildcard-embedded-leftmost-san",
            "webpki::san::wildcard-not-in-leftmost-san",
            "webpki::san::wildcard-match-across-labels-san",
            "webpki::san::wildcard-embedded-ulabel-san",
            "webpki::san::unicode-emoji-san",
            "webpki::san::san-wildcard-only",
            "webpki::san::san-wildcard-only-tld",
        )
    },
    **{
        case: PYCA
        for case in (
            "pathlen::self-issued-certs-pathlen",
            "pathlen::max-chain-depth-1-self-issued",
            "rfc5280::aki::intermediate-missing-aki",
            "rfc5280::aki::cross-signed-root-missing-aki",
            "rfc5280::ski::root-missing-ski",
            "rfc5280::ski::intermediate-missing-ski",
            "webpki::aki::root-with-aki-authoritycertissuer",
            "webpki::aki::root-with-aki-authoritycertserialnumber",
            "webpki::aki::root-with-aki-all-fields",
            "webpki::aki::root-with-aki-ski-mismatch",
            "webpki::forbidden-rsa-not-divisible-by-8-in-root",
            "webpki::forbidden-rsa-key-not-divisible-by-8-in-leaf",
            "webpki::eku::root-has-eku",
        )
    },
    "rfc5280::ca-as-leaf": "a CA certificate is refused as a client certificate (deliberate, "
    "pyca's EE rule)",
    "pathlen::validation-ignores-pathlen-in-leaf": "the leaf asserts cA=TRUE: refused as a "
    "client certificate (deliberate, pyca's EE rule)",
    "webpki::eku::ee-anyeku": "anyExtendedKeyUsage in a client leaf is accepted (RFC 5280 "
    "§4.2.1.12); the CA/B ban targets TLS server certificates",
    "crl::issuer-no-keyusage-extension": "pyca's CA profile requires keyUsage on CA "
    "certificates (CA/B); RFC 5280 allows its absence, so the chain is refused first",
    "webpki::forbidden-p192-leaf": "the leaf's curve is not re-checked (loading the key costs "
    "~40 µs per request); the edge's TLS stack refuses P-192 in the handshake",
}

# Cases where the permissive ``private`` profile accepts what limbo expects refused: they run
# under ``webpki`` (and ``require_eku``), as a deployment that wants these rules would.
WEBPKI_CASES: dict[str, str] = {
    "rfc5280::aki::leaf-missing-aki": "private profile accepts leaves without AKI",
    "rfc5280::san::noncritical-with-empty-subject": "private profile accepts SAN criticality",
    "webpki::san::san-critical-with-nonempty-subject": "private profile accepts critical SAN",
    "webpki::san::no-san": "private profile accepts CN-only leaves",
    "webpki::eku::ee-critical-eku": "private profile accepts a critical EKU",
    "webpki::eku::ee-without-eku": "a leaf without EKU is refused only with require_eku",
}

#: Ambiguous cases where we deliberately take the other reading; they run and must give
#: our verdict (limbo marks them ambiguous itself).
OUR_VERDICTS: dict[str, tuple[str, str]] = {
    "rfc5280::validity::notafter-fractional": (
        "FAILURE",
        "validity is compared to the instant (RFC 5280's notAfter is inclusive to the "
        "second, not to the second after it): 5 ms after notAfter is expired",
    ),
}

EKUS = {
    "CLIENT": ExtendedKeyUsageOID.CLIENT_AUTH,
    "SERVER": ExtendedKeyUsageOID.SERVER_AUTH,
}


@dataclass(frozen=True)
class Outcome:
    status: str  # "passed", "failed", "skipped"
    detail: str


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(LIMBO.read_text())["testcases"]
    return cases


def skip_reason(case: dict[str, Any]) -> str | None:
    if case["id"] in CASE_SKIPS:
        return CASE_SKIPS[case["id"]]
    for feature in case["features"]:
        if feature == "name-constraint-dn" and case["expected_result"] == "FAILURE":
            continue  # failing closed is the expected verdict: run it
        if feature in FEATURE_SKIPS:
            return FEATURE_SKIPS[feature]
    return None


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)


def run_case(case: dict[str, Any]) -> Outcome:
    reason = skip_reason(case)
    if reason is not None:
        return Outcome("skipped", reason)
    when = case["validation_time"]
    at = dt.datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None
    webpki = case["id"] in WEBPKI_CASES
    policy = ValidationPolicy(
        profile="webpki" if webpki else "private",
        require_eku=case["id"] == "webpki::eku::ee-without-eku",
        validation_time=at or dt.datetime.now(dt.UTC),
        max_chain_depth=case["max_chain_depth"] if case["max_chain_depth"] is not None else 8,
        extended_key_usage=EKUS[case["validation_kind"]],
        max_rsa_bits=16384,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyca's deprecation warnings on odd serials
        logging.disable(logging.WARNING)
        try:
            revocation = None
            if case["crls"]:
                # CRL cases run through our revocation support, hard-fail: the case's CRLs
                # loaded as configured files are. A CRL that breaks RFC 5280 stops start-up
                # (ConfigurationError below): the deployment fails closed.
                revocation = Revocation(crls=[pem.encode() for pem in case["crls"]], mode="hard")
            verifier = Verifier(
                revocation=revocation,
                trust=[pem.encode() for pem in case["trusted_certs"]],
                source=InsecureNoSourceProof(),
                policy=policy,
                cache=None,
                limits=Limits(max_chain_certs=256, max_chain_bytes=1 << 24, max_leaf_bytes=1 << 20),
            )
            headers = [("Client-Cert", serialize_item(_der(case["peer_certificate"])))]
            if case["untrusted_intermediates"]:
                chain = [_der(pem) for pem in case["untrusted_intermediates"]]
                headers.append(("Client-Cert-Chain", serialize_list(chain)))
            verifier.verify_request(headers)
            got, why = "SUCCESS", "accepted"
        except VerificationError as exc:
            got, why = "FAILURE", f"{exc.reason.value}: {exc.detail[:200]}"
        except ConfigurationError as exc:
            got, why = "FAILURE", f"refused at start-up: {str(exc)[:200]}"
        finally:
            logging.disable(logging.NOTSET)
    expected, _ = OUR_VERDICTS.get(case["id"], (case["expected_result"], ""))
    profile = " (webpki profile)" if webpki else ""
    if got == expected:
        return Outcome("passed", f"{got}{profile}: {why}")
    return Outcome("failed", f"expected {expected}, got {got}{profile}: {why}")
