"""Identity rules on parsed names (issue 15, class 3): DN patterns never match across
attributes, SPIFFE IDs are validated and matched by whole segments, ambiguous names are
never collapsed, Unicode is not normalised, and reading a hostile name never raises.

Every case builds a real certificate and goes through ``Verifier.verify_request``."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from originverify import ClientIdentity, ConfigurationError, Reason, Rules, VerificationError
from originverify.names import UNDECODABLE, DNPattern, parsed, read_dn_claim, same_name
from originverify.spiffe import SpiffePattern
from originverify.spiffe import parse as parse_spiffe
from tests.adversarial.names_kit import CN, O, issue, name, patched, reason, verifier
from tests.conftest import PKI, passthrough_headers

OU = NameOID.ORGANIZATIONAL_UNIT_NAME
UID = NameOID.USER_ID

# -- DN patterns: a glob never crosses an attribute -----------------------------------------

FORGED_CNS = [
    "mallory,O=Admins",
    "mallory+O=Admins",
    "mallory\\,O=Admins",
    'mallory",O="Admins',
    "mallory,O=Admins,",
    "O=Admins",
    "mallory\nO=Admins",
]


@pytest.mark.parametrize("cn", FORGED_CNS)
@pytest.mark.parametrize("pattern", ["CN=*,O=Admins", "CN=*+O=Admins", "CN=*,*", "*,O=Admins"])
def test_separators_inside_one_value_never_satisfy_a_pattern(
    pki: PKI, cn: str, pattern: str
) -> None:
    forged = issue(pki.intermediate, name([(CN, cn)]))
    v = verifier(pki, rules=Rules(subjects=(pattern,)))
    if pattern == "CN=*,*":  # one CN RDN and nothing else is a legitimate match
        assert v.verify_request(passthrough_headers(forged)) is not None
        return
    assert reason(v, passthrough_headers(forged)) is Reason.RULE_DENIED


@pytest.mark.parametrize(
    ("pattern", "rdns", "allowed"),
    [
        ("CN=*,O=Admins", [[(O, "Admins")], [(CN, "alice")]], True),
        ("CN=alice", [[(O, "Admins")], [(CN, "alice")]], False),  # covers the whole DN
        ("O=Admins,CN=alice", [[(O, "Admins")], [(CN, "alice")]], False),  # in order
        ("CN=*,*", [[(O, "Admins")], [(CN, "alice")]], True),
        ("*,O=Admins", [[(O, "Admins")], [(OU, "x")], [(CN, "a")]], True),
        ("*,O=Admins", [[(O, "Admins2")], [(CN, "a")]], False),
        ("CN=*,*,O=Admins", [[(O, "Admins")], [(OU, "x")], [(OU, "y")], [(CN, "a")]], True),
        # multi-valued RDNs match as a set, with exactly those attributes
        ("CN=*+O=Admins", [[(O, "Admins"), (CN, "alice")]], True),
        ("O=Admins+CN=alice", [[(CN, "alice"), (O, "Admins")]], True),
        ("CN=*,O=Admins", [[(O, "Admins"), (CN, "alice")]], False),
        ("CN=*", [[(CN, "alice"), (UID, "admin")]], False),
        ("CN=*+UID=*", [[(CN, "alice"), (CN, "bob")]], False),
        # escapes are literal characters of the value
        ("CN=a\\,b,O=x", [[(O, "x")], [(CN, "a,b")]], True),
        ("CN=a\\2Cb,O=x", [[(O, "x")], [(CN, "a,b")]], True),
        ("CN=a\\*", [[(CN, "a*")]], True),
        ("CN=a\\*", [[(CN, "ab")]], False),
        ("CN=caf\\C3\\A9", [[(CN, "café")]], True),
        ("cn=alice, o=Admins", [[(O, "Admins")], [(CN, "alice")]], True),  # type names
        ("2.5.4.3=alice", [[(CN, "alice")]], True),
        # values are case-sensitive
        ("CN=Alice", [[(CN, "alice")]], False),
    ],
)
def test_dn_pattern_language(pki: PKI, pattern: str, rdns: list, allowed: bool) -> None:  # type: ignore[type-arg]
    leaf = issue(pki.intermediate, name(*rdns))
    v = verifier(pki, rules=Rules(subjects=(pattern,)))
    if allowed:
        assert v.verify_request(passthrough_headers(leaf)) is not None
    else:
        assert reason(v, passthrough_headers(leaf)) is Reason.RULE_DENIED


def test_issuer_rules_match_parsed_names_too(pki: PKI) -> None:
    evil = pki.root.intermediate(subject=name([(CN, "evil,O=Trusted CA")]))
    leaf = evil.issue("alice")
    v = verifier(pki, rules=Rules(issuers=("CN=*,O=Trusted CA",)))
    assert reason(v, passthrough_headers(leaf)) is Reason.RULE_DENIED
    good = pki.root.intermediate(subject=name([(O, "Trusted CA")], [(CN, "issuing")]))
    assert v.verify_request(passthrough_headers(good.issue("alice"))) is not None


@pytest.mark.parametrize(
    "pattern",
    [
        "CN=alice,",
        "CN",
        "CN=a;b",
        "CN=<x>",
        'CN="x"',
        "CN=trailing ",
        "CN= leading",
        "CN=a+*",
        "nosuchtype=x",
        "CN=\\q",
        "CN=\\FF",
        "CN=a+UID=b+OU=c+O=d+C=e",
    ],
)
def test_bad_dn_patterns_fail_at_start_up(pattern: str) -> None:
    with pytest.raises(ConfigurationError, match="DN pattern"):
        Rules(subjects=(pattern,))


def test_star_rdns_match_in_linear_time() -> None:
    pattern = DNPattern.parse("*," * 20 + "CN=never")
    hostile = tuple(((CN.dotted_string, str(i)),) for i in range(500))
    assert not pattern.matches(hostile)  # returns at once: no exponential backtracking


# -- never silently collapse ----------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        name([(CN, "alice")], [(CN, "admin")]),
        name([(CN, "alice"), (CN, "admin")]),
        name([(O, "x")], [(CN, "admin"), (UID, "u")], [(CN, "alice")]),
    ],
    ids=["two-rdns", "multi-valued", "mixed"],
)
def test_two_common_names_are_ambiguous(pki: PKI, subject: object) -> None:
    leaf = issue(pki.intermediate, subject)  # type: ignore[arg-type]
    identity = verifier(pki).verify_request(passthrough_headers(leaf))
    assert identity is not None
    assert identity.common_name is None
    assert sorted(identity.common_names) == ["admin", "alice"]
    assert identity.as_dict()["common_name"] is None
    for cn in ("admin", "alice", "*"):
        v = verifier(pki, rules=Rules(common_names=(cn,)))
        assert reason(v, passthrough_headers(leaf)) is Reason.RULE_DENIED


def test_common_names_order_is_most_specific_first(pki: PKI) -> None:
    leaf = issue(pki.intermediate, name([(CN, "outer")], [(CN, "inner")]))
    identity = verifier(pki).verify_request(passthrough_headers(leaf))
    assert identity is not None and identity.common_names == ("inner", "outer")
    assert identity.subject == "CN=inner,CN=outer"


# -- Unicode: no normalisation, homoglyphs are distinct names --------------------------------


@pytest.mark.parametrize(
    ("cn", "pattern"),
    [
        ("\u0430lice", "alice"),  # Cyrillic a
        ("alice\u200b", "alice"),  # zero-width space
        (unicodedata.normalize("NFD", "café"), unicodedata.normalize("NFC", "café")),
        ("ａｌｉｃｅ", "alice"),  # fullwidth (NFKC would fold it)
        ("ALICE", "alice"),
    ],
)
def test_homoglyphs_and_unnormalised_forms_are_distinct(pki: PKI, cn: str, pattern: str) -> None:
    leaf = issue(pki.intermediate, name([(CN, cn)]))
    for rules in (Rules(common_names=(pattern,)), Rules(subjects=(f"CN={pattern}",))):
        assert reason(verifier(pki, rules=rules), passthrough_headers(leaf)) is Reason.RULE_DENIED
    exact = verifier(pki, rules=Rules(common_names=(cn,)))
    assert exact.verify_request(passthrough_headers(leaf)) is not None


# -- undecodable names: nothing raises, nothing matches ------------------------------------


def test_invalid_utf8_in_cn_is_refused_and_never_raises(pki: PKI) -> None:
    leaf = issue(pki.intermediate, name([(CN, "QQQQQQQQ")]))
    der = patched(pki.intermediate, leaf, b"QQQQQQQQ", b"\xff\xfeQQQQQQ")
    headers = passthrough_headers(der, leaf.chain_der)
    for rules in (None, Rules(subjects=("*",)), Rules(common_names=("*",))):
        assert reason(verifier(pki, rules=rules), headers) is Reason.MALFORMED_CERTIFICATE
    report = verifier(pki).explain(headers)
    assert report.error is not None and report.error.reason is Reason.MALFORMED_CERTIFICATE


def test_invalid_utf8_cn_on_an_expired_leaf_is_malformed_not_a_crash(pki: PKI) -> None:
    """The issue's crash: formatting the expiry message rendered the undecodable subject."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    leaf = issue(
        pki.intermediate,
        name([(CN, "QQQQQQQQ")]),
        not_before=past - dt.timedelta(days=30),
        not_after=past,
    )
    der = patched(pki.intermediate, leaf, b"QQQQQQQQ", b"\xff\xfeQQQQQQ")
    headers = passthrough_headers(der, leaf.chain_der)
    assert reason(verifier(pki), headers) is Reason.MALFORMED_CERTIFICATE


def test_identity_of_an_undecodable_name_never_raises(pki: PKI) -> None:
    """Defence in depth below the verifier's refusal: reading never raises, nothing matches."""
    leaf = issue(pki.intermediate, name([(CN, "QQQQQQQQ")]))
    der = patched(pki.intermediate, leaf, b"QQQQQQQQ", b"\xff\xfeQQQQQQ")
    identity = ClientIdentity(x509.load_der_x509_certificate(der), (), ())
    assert identity.subject == UNDECODABLE and identity.subject_rdns is None
    assert identity.common_name is None and identity.common_names == ()
    assert repr(identity) and identity.as_dict()["subject"] == UNDECODABLE
    assert not DNPattern.parse("*").matches(identity.subject_rdns)
    with pytest.raises(VerificationError) as info:
        Rules(subjects=("*",)).check(identity)
    assert info.value.reason is Reason.RULE_DENIED


# -- SPIFFE IDs ------------------------------------------------------------------------------

DEVICE = "spiffe://example.org/device/*"


@pytest.mark.parametrize(
    "uri",
    [
        "spiffe://example.org/device/../admin",
        "spiffe://example.org/device/./admin",
        "spiffe://example.org/device/..",
        "spiffe://example.org/device/x/admin",
        "spiffe://example.org/device/",
        "spiffe://example.org/device//x",
        "spiffe://example.org/device/%2e%2e",
        "spiffe://example.org/device/a%2Fb",
        "spiffe://example.org/device/a?x=1",
        "spiffe://example.org/device/a#frag",
        "spiffe://example.org/device/a b",
        "spiffe://example.org/device/a:b",
        "SPIFFE://example.org/device/a",
        "spiffe://Example.org/device/a",
        "spiffe://example.org:443/device/a",
        "spiffe://user@example.org/device/a",
        "spiffe://example.org/device",
        "spiffe:///device/a",
        "spiffe:example.org/device/a",
        "spiffe://example.org/device/" + "a" * 2048,
        "spiffe://example.org.evil/device/a",
        "spiffe://example.org\\@evil/device/a",
    ],
)
def test_spiffe_pattern_refuses(pki: PKI, uri: str) -> None:
    leaf = issue(pki.intermediate, name([(CN, "device")]), uris=[uri])
    v = verifier(pki, rules=Rules(spiffe_ids=(DEVICE,)))
    assert reason(v, passthrough_headers(leaf)) is Reason.RULE_DENIED


@pytest.mark.parametrize(
    ("pattern", "uri", "allowed"),
    [
        (DEVICE, "spiffe://example.org/device/a-1.b_c", True),
        ("spiffe://example.org/device/**", "spiffe://example.org/device/a/b/c", True),
        ("spiffe://example.org/device/**", "spiffe://example.org/device", False),
        ("spiffe://example.org/device/**", "spiffe://example.org/devices/a", False),
        ("spiffe://example.org/ns/*/sa/web", "spiffe://example.org/ns/prod/sa/web", True),
        ("spiffe://example.org/ns/*/sa/web", "spiffe://example.org/ns/a/b/sa/web", False),
        ("spiffe://example.org/sa/web-*", "spiffe://example.org/sa/web-1", True),
        ("spiffe://example.org/sa/web-*", "spiffe://example.org/sa/web-1/x", False),
        ("spiffe://example.org", "spiffe://example.org", True),
        ("spiffe://example.org", "spiffe://example.org/x", False),
        ("spiffe://example.org/Device/a", "spiffe://example.org/device/a", False),
    ],
)
def test_spiffe_patterns_match_whole_segments(
    pki: PKI, pattern: str, uri: str, allowed: bool
) -> None:
    leaf = issue(pki.intermediate, name([(CN, "w")]), uris=[uri])
    v = verifier(pki, rules=Rules(spiffe_ids=(pattern,)))
    if allowed:
        identity = v.verify_request(passthrough_headers(leaf))
        assert identity is not None and identity.spiffe_id == uri
    else:
        assert reason(v, passthrough_headers(leaf)) is Reason.RULE_DENIED


@pytest.mark.parametrize(
    "uris",
    [
        ["spiffe://example.org/device/a", "spiffe://example.org/admin"],
        ["spiffe://example.org/device/a", "spiffe://example.org/device/a"],
        ["spiffe://example.org/device/a", "SPIFFE://example.org/admin"],
        ["spiffe://example.org/device/a", "spiffe://example.org/device/../x"],
    ],
)
def test_several_spiffe_uris_have_no_spiffe_id(pki: PKI, uris: list[str]) -> None:
    leaf = issue(pki.intermediate, name([(CN, "w")]), uris=uris)
    identity = verifier(pki).verify_request(passthrough_headers(leaf))
    assert identity is not None
    assert identity.spiffe_id is None and identity.spiffe is None
    assert identity.spiffe_uris == tuple(uris)
    v = verifier(pki, rules=Rules(spiffe_ids=(DEVICE, "spiffe://example.org/**")))
    assert reason(v, passthrough_headers(leaf)) is Reason.RULE_DENIED


def test_spiffe_id_beside_other_uris(pki: PKI) -> None:
    leaf = issue(
        pki.intermediate,
        name([(CN, "w")]),
        uris=["https://example.org/x", "spiffe://example.org/device/a"],
    )
    identity = verifier(pki, rules=Rules(spiffe_ids=(DEVICE,))).verify_request(
        passthrough_headers(leaf)
    )
    assert identity is not None and identity.spiffe_id == "spiffe://example.org/device/a"


def test_spiffe_parser_limits() -> None:
    longest = "spiffe://example.org/" + "a" * (2048 - len("spiffe://example.org/"))
    assert parse_spiffe(longest) is not None
    assert parse_spiffe(longest + "a") is None
    assert parse_spiffe("spiffe://" + "a" * 255) is not None
    assert parse_spiffe("spiffe://" + "a" * 256) is None


@pytest.mark.parametrize(
    "pattern",
    [
        "https://example.org/x",
        "spiffe://example.org/../x",
        "spiffe://example.org/a/./b",
        "spiffe://example.org/a//b",
        "spiffe://example.org/a/",
        "spiffe://*/a",
        "spiffe://Example.org/a",
        "spiffe://example.org:8443/a",
        "spiffe://example.org/**/a",
        "spiffe://example.org/a**",
        "spiffe://example.org/a%2e",
        "spiffe://example.org/a?b",
    ],
)
def test_bad_spiffe_patterns_fail_at_start_up(pattern: str) -> None:
    with pytest.raises(ConfigurationError, match="SPIFFE ID pattern"):
        SpiffePattern.parse(pattern)


# -- URI, DNS and e-mail globs stay inside their separators ----------------------------------


@pytest.mark.parametrize(
    ("pattern", "uri", "allowed"),
    [
        ("https://example.org/device/*", "https://example.org/device/a", True),
        ("https://example.org/device/*", "https://example.org/device/x/admin", False),
        ("https://example.org/device/*", "https://example.org/device/../admin", False),
        ("https://example.org/device/**", "https://example.org/device/../admin", False),
        ("https://example.org/device/**", "https://example.org/device/%2E%2E/admin", False),
        ("https://example.org/device/**", "https://example.org/device/a/b", True),
        ("https://example.org/device/*", "https://example.org/device/..%5cadmin", False),
        ("https://example.org/device/*", "https://example.org/device/a%2F..%2Fadmin", False),
        ("https://example.org/device/*", "https://example.org/device/%252e%252e", False),
        ("https://example.org/device/*", "https://example.org/device/a%20b", True),
        ("https://example.org/device/**", "https://example.org/device/a\\..\\admin", False),
    ],
)
def test_uri_globs(pki: PKI, pattern: str, uri: str, allowed: bool) -> None:
    leaf = issue(pki.intermediate, name([(CN, "w")]), uris=[uri])
    v = verifier(pki, rules=Rules(uris=(pattern,)))
    if allowed:
        assert v.verify_request(passthrough_headers(leaf)) is not None
    else:
        assert reason(v, passthrough_headers(leaf)) is Reason.RULE_DENIED


@pytest.mark.parametrize(
    ("pattern", "dns", "allowed"),
    [
        ("*.example.com", "api.example.com", True),
        ("*.example.com", "API.Example.COM", True),
        ("*.example.com", "a.b.example.com", False),
        ("**.example.com", "a.b.example.com", True),
        ("*.example.com", "evil.com.example.com.evil", False),
    ],
)
def test_dns_globs_stay_in_one_label(pki: PKI, pattern: str, dns: str, allowed: bool) -> None:
    leaf = issue(pki.intermediate, name([(CN, "w")]), dns=[dns])
    v = verifier(pki, rules=Rules(dns_names=(pattern,)))
    if allowed:
        assert v.verify_request(passthrough_headers(leaf)) is not None
    else:
        assert reason(v, passthrough_headers(leaf)) is Reason.RULE_DENIED


@pytest.mark.parametrize("pattern", ["a?c", "[ab]c"])
def test_other_shell_wildcards_are_refused(pattern: str) -> None:
    with pytest.raises(ConfigurationError, match="only"):
        Rules(dns_names=(pattern,))


# -- properties against cryptography's own RFC 4514 writer ----------------------------------

_TYPES = [CN, O, OU, UID, NameOID.LOCALITY_NAME]
_VALUE = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(',+"\\<>;=#* ')),
        st.characters(blacklist_categories=("Cs", "Cc")),
    ),
    min_size=1,
    max_size=20,
)
_NAMES = st.lists(
    st.lists(st.tuples(st.sampled_from(_TYPES), _VALUE), min_size=1, max_size=3, unique=True),
    min_size=1,
    max_size=4,
).map(lambda rdns: name(*rdns))


def _escape(value: str) -> str:
    return "".join("\\" + ch if ch in ',+"\\<>;=#* ' else ch for ch in value)


def _exact_pattern(dn: x509.Name) -> str:
    return ",".join(
        "+".join(f"{a.oid.dotted_string}={_escape(str(a.value))}" for a in rdn)
        for rdn in reversed(dn.rdns)
    )


@settings(max_examples=300, deadline=None)
@given(dn=_NAMES)
def test_claim_reader_agrees_with_cryptographys_writer(dn: x509.Name) -> None:
    claimed = read_dn_claim(dn.rfc4514_string())
    assert claimed is not None and same_name(claimed, parsed(dn))


@settings(max_examples=300, deadline=None)
@given(dn=_NAMES, data=st.data())
def test_exact_patterns_match_and_globs_stay_inside_values(
    dn: x509.Name, data: st.DataObject
) -> None:
    names = parsed(dn)
    assert DNPattern.parse(_exact_pattern(dn)).matches(names)
    rdns = list(reversed(dn.rdns))
    # one value replaced by '*' still matches: the glob covers exactly that value
    i = data.draw(st.integers(0, len(rdns) - 1))
    attrs = list(rdns[i])
    globbed = ",".join(
        "+".join(
            f"{a.oid.dotted_string}=" + ("*" if (k, j) == (i, 0) else _escape(str(a.value)))
            for j, a in enumerate(rdn)
        )
        for k, rdn in enumerate(rdns)
    )
    assert DNPattern.parse(globbed).matches(names)
    # dropping an RDN, or adding an attribute to one, never matches
    if len(rdns) > 1:
        shorter = x509.Name([r for k, r in enumerate(dn.rdns) if k != len(rdns) - 1 - i])
        assert not DNPattern.parse(_exact_pattern(shorter)).matches(names)
    bigger = [*attrs, x509.NameAttribute(NameOID.TITLE, "extra")]
    grown = x509.Name(
        [
            x509.RelativeDistinguishedName(bigger) if k == len(rdns) - 1 - i else r
            for k, r in enumerate(dn.rdns)
        ]
    )
    assert not DNPattern.parse(_exact_pattern(dn)).matches(parsed(grown))
