"""Run examples/cloudfront/sign-request.js under Node.js and build what CloudFront would send
to the origin from its output.

``run_function`` feeds viewer-request events (the documented event structure: lowercase
header names, ``{name: {value}}`` headers and query strings, ``context.requestId``) to the
exact function file through ``harness.js``. ``origin_request`` then adds what CloudFront adds
after the function: ``Client-Cert`` / ``Client-Cert-Chain`` from the viewer's handshake, the
origin's ``Host``, and the origin path in front of the URI.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from originverify.devpki import Issued
from originverify.formats.sfbinary import serialize_item

REPO = Path(__file__).resolve().parents[2]
FUNCTION = REPO / "examples" / "cloudfront" / "sign-request.js"
HARNESS = Path(__file__).with_name("harness.js")
CONFIG_KEY = "originverify-signing"
ORIGIN = "origin.example.com"
#: The metadata headers the origin request policy forwards and the function covers.
CLAIM_HEADERS = (
    "cloudfront-viewer-cert-present",
    "cloudfront-viewer-cert-sha256",
    "cloudfront-viewer-cert-serial-number",
)
Pairs = list[tuple[str, str]]


def node() -> str:
    """The ``node`` binary; in CI it must exist (apt-get install nodejs)."""
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("node is required in CI (apt-get install nodejs)")
        pytest.skip("Node.js not installed: apt-get install nodejs")
    return found


def request_id() -> str:
    """Shaped like a CloudFront request id (56 characters of base64url)."""
    return base64.urlsafe_b64encode(os.urandom(40)).decode()


def store(
    key_id: str, secret_spec: str, *, authority: str = ORIGIN, prefix: str = ""
) -> dict[str, str]:
    """The KeyValueStore content: one JSON value, so key id and key change together."""
    value = {"keyid": key_id, "key": secret_spec, "authority": authority, "pathPrefix": prefix}
    return {CONFIG_KEY: json.dumps(value)}


def claims(issued: Issued | None) -> dict[str, str]:
    """The CloudFront-Viewer-Cert-* values CloudFront computes from the viewer's leaf."""
    if issued is None:
        return {"cloudfront-viewer-cert-present": "0"}
    serial = issued.cert.serial_number
    raw = serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")
    return {
        "cloudfront-viewer-cert-present": "1",
        "cloudfront-viewer-cert-sha256": hashlib.sha256(issued.der).hexdigest(),
        "cloudfront-viewer-cert-serial-number": raw.hex(":"),
    }


@dataclass
class Viewer:
    """One viewer request as the function's event describes it."""

    method: str = "GET"
    uri: str = "/orders/7"
    query: list[tuple[str, str]] = field(default_factory=list)
    issued: Issued | None = None
    host: str = "app.example.com"
    extra_headers: dict[str, str] = field(default_factory=dict)
    request_id: str = field(default_factory=request_id)

    def event(self) -> dict[str, Any]:
        headers: dict[str, dict[str, str]] = {"host": {"value": self.host}}
        headers["user-agent"] = {"value": "curl/8.5.0"}
        for name, value in {**claims(self.issued), **self.extra_headers}.items():
            headers[name] = {"value": value}
        querystring: dict[str, dict[str, Any]] = {}
        for name, value in self.query:
            item = querystring.get(name)
            if item is None:
                querystring[name] = {"value": value}
            else:
                item.setdefault("multiValue", [{"value": item["value"]}])
                item["multiValue"].append({"value": value})
        return {
            "version": "1.0",
            "context": {
                "distributionDomainName": "d111111abcdef8.cloudfront.net",
                "distributionId": "EDFDVBD6EXAMPLE",
                "eventType": "viewer-request",
                "requestId": self.request_id,
            },
            "viewer": {"ip": "198.51.100.11"},
            "request": {
                "method": self.method,
                "uri": self.uri,
                "querystring": querystring,
                "headers": headers,
                "cookies": {},
            },
        }


def run_function(
    kvs: dict[str, str], viewers: list[Viewer], *, now_ms: int | None = None
) -> list[dict[str, Any]]:
    """What the function returned for each viewer request (in one Node.js process)."""
    payload = {
        "source": str(FUNCTION),
        "store": kvs,
        "now": now_ms,
        "events": [v.event() for v in viewers],
    }
    done = subprocess.run(
        [node(), str(HARNESS)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"harness failed: {done.stderr}")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    for result in results:
        assert "error" not in result, result["error"]
    return results


@dataclass
class OriginRequest:
    method: str
    target: str
    authority: str
    headers: Pairs

    def replace(self, name: str, value: str) -> OriginRequest:
        kept = [(n, v) for n, v in self.headers if n.lower() != name.lower()]
        return OriginRequest(self.method, self.target, self.authority, [*kept, (name, value)])


def origin_request(
    viewer: Viewer, output: dict[str, Any], *, prefix: str = "", authority: str = ORIGIN
) -> OriginRequest:
    """The origin request CloudFront builds from the function's returned request: the
    allowlisted headers, ``Client-Cert`` / ``-Chain`` from the handshake, the origin's Host."""
    returned = output["result"]
    assert "statusCode" not in returned, f"the function answered {returned}"
    sent: dict[str, dict[str, str]] = returned["headers"]
    headers: Pairs = [("Host", authority), ("User-Agent", "Amazon CloudFront")]
    if viewer.issued is not None:
        headers.append(("Client-Cert", serialize_item(viewer.issued.der)))
        for der in viewer.issued.chain_der:
            headers.append(("Client-Cert-Chain", serialize_item(der)))
    for name in (*CLAIM_HEADERS, "signature-input", "signature"):
        if name in sent:
            headers.append((name, sent[name]["value"]))
    query = returned["querystring"]
    if isinstance(query, dict):  # left alone: there was none
        assert not query, "the function sets the query string it signed"
        query = ""
    target = prefix + returned["uri"] + (f"?{query}" if query else "")
    # On the wire as UTF-8; servers hand the target to the application as latin-1 text.
    return OriginRequest(viewer.method, target.encode().decode("latin-1"), authority, headers)
