"""Feeding corpus items through the real request path and judging the outcome.

``Judge`` runs one verifier per preset over a request built by the project's own wire
encoders (tests/formats/edgewire.py), and records two things per request: the verdict
(a ``Reason`` or ``ACCEPTED``) and every *boundary hit*, i.e. an exception other than
``VerificationError`` that the verifier's exception boundary had to turn into a reason.
A boundary hit is a crash site: it never reaches the client, but it marks code that does
not handle hostile bytes on its own (and whose reason is a guess).
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from originverify import EdgeSecret, Reason, VerificationError, Verifier
from tests.formats.edgewire import ENCODERS

from .items import Item, MutantPki, parsed

SECRET = "corpus-edge-secret-0123456789abcdef"
ACCEPTED = "accepted"
#: The presets every item goes through: one per family of wire encoding (RFC 8941 binary,
#: Envoy's URL-escaped PEM in a structured list, nginx's escaped PEM, ALB's PEM bundle).
PRESETS = ("cloudfront-passthrough", "envoy-xfcc", "nginx", "alb-passthrough")
#: Presets whose wire form carries intermediates.
CHAIN_PRESETS = ("cloudfront-passthrough", "envoy-xfcc", "alb-passthrough")

#: Reasons decided before the certificate is looked at: a corpus request must never get one.
NOT_ABOUT_THE_CERTIFICATE = {
    r for r in Reason if r.value.startswith(("edge_secret", "signature_", "proxy_"))
} | {Reason.AMBIGUOUS_HEADER_NAME, Reason.DUPLICATE_HEADER, Reason.MISSING_CERTIFICATE}
#: Any refusal about the certificate itself.
REFUSED = frozenset(set(Reason) - NOT_ABOUT_THE_CERTIFICATE)
REPO = Path(__file__).resolve().parents[3]
#: DER past this size may exceed a header limit once encoded (16 KiB for the leaf).
LARGE = 6 * 1024


@dataclass(frozen=True)
class BoundaryHit:
    """One exception the boundary caught: where it was raised and what it was."""

    stage: str
    exception: str
    site: str  # "originverify/…py:LINE in function" of the innermost project frame
    origin: str  # the innermost frame overall (may be inside cryptography)

    def __str__(self) -> str:
        return f"{self.exception} in stage {self.stage} at {self.site} (raised in {self.origin})"


class _Catcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.hits: list[BoundaryHit] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith("originverify: unexpected") or not record.exc_info:
            return
        _, exc, tb = record.exc_info
        frames = traceback.extract_tb(tb)
        ours = [f for f in frames if "/originverify/" in f.filename] or frames
        site, origin = ours[-1], frames[-1]
        args = record.args if isinstance(record.args, tuple) else ()
        self.hits.append(
            BoundaryHit(
                stage=str(args[1]) if len(args) > 1 else "?",
                exception=type(exc).__name__,
                site=f"{_short(site.filename)}:{site.lineno} in {site.name}",
                origin=f"{_short(origin.filename)}:{origin.lineno} in {origin.name}",
            )
        )


def _short(filename: str) -> str:
    for marker in ("/originverify/", "/site-packages/"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.split(marker, 1)[1]
    return filename


@contextmanager
def catching() -> Iterator[_Catcher]:
    """Collect boundary hits of the ``originverify`` logger while the block runs.

    The records stop here (no propagation): tens of thousands of refusal lines would
    otherwise be formatted and kept by pytest's log capture for nothing."""
    logger = logging.getLogger("originverify")
    catcher = _Catcher()
    logger.addHandler(catcher)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield catcher
    finally:
        logger.propagate = propagate
        logger.removeHandler(catcher)


#: Suffix of a preset name: also send the edge's metadata headers about the leaf.
WITH_CLAIMS = "+claims"


def request_headers(preset: str, leaf: bytes, chain: tuple[bytes, ...]) -> list[tuple[str, str]]:
    """The edge's secret and what ``preset``'s edge sends for this leaf and chain."""
    base, claims = preset.removesuffix(WITH_CLAIMS), preset.endswith(WITH_CLAIMS)
    headers = [("X-Origin-Verify", SECRET), *ENCODERS[base](leaf, chain)]
    return headers + viewer_claims(leaf) if claims else headers


def _serial_content(serial: int) -> bytes:
    """The serial's DER INTEGER content octets (two's complement, minimal), as an edge
    reading the certificate has them."""
    length = (serial + (serial < 0)).bit_length() // 8 + 1
    return serial.to_bytes(length, "big", signed=True)


def viewer_claims(der: bytes) -> list[tuple[str, str]]:
    """``CloudFront-Viewer-Cert-*`` as CloudFront writes them (shared/reference/
    header-formats.md §1.3), computed with cryptography; fields it cannot render from odd
    DER are left out, as an edge that could not read them would."""
    out = [
        ("CloudFront-Viewer-Cert-Present", "1"),
        ("CloudFront-Viewer-Cert-Sha256", hashlib.sha256(der).hexdigest()),
    ]
    cert = parsed(der)
    if cert is None:
        return out
    readers = {
        "CloudFront-Viewer-Cert-Serial-Number": lambda: ":".join(
            f"{b:02x}" for b in _serial_content(cert.serial_number)
        ),
        "CloudFront-Viewer-Cert-Subject": lambda: cert.subject.rfc4514_string(),
        "CloudFront-Viewer-Cert-Issuer": lambda: cert.issuer.rfc4514_string(),
        "CloudFront-Viewer-Cert-Validity": lambda: (
            f"NotBefore={cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ};"
            f"NotAfter={cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
        ),
    }
    for name, read in readers.items():
        try:
            value = read()
        except Exception:  # an odd field the edge could not render either
            continue
        if value.isprintable() and value.isascii():
            out.append((name, value))
    return out


def verifier(preset: str, anchors: bytes, **options: object) -> Verifier:
    options.setdefault("cache", None)
    return Verifier(
        trust=anchors,
        source=EdgeSecret(secrets=[SECRET]),
        format=preset,
        **options,  # type: ignore[arg-type]
    )


@dataclass
class Verdict:
    """What one request got."""

    outcome: str  # a Reason value or ACCEPTED
    hits: list[BoundaryHit]
    escaped: str | None = None  # an exception that left verify_request (must never happen)
    unreadable: list[str] = field(default_factory=list)  # accepted identity's raising attributes


def run(v: Verifier, headers: list[tuple[str, str]]) -> Verdict:
    with catching() as catcher:
        try:
            identity = v.verify_request(headers)
        except VerificationError as exc:
            return Verdict(exc.reason.value, catcher.hits)
        except Exception as exc:  # the defect this corpus exists to find
            return Verdict("escaped", catcher.hits, f"{type(exc).__name__}: {exc}")
    if identity is None:
        return Verdict("anonymous", catcher.hits)
    return Verdict(ACCEPTED, catcher.hits, unreadable=unreadable_attributes(identity))


# -- placing an item in a request ---------------------------------------------------------


def placements(item: Item, pki: MutantPki) -> list[tuple[str, bytes, tuple[bytes, ...]]]:
    """``(position, leaf, chain)``: where the item goes in a request. Public items go both
    as the leaf (with our real intermediate after it) and as a chain element (after our
    real leaf, before the real intermediate); mutants where they were made to sit."""
    good_chain = (pki.intermediate_der,)
    as_leaf = ("leaf", item.der, good_chain)
    as_chain = ("chain", pki.leaf.der, (item.der, *good_chain))
    if item.role == "leaf":
        return [as_leaf]
    if item.role == "chain":
        return [("chain", pki.leaf.der, (item.der,))]
    return [as_leaf, as_chain]


#: Presets whose chain header concatenates DER without delimiters (HAProxy's
#: ``ssl_c_chain_der``): bytes that are not one DER TLV cannot be split, so the header itself
#: is malformed.
CONCATENATED_CHAIN = {"haproxy"}


def expected(item: Item, position: str, preset: str = "") -> frozenset[str]:
    """The verdicts a correct verifier may give for ``item`` at ``position``.

    The oracle is cryptography's own parser plus what each case means:

    * bytes cryptography refuses to parse → exactly ``malformed_certificate``;
    * a public item as the leaf: never issued by our anchors → any refusal, never accepted;
    * a public item as an extra chain element after our valid leaf and intermediate: path
      building must skip it → accepted, unless the verifier refuses the request for the
      element itself (odd key, unparseable extension: a refusal, never a crash);
    * a mutant leaf or intermediate whose signature no longer matches → refused;
    * a mutant re-signed by its real issuer → may be accepted (the CA signed it) or refused.
    """
    size = {Reason.HEADER_TOO_LARGE.value} if len(item.der) > LARGE else set()
    if parsed(item.der) is None:
        if position == "chain" and preset in CONCATENATED_CHAIN:
            size.add(Reason.MALFORMED_HEADER.value)
        return frozenset({Reason.MALFORMED_CERTIFICATE.value, *size})
    refused = frozenset(r.value for r in REFUSED)
    if item.signed or (position == "chain" and item.role is None):
        return refused | {ACCEPTED}
    return refused


@dataclass
class Tally:
    """Counts and findings of a corpus run, printed in the closing summary."""

    outcomes: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    hits: dict[BoundaryHit, list[str]] = field(default_factory=dict)  # site → labels
    wrong: list[str] = field(default_factory=list)
    escaped: list[str] = field(default_factory=list)
    unreadable: dict[str, list[str]] = field(default_factory=dict)  # attribute → labels

    def add(self, label: str, item: Item, verdict: Verdict, allowed: frozenset[str]) -> None:
        self.outcomes[verdict.outcome] += 1
        self.by_source[item.source] += 1
        for hit in verdict.hits:
            self.hits.setdefault(hit, []).append(label)
        for attribute in verdict.unreadable:
            self.unreadable.setdefault(attribute, []).append(label)
        if verdict.escaped is not None:
            self.escaped.append(f"{label}: {verdict.escaped}")
        elif verdict.outcome not in allowed:
            self.wrong.append(f"{label}: got {verdict.outcome}, expected one of {sorted(allowed)}")


def unreadable_attributes(identity: object) -> list[str]:
    """``"name: ExceptionType"`` for every public attribute (and ``as_dict()``, ``repr()``)
    of an accepted identity that raises when read: the application reads them after the
    verifier's boundary, so each is a 500 waiting in a view."""
    failures = []
    readers: dict[str, object] = {
        name: (lambda n=name: getattr(identity, n))
        for name in dir(type(identity))
        if not name.startswith("_") and isinstance(getattr(type(identity), name), property)
    }
    readers["as_dict()"] = lambda: identity.as_dict()  # type: ignore[attr-defined]
    readers["repr()"] = lambda: repr(identity)
    for name, read in readers.items():
        try:
            read()  # type: ignore[operator]
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}")
    return failures


def subset(corpus: list[Item], every: int) -> list[Item]:
    """A deterministic slice for the slower paths: every hand-made public item (pyca's
    top-level and ``custom`` vectors, asn1crypto's fixtures) and every mutant re-signed by
    our CA, plus one in ``every`` of the rest (PKITS, limbo, transplants, damaged
    encodings)."""
    out = []
    for index, item in enumerate(corpus):
        hand_made = item.source == "asn1crypto" or (
            item.source == "pyca" and "/" not in item.name.split(":", 1)[1].replace("custom/", "")
        )
        if hand_made or (item.signed and item.source == "mutant") or index % every == 0:
            out.append(item)
    return out
