#!/usr/bin/env python3
"""Decoding alone, per edge format, as µs and as a share of a whole uncached verification.

For each format the same client (leaf + one intermediate, under one root anchor) is sent the
way that edge sends it:

  rfc9440                 ``Client-Cert`` / ``Client-Cert-Chain`` (RFC 9440 sf-binary)
  cloudfront-passthrough  the same plus ``CloudFront-Viewer-Cert-Sha256/-Serial-Number/
                          -Present``, which the verifier cross-checks against the DER
  nginx                   URL-encoded PEM (``$ssl_client_escaped_cert``), leaf only: nginx
                          has no chain variable, the intermediate is configured at the origin
  envoy-xfcc              ``x-forwarded-client-cert`` with ``Hash``, ``Cert``, ``Chain``
                          (URL-encoded PEM, leaf included), ``Subject`` and ``URI``

"decode" is ``format.decode(headers, limits)`` (header reads, size caps, strict parsing, the
DER bytes out); "total" is ``Verifier.verify_request`` with that format and the cache off.
Rounds interleaved, medians reported. Run alone: ``python benchmarks/bench_decode.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from typing import Any

from _common import (
    CLIENT_URI,
    SECRET,
    Chain,
    interleaved,
    make_chain,
    paired_ratio,
    summarize,
)

from originverify import EdgeSecret, HeaderList, Verifier
from originverify.formats.pem import encode_url_pem
from originverify.formats.sfbinary import serialize_item, serialize_list

FORMATS = {
    "rfc9440": "RFC 9440 (sf-binary DER)",
    "cloudfront-passthrough": "CloudFront passthrough (RFC 9440 + viewer metadata)",
    "nginx": "URL-encoded PEM (nginx, leaf only)",
    "envoy-xfcc": "XFCC (Envoy: Hash, Cert, Chain, Subject, URI)",
}


def headers_for(fmt: str, chain: Chain) -> HeaderList:
    """What the edge behind ``fmt`` forwards for ``chain``, with the edge secret."""
    pairs: list[tuple[str, str]] = [("X-Origin-Verify", SECRET)]
    leaf, inters = chain.leaf_der, list(chain.chain_der)
    if fmt in ("rfc9440", "cloudfront-passthrough"):
        pairs.append(("Client-Cert", serialize_item(leaf)))
        pairs.append(("Client-Cert-Chain", serialize_list(inters)))
        if fmt == "cloudfront-passthrough":
            digits = f"{chain.leaf.serial_number:x}"
            digits = "0" * (len(digits) % 2) + digits
            serial = ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))
            pairs += [
                ("CloudFront-Viewer-Cert-Sha256", hashlib.sha256(leaf).hexdigest()),
                ("CloudFront-Viewer-Cert-Serial-Number", serial),
                ("CloudFront-Viewer-Cert-Present", "1"),
            ]
    elif fmt == "nginx":
        pairs.append(("X-SSL-Client-Cert", encode_url_pem(leaf)))
    elif fmt == "envoy-xfcc":
        subject = chain.leaf.subject.rfc4514_string().replace('"', '\\"')
        value = ";".join(
            [
                "By=spiffe://cluster.local/ns/default/sa/origin",
                f"Hash={hashlib.sha256(leaf).hexdigest()}",
                f"Cert={encode_url_pem(leaf)}",
                "Chain=" + "".join(encode_url_pem(d) for d in (leaf, *inters)),
                f'Subject="{subject}"',
                f"URI={CLIENT_URI}",
            ]
        )
        pairs.append(("x-forwarded-client-cert", value))
    else:
        raise ValueError(fmt)
    return HeaderList(pairs)


def format_cases(chain: Chain) -> dict[str, Callable[[], object]]:
    """``decode:<fmt>`` and ``total:<fmt>`` for every format, each checked once."""
    cases: dict[str, Callable[[], object]] = {}
    for fmt in FORMATS:
        headers = headers_for(fmt, chain)
        extra = [chain.intermediates[0]] if fmt == "nginx" else []
        verifier = Verifier(
            trust=chain.anchors_pem,
            extra_intermediates=extra,
            source=EdgeSecret(secrets=[SECRET]),
            format=fmt,
            cache=None,
        )
        identity = verifier.verify_request(headers)
        assert identity is not None, f"{fmt}: verification failed"
        decoded = verifier.format.decode(headers, verifier.limits)
        assert decoded.leaf == chain.leaf_der, fmt
        fmt_obj, limits = verifier.format, verifier.limits
        cases[f"decode:{fmt}"] = lambda f=fmt_obj, h=headers, lim=limits: f.decode(h, lim)
        cases[f"total:{fmt}"] = lambda v=verifier, h=headers: v.verify_request(h)
    return cases


def run(rounds: int = 15, target_s: float = 0.02) -> dict[str, Any]:
    out: dict[str, Any] = {"rounds": rounds, "formats": FORMATS}
    for key_type in ("rsa", "ec"):
        chain = make_chain(key_type, 3)
        samples = interleaved(format_cases(chain), rounds, target_s)
        rows = {}
        for fmt in FORMATS:
            dec, tot = samples[f"decode:{fmt}"], samples[f"total:{fmt}"]
            rows[fmt] = {
                "decode_us": summarize(dec),
                "total_us": summarize(tot),
                "share": paired_ratio(dec, tot),
                "header_bytes": sum(len(n) + len(v) for n, v in headers_for(fmt, chain).items()),
            }
        out[key_type] = {"label": chain.label, "formats": rows}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(3 if args.quick else args.rounds, 0.01 if args.quick else 0.02)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from report_sections import render_decode

    print(render_decode(result))


if __name__ == "__main__":
    main()
