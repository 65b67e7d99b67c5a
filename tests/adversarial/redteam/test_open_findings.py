"""Defects the red team found in the integrated main. Each test asserts the SECURE behaviour
and is marked ``xfail(strict=True)``: it fails today (so the suite stays green and the lead
sees it), and the day the defect is fixed the strict xfail turns into a failure that says
"remove the marker". Do not weaken these tests; fix the production code."""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
import urllib.parse
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from originverify import EdgeSecret, Reason, Rules, VerificationError, Verifier
from originverify.devpki import cert_pem
from originverify.headers import from_pairs
from originverify.logs import clean
from originverify.revocation import Revocation
from originverify.source import RequestContext
from tests.adversarial.names_kit import patched
from tests.revocation.pkitools import make_crl

from .kit import SECRET, RedPKI, make_pki, pairs, verifier

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def pki() -> RedPKI:
    return make_pki()


def refused(v: Verifier, headers: object) -> Reason:
    with pytest.raises(VerificationError) as info:
        v.verify_request(headers)  # type: ignore[arg-type]
    return info.value.reason


# -- finding 1 ----------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="finding 1: hard-mode revocation skips a leaf whose subject DN equals its issuer DN "
    "when the path has one certificate (trust_edge_verdict): 'leaf is a configured anchor' is "
    "decided by name, so a CRL-listed leaf is accepted (revocation/checker.py:230)",
)
def test_finding_1_revoked_self_named_leaf_accepted_in_hard_mode(
    pki: RedPKI, tmp_path: Path
) -> None:
    from .test_watch_revocation import _self_issued_leaf, edge_verdict_verifier

    leaf = _self_issued_leaf(pki.ca)
    crl_path = tmp_path / "ca.crl"
    crl_path.write_bytes(make_crl(pki.ca, [leaf.serial_number]).public_bytes(Encoding.PEM))
    v = edge_verdict_verifier(pki, Revocation(crls=[crl_path], mode="hard"))
    headers = [
        ("X-Origin-Verify", SECRET),
        ("CloudFront-Viewer-Cert-Pem", urllib.parse.quote(cert_pem(leaf).decode())),
    ]
    assert refused(v, headers) in (Reason.REVOKED, Reason.REVOCATION_UNKNOWN)


# -- finding 2 ----------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="finding 2: DNS rules match case-insensitively with Unicode folding (re.IGNORECASE "
    "without re.ASCII): 'svc.example.com' allows a DNS SAN 'ſvc.example.com' (U+017F) "
    "(rules.py:46-52)",
)
def test_finding_2_dns_rule_folds_unicode(pki: RedPKI) -> None:
    leaf = pki.ca.issue("u", dns=["XYvc.example.com"])
    der = patched(pki.ca, leaf, b"XYvc", "\u017fvc".encode())
    v = verifier(pki, rules=Rules(dns_names=["svc.example.com"]))
    assert refused(v, pairs(der, leaf.chain_der)) is Reason.RULE_DENIED


@pytest.mark.xfail(
    strict=True,
    reason="finding 2: e-mail rules fold Unicode too: 'backup@example.org' allows "
    "'bac\\u212aup@example.org' (KELVIN SIGN) (rules.py:46-52)",
)
def test_finding_2_email_rule_folds_unicode(pki: RedPKI) -> None:
    leaf = pki.ca.issue("u", emails=["bacXYZup@example.org"])
    der = patched(pki.ca, leaf, b"XYZ", "\u212a".encode())
    v = verifier(pki, rules=Rules(emails=["backup@example.org"]))
    assert refused(v, pairs(der, leaf.chain_der)) is Reason.RULE_DENIED


# -- finding 3 ----------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="finding 3: URI globs are matched on the whole string with '/' as the only "
    "separator, so '*' in the authority crosses into the query or fragment: "
    "'https://*.example.org/**' allows host evil.com (rules.py:33-43)",
)
@pytest.mark.parametrize(
    "uri", ["https://evil.com?.example.org/x", "https://evil.com#.example.org/x"]
)
def test_finding_3_uri_glob_crosses_the_authority(pki: RedPKI, uri: str) -> None:
    leaf = pki.ca.issue("u", uris=[uri])
    v = verifier(pki, rules=Rules(uris=["https://*.example.org/**"]))
    assert refused(v, pairs(leaf)) is Reason.RULE_DENIED


# -- finding 4 ----------------------------------------------------------------------------------


def _flask_report_only(pki: RedPKI, tmp_path: Path):  # type: ignore[no-untyped-def]
    from flask import Flask
    from flask_originverify import OriginVerify, client_cert_required
    from flask_originverify.signals import client_rejected

    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(pki.root.pem)
    app = Flask("redteam-report")
    app.config.update(
        ORIGINVERIFY_ANCHORS=str(anchors),
        ORIGINVERIFY_EDGE_SECRETS=[SECRET],
        ORIGINVERIFY_MODE="report_only",
        ORIGINVERIFY_WATCH_INTERVAL=None,
    )
    extension = OriginVerify(app)

    @app.get("/whoami")
    @client_cert_required
    def whoami() -> str:
        return "ok"

    return app, extension, client_rejected


@pytest.mark.xfail(
    strict=True,
    reason="finding 4: report-only through a Flask view decorator counts, logs and signals one "
    "refused request twice, the second time as missing_certificate (the true reason is "
    "untrusted_chain): flask_originverify/extension.py authenticate() gates the anonymous "
    "outcome of a refusal again (same shape in django_originverify/access.py and "
    "starlette.RequireClient)",
)
def test_finding_4_flask_report_only_decides_twice(
    pki: RedPKI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app, extension, client_rejected = _flask_report_only(pki, tmp_path)
    reasons: list[str] = []

    def record(sender: object, error: VerificationError, **_: object) -> None:
        reasons.append(error.reason.value)

    caplog.set_level(logging.WARNING, logger="originverify")
    with client_rejected.connected_to(record, app):
        response = app.test_client().get("/whoami", headers=pairs(pki.stranger))
    assert response.status_code == 200
    lines = [r.getMessage() for r in caplog.records if "would reject" in r.getMessage()]
    assert len(lines) == 1 and "reason=untrusted_chain" in lines[0], lines
    assert reasons == ["untrusted_chain"]
    assert dict(extension.verifier.stats) == {"would_reject:untrusted_chain": 1}


@pytest.mark.xfail(
    strict=True,
    reason="finding 4: the same double decision through FastAPI's RequireClient dependency "
    "(starlette.py RequireClient.__call__)",
)
def test_finding_4_fastapi_require_client_report_only_decides_twice(pki: RedPKI) -> None:
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from originverify.asgi import ClientCertMiddleware
    from originverify.starlette import RequireClient

    v = verifier(pki, mode="report_only")
    api = FastAPI()
    api.add_middleware(ClientCertMiddleware, verifier=v)

    @api.get("/whoami")
    def whoami(client: object = Depends(RequireClient(v))) -> dict[str, bool]:
        return {"authenticated": client is not None}

    with TestClient(api) as client:
        assert client.get("/whoami", headers=pairs(pki.stranger)).status_code == 200
    assert dict(v.stats) == {"would_reject:untrusted_chain": 1}


# -- finding 5 ----------------------------------------------------------------------------------


def _controls(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in ("Cc", "Zl", "Zp")]


@pytest.mark.xfail(
    strict=True,
    reason="finding 5: logs.clean escapes C0 and DEL only; C1 controls (U+0080-U+009F, e.g. "
    "NEL U+0085, CSI U+009B) and U+2028/U+2029 reach log lines (logs.py:27)",
)
def test_finding_5_clean_leaves_c1_and_line_separators() -> None:
    assert _controls(clean("a\x85b\x9b[2Jc\u2028d\u2029e")) == []


@pytest.mark.xfail(
    strict=True,
    reason="finding 5: a certificate subject with U+2028 / NEL splits the DEBUG accept line "
    "into a forged second line (logs.py:56 via clean)",
)
def test_finding_5_subject_splits_the_accept_line(
    pki: RedPKI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="originverify")
    leaf = pki.ca.issue("alice\u2028originverify: rejected reason=revoked\x85x")
    verifier(pki).check(RequestContext(from_pairs(pairs(leaf)), "127.0.0.1", "GET", "/"))
    (message,) = [r.getMessage() for r in caplog.records if "accepted" in r.getMessage()]
    assert len(message.splitlines()) == 1 and _controls(message) == []


# -- finding 6 ----------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="finding 6: the watcher swaps in a half-written edge-secret file: a prefix of the "
    "new secret (>= 16 characters) replaces the old secret on the first poll, so both the old "
    "and the new secret are refused until the write completes (watch.py:_reload, "
    "source.py EdgeSecret.reload); docs promise half-written files are detected",
)
def test_finding_6_half_written_secret_file(pki: RedPKI, tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    v = verifier(pki, source=EdgeSecret.from_file(path), watch_interval=3600)
    new = "new-edge-secret-0123456789abcdefghijklmnop"
    path.write_text(new[:24])  # the writer has flushed part of the file
    assert v.watcher is not None
    v.watcher.poll()
    assert v.verify_request(pairs(pki.alice)) is not None  # still the old generation


# -- finding 7 ----------------------------------------------------------------------------------


def test_finding_7_cache_hit_skips_a_predicate_that_now_denies(pki: RedPKI) -> None:
    from originverify import ResultCache

    denied: set[str] = set()
    rules = Rules(predicate=lambda identity: identity.common_name not in denied)
    v = verifier(pki, rules=rules, cache=ResultCache())
    assert v.verify_request(pairs(pki.alice)) is not None
    denied.add("alice")  # the operator blocks alice
    assert refused(v, pairs(pki.alice)) is Reason.RULE_DENIED


@pytest.mark.xfail(
    strict=True,
    reason="finding 4: the same double decision through Django's @client_cert_required under "
    "report-only, over real HTTP (django_originverify/access.py _decide)",
)
@pytest.mark.e2e
def test_finding_4_django_report_only_decides_twice(pki: RedPKI, tmp_path: Path) -> None:
    from .kit import send, start_servers

    servers = start_servers(pki, tmp_path, ("django-gunicorn",), mode="report_only")
    for server in servers:
        django = server["django-gunicorn"]
        reply = send(django.port, "/protected", pairs(pki.stranger))
        assert reply.status == 200
        log = django.log()
        lines = [
            line
            for line in log.splitlines()
            if "would reject" in line and "request=GET /protected" in line
        ]
        assert len(lines) == 1 and "reason=untrusted_chain" in lines[0], lines


# -- finding 8 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["multidict", "werkzeug"])
def test_finding_8_case_sensitive_multidict_hides_a_duplicate(pki: RedPKI, kind: str) -> None:
    from multidict import MultiDict
    from werkzeug.datastructures import MultiDict as WerkzeugMultiDict

    from originverify import TrustedProxies
    from originverify.formats.sfbinary import serialize_item

    mallory = pki.ca.issue("mallory")
    lines = [("client-cert", serialize_item(mallory.der)), *pairs(pki.alice, secret=None)]
    mapping = MultiDict(lines) if kind == "multidict" else WerkzeugMultiDict(lines)
    v = verifier(pki, source=TrustedProxies(["127.0.0.1/32"]))
    with pytest.raises(VerificationError) as info:
        v.verify_request(mapping, "127.0.0.1")
    assert info.value.reason is Reason.DUPLICATE_HEADER


# -- finding 9 ----------------------------------------------------------------------------------


def test_finding_9_cache_handed_over_with_the_old_verdicts(pki: RedPKI) -> None:
    import gc

    from originverify import ResultCache

    cache = ResultCache()
    lenient = verifier(pki, cache=cache)
    assert lenient.verify_request(pairs(pki.bob)) is not None
    del lenient
    gc.collect()
    strict = verifier(pki, cache=cache, rules=Rules(common_names=["alice"]))
    assert refused(strict, pairs(pki.bob)) is Reason.RULE_DENIED


# -- finding 10 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["false", "0", "no", "off"])
def test_finding_10_insecure_opt_out_spelled_false_disables_the_source_proof(
    pki: RedPKI, tmp_path: Path, value: str
) -> None:
    from originverify import ConfigurationError, build_verifier

    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(pki.root.pem)
    settings = {"anchors": str(anchors), "insecure_no_source_proof": value}
    with pytest.raises(ConfigurationError):
        build_verifier(settings)  # no source proof configured: refuse to start
