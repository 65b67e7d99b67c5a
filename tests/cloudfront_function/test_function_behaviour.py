"""What sign-request.js does on its own: one KeyValueStore read, client copies of the signature
headers never survive, fail closed when the key is missing or unusable; and the harness really
limits the function to what runtime 2.0 documents."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from originverify.signatures import HmacSecret
from tests.cloudfront_function.conftest import Pki
from tests.cloudfront_function.kit import (
    CONFIG_KEY,
    HARNESS,
    Viewer,
    node,
    run_function,
    store,
)

GOOD = HmacSecret(b"k" * 32).spec()
FORGED = {
    "signature": "originverify=:AAAA:",
    "signature-input": 'originverify=("@method");created=1;keyid="cf-2026-11"',
    "signature_input": "forged",
}


def result(kvs: dict[str, str], viewer: Viewer) -> dict[str, Any]:
    (out,) = run_function(kvs, [viewer])
    returned: dict[str, Any] = out["result"]
    assert out["kvsReads"] == 1  # one read per request, whatever happens
    return returned


def test_signs_with_one_read_and_replaces_client_copies(pki: Pki, key_1: HmacSecret) -> None:
    returned = result(
        store("cf-2026-11", key_1.spec()),
        Viewer(issued=pki.alice, extra_headers=FORGED),
    )
    headers = returned["headers"]
    assert "signature_input" not in headers
    assert headers["signature"]["value"] != FORGED["signature"]
    assert headers["signature-input"]["value"].startswith(
        'originverify=("@method" "@authority" "@path" "@query" '
        '"cloudfront-viewer-cert-present" "cloudfront-viewer-cert-sha256" '
        '"cloudfront-viewer-cert-serial-number");created='
    )


@pytest.mark.parametrize(
    "kvs",
    [
        {},  # key not in the store (get rejects)
        {CONFIG_KEY: "not json"},
        {CONFIG_KEY: json.dumps({"keyid": "cf-2026-11", "key": "hmac-sha256:c2hvcnQ="})},
        {CONFIG_KEY: json.dumps({"keyid": "cf-2026-11", "key": "ed25519:AAAA"})},
        {CONFIG_KEY: json.dumps({"keyid": 7, "key": GOOD})},
        {CONFIG_KEY: json.dumps({"keyid": "cf-2026-11", "key": GOOD, "authority": ["x"]})},
        {CONFIG_KEY: json.dumps({"keyid": "cf-2026-11", "key": GOOD, "pathPrefix": 1})},
    ],
    ids=[
        "missing",
        "not-json",
        "short-key",
        "not-hmac",
        "keyid-type",
        "authority-type",
        "prefix-type",
    ],
)
def test_unusable_key_answers_503_at_the_edge(pki: Pki, kvs: dict[str, str]) -> None:
    returned = result(kvs, Viewer(issued=pki.alice, extra_headers=FORGED))
    assert returned == {"statusCode": 503, "statusDescription": "Service Unavailable"}


@pytest.mark.parametrize(
    ("viewer", "key_id"),
    [
        (Viewer(host="evil.example.com/x"), "cf-2026-11"),  # no authority configured
        (Viewer(), 'cf"2026'),  # a key id that is not an sf-string token
        (Viewer(request_id='a"b'), "cf-2026-11"),
        (Viewer(extra_headers={"cloudfront-viewer-cert-sha256": "\u00e9"}), "cf-2026-11"),
    ],
    ids=["host", "keyid", "request-id", "non-ascii-claim"],
)
def test_unsignable_request_answers_400(key_1: HmacSecret, viewer: Viewer, key_id: str) -> None:
    kvs = store(key_id, key_1.spec(), authority="")
    assert result(kvs, viewer) == {"statusCode": 400, "statusDescription": "Bad Request"}


def test_viewer_host_used_when_no_authority_is_configured(key_1: HmacSecret) -> None:
    returned = result(
        store("cf-2026-11", key_1.spec(), authority=""), Viewer(host="App.Example.com")
    )
    assert "signature" in returned["headers"]


def _run_source(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "f.js"
    source.write_text("import crypto from 'crypto';\nimport cf from 'cloudfront';\n" + body)
    payload: dict[str, Any] = {
        "source": str(source),
        "store": {},
        "now": None,
        "events": [Viewer().event()],
    }
    return subprocess.run(
        [node(), str(HARNESS)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("async function handler(e) { return new TextEncoder().encode('x'); }", "ReferenceError"),
        ("async function handler(e) { return process.env; }", "ReferenceError"),
        ("async function handler(e) { return crypto.createHmac('sha512', 'k'); }", "sha512"),
        (
            "async function handler(e) { return crypto.createHash('sha256').digest('latin1'); }",
            "latin1",
        ),
        ("const x = require('fs');\nasync function handler(e) { return e; }", "imports"),
    ],
)
def test_harness_offers_only_the_documented_runtime(tmp_path: Path, body: str, error: str) -> None:
    done = _run_source(tmp_path, body)
    assert error in done.stdout + done.stderr
