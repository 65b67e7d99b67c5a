"""Rules on parsed names (no boundary crossing), SPIFFE normalisation tricks, log hygiene,
the exception boundary, and ``Verifier.require`` view gates."""

from __future__ import annotations

import base64
import logging

import pytest
from cryptography.x509.oid import NameOID

from originverify import ConfigurationError, Reason, Rules, VerificationError, Verifier
from originverify.headers import from_pairs
from originverify.source import RequestContext

from .kit import SECRET, RedPKI, make_pki, pairs, verifier


@pytest.fixture(scope="module")
def pki() -> RedPKI:
    return make_pki()


def refused(v: Verifier, headers: object) -> Reason:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)  # type: ignore[arg-type]
    return info.value.reason


def _denied(pki: RedPKI, rules: Rules, **issue: object) -> Reason:
    cn = issue.pop("cn", "u")
    leaf = pki.ca.issue(cn, **issue)  # type: ignore[arg-type]
    return refused(verifier(pki, rules=rules), pairs(leaf))


# -- SPIFFE -----------------------------------------------------------------------------------

ADMINS = Rules(spiffe_ids=["spiffe://example.org/admin/*"])


@pytest.mark.parametrize(
    "uri",
    [
        "SPIFFE://example.org/admin/alice",
        "spiffe://Example.org/admin/alice",
        "spiffe://example.org:443/admin/alice",
        "spiffe://user@example.org/admin/alice",
        "spiffe://example.org/admin/%61lice",
        "spiffe://example.org/admin/alice/",
        "spiffe://example.org/admin//alice",
        "spiffe://example.org/admin/alice?x=1",
        "spiffe://example.org/admin/alice#frag",
        "spiffe://example.org/admin/./alice",
        "spiffe://example.org/admin/alice/deeper",
        "spiffe://example.org./admin/alice",
        "spiffe://example.org/Admin/alice",
        "spiffe://example.org/admin/al ice",
    ],
)
def test_spiffe_tricks_never_match(pki: RedPKI, uri: str) -> None:
    assert _denied(pki, ADMINS, uris=[uri]) is Reason.RULE_DENIED


def test_spiffe_id_beside_a_second_spiffe_uri(pki: RedPKI) -> None:
    uris = ["spiffe://example.org/admin/alice", "spiffe://example.org/billing/x"]
    assert _denied(pki, ADMINS, uris=uris) is Reason.RULE_DENIED


def test_spiffe_in_a_dns_or_email_san_is_not_an_id(pki: RedPKI) -> None:
    assert _denied(pki, ADMINS, emails=["spiffe@example.org"], dns=["admin.example.org"]) is (
        Reason.RULE_DENIED
    )


# -- names and globs --------------------------------------------------------------------------


def test_common_name_rule_with_two_cns(pki: RedPKI) -> None:
    from tests.adversarial.names_kit import issue as issue_named
    from tests.adversarial.names_kit import name as dn

    leaf = issue_named(
        pki.ca, dn([(NameOID.COMMON_NAME, "mallory")], [(NameOID.COMMON_NAME, "alice")])
    )
    v = verifier(pki, rules=Rules(common_names=["alice"]))
    assert refused(v, pairs(leaf.der, leaf.chain_der)) is Reason.RULE_DENIED


def test_subject_pattern_covers_the_whole_dn(pki: RedPKI) -> None:
    rules = Rules(subjects=["CN=alice"])
    assert _denied(pki, rules, cn="alice") is Reason.RULE_DENIED  # O=originverify test too


def test_cn_glob_does_not_reach_other_attributes(pki: RedPKI) -> None:
    rules = Rules(subjects=["CN=*,O=Admins"])
    assert _denied(pki, rules, cn="x,O=Admins") is Reason.RULE_DENIED


def test_dns_glob_stays_in_one_label(pki: RedPKI) -> None:
    rules = Rules(dns_names=["*.svc.example.org"])
    assert _denied(pki, rules, dns=["a.b.svc.example.org"]) is Reason.RULE_DENIED


def test_email_glob_stays_on_one_side(pki: RedPKI) -> None:
    from tests.adversarial.names_kit import patched

    leaf = pki.ca.issue("u", emails=["a@evil.orgXexample.org"])
    der = patched(pki.ca, leaf, b"orgXexample", b"org@example")
    v = verifier(pki, rules=Rules(emails=["*@example.org"]))
    assert refused(v, pairs(der, leaf.chain_der)) is Reason.RULE_DENIED


@pytest.mark.parametrize(
    "uri",
    [
        "https://example.org/api/%2e%2e/admin",
        "https://example.org/api/%252e%252e/admin",
        "https://example.org/api/..%5Cadmin",
        "https://example.org/api/../admin",
    ],
)
def test_uri_dot_segments(pki: RedPKI, uri: str) -> None:
    assert _denied(pki, Rules(uris=["https://example.org/api/**"]), uris=[uri]) is (
        Reason.RULE_DENIED
    )


def test_pin_of_the_intermediate_is_not_the_leaf(pki: RedPKI) -> None:
    import hashlib

    pin = hashlib.sha256(pki.alice.chain_der[0]).hexdigest()
    v = verifier(pki, rules=Rules(fingerprints=[pin]))
    assert refused(v, pairs(pki.alice)) is Reason.RULE_DENIED


def test_homoglyph_cn(pki: RedPKI) -> None:
    assert _denied(pki, Rules(common_names=["alice"]), cn="\u0430lice") is Reason.RULE_DENIED


@pytest.mark.parametrize("rules", [{"subject": ["CN=a"]}, {"spiffe_ids": ["spiffe://x/a/**/b"]}])
def test_bad_rules_fail_at_start_up(rules: dict[str, list[str]]) -> None:
    with pytest.raises(ConfigurationError):
        Rules.from_mapping(rules)


# -- the exception boundary -------------------------------------------------------------------


def test_raising_predicate_is_rule_denied(pki: RedPKI) -> None:
    def boom(identity: object) -> bool:
        raise KeyError("boom")

    v = verifier(pki, rules=Rules(predicate=boom))
    assert refused(v, pairs(pki.alice)) is Reason.RULE_DENIED


def test_raising_observer_changes_nothing(pki: RedPKI) -> None:
    def boom(outcome: object) -> None:
        raise RuntimeError("observer")

    v = verifier(pki, observers=[boom])
    assert v.verify_request(pairs(pki.alice)) is not None
    assert refused(v, pairs(pki.stranger)) is Reason.UNTRUSTED_CHAIN


def test_hostile_headers_object(pki: RedPKI) -> None:
    class Hostile:
        def get_all(self, name: str) -> list[str]:
            raise RuntimeError("hostile")

        def has_underscore_alias(self, name: str) -> bool:
            return False

        def underscored_names(self) -> frozenset[str]:
            return frozenset()

    outcome = verifier(pki).check(RequestContext(Hostile()))  # type: ignore[arg-type]
    assert outcome.error is not None and outcome.enforced


def test_uri_san_with_undecodable_bytes_never_raises(pki: RedPKI) -> None:
    from tests.adversarial.names_kit import patched

    leaf = pki.ca.issue("u", uris=["https://example.org/xx"])
    der = patched(pki.ca, leaf, b"/xx", b"/\xff\xfe")
    v = verifier(pki, rules=Rules(uris=["https://example.org/*"]))
    outcome = v.check(RequestContext(from_pairs(pairs(der, leaf.chain_der))))
    assert outcome.error is not None
    assert outcome.error.reason in (Reason.MALFORMED_CERTIFICATE, Reason.RULE_DENIED)


# -- logs ---------------------------------------------------------------------------------------


def test_no_secret_and_no_certificate_in_logs(
    pki: RedPKI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="originverify")
    v = verifier(pki)
    near = SECRET[:-1] + "Z"
    for lines in (pairs(pki.stranger), pairs(pki.alice, secret=near), pairs(pki.alice)):
        v.check(RequestContext(from_pairs(lines), "127.0.0.1", "GET", "/x?token=abc"))
    text = caplog.text
    assert SECRET not in text and near not in text
    assert base64.b64encode(pki.alice.der).decode()[:60] not in text
    assert "token=abc" not in text


def test_request_line_control_characters_escaped(
    pki: RedPKI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="originverify")
    target = "/x\r\noriginverify: accepted via=chain\x1b[2J"
    verifier(pki).check(RequestContext(from_pairs(pairs(pki.stranger)), "1.2.3.4", "GET", target))
    (record,) = [r for r in caplog.records if "reason=" in r.getMessage()]
    message = record.getMessage()
    assert "\r" not in message and "\n" not in message and "\x1b" not in message


def test_hostile_subject_in_the_accept_line_is_escaped(
    pki: RedPKI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="originverify")
    leaf = pki.ca.issue("a\nb\tc\x1b[31m")
    verifier(pki).verify_request(pairs(leaf))
    (record,) = [r for r in caplog.records if "accepted" in r.getMessage()]
    assert not any(ch in record.getMessage() for ch in "\n\t\x1b")


def test_refusal_logged_once_at_warning(pki: RedPKI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="originverify")
    v = verifier(pki)
    v.check(RequestContext(from_pairs(pairs(pki.stranger))))
    lines = [r for r in caplog.records if "reason=" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "reason=untrusted_chain" in lines[0].getMessage()


# -- Verifier.require view gates ----------------------------------------------------------------


def _request() -> RequestContext:
    return RequestContext(from_pairs([]), "127.0.0.1", "GET", "/view")


def test_gate_refuses_anonymous_in_optional_mode(pki: RedPKI) -> None:
    outcome = verifier(pki, mode="optional").require(None, _request())
    assert outcome.error is not None and outcome.error.reason is Reason.MISSING_CERTIFICATE
    assert outcome.enforced and outcome.error.http_status == 401


def test_gate_rules_deny(pki: RedPKI) -> None:
    v = verifier(pki)
    identity = v.verify_request(pairs(pki.bob))
    outcome = v.require(identity, _request(), rules=ADMINS)
    assert outcome.error is not None and outcome.error.reason is Reason.RULE_DENIED
    assert outcome.enforced and outcome.identity is None


def test_gate_in_report_only_records_but_does_not_enforce(pki: RedPKI) -> None:
    v = verifier(pki, mode="report_only")
    outcome = v.require(None, _request())
    assert outcome.error is not None and not outcome.enforced
    assert v.stats["would_reject:missing_certificate"] == 1


def test_gate_with_raising_rule(pki: RedPKI) -> None:
    v = verifier(pki)
    identity = v.verify_request(pairs(pki.alice))

    def boom(identity: object) -> bool:
        raise ValueError("x")

    outcome = v.require(identity, _request(), rules=Rules(predicate=boom))
    assert outcome.error is not None and outcome.error.reason is Reason.RULE_DENIED
