"""Envoy / Istio ``x-forwarded-client-cert`` (XFCC).

Grammar: elements separated by ``,`` (one per proxy hop, appended at the end), each a list
of ``Key=value`` pairs separated by ``;``. Values containing ``,``, ``;``, ``=`` or ``"`` are
double-quoted with ``\\"`` escapes. Keys (case-insensitive): ``By`` (the URI SAN of the proxy
that added the element), ``Hash`` (SHA-256 of the client certificate, hex), ``Cert`` (leaf,
URL-encoded PEM), ``Chain`` (the whole chain *including* the leaf, URL-encoded PEM blocks),
``Subject``, ``URI``, ``DNS`` (repeated per name).

Which element to read is policy, not guesswork: ``element="only"`` (default) refuses a header
with more than one element, ``element="last"`` reads the hop nearest to the origin. XFCC does
not say whether Envoy validated the certificate (that is its ``validation_context``), so this
format never claims an edge verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..errors import Reason, VerificationError
from ..headers import Headers
from . import claims as c
from .base import CertificateFormat, EdgeClaims, ForwardedCertificate, Limits, single_value
from .encodings import URL_PEM, URL_PEM_CHAIN

# Unrolled quoted-string loop: linear time, no backtracking on long Cert values.
_PAIR = re.compile(r'[ \t]*([A-Za-z]+)=("[^"\\]*(?:\\.[^"\\]*)*"|[^,;"\s]*)[ \t]*', re.DOTALL)
_UNESCAPE = re.compile(r'\\(["\\])')
_KEYS = {k.lower(): k for k in ("By", "Hash", "Cert", "Chain", "Subject", "URI", "DNS")}
_REPEATABLE = frozenset({"URI", "DNS"})

Pairs = list[tuple[str, str]]


def parse_xfcc(value: str, what: str) -> list[Pairs]:
    """Every element's ``(Key, value)`` pairs, keys canonically cased, quotes removed."""
    elements: list[Pairs] = []
    current: Pairs = []
    pos, size = 0, len(value)
    while True:
        match = _PAIR.match(value, pos)
        if match is None:
            raise VerificationError(
                Reason.MALFORMED_HEADER, f"{what}: expected Key=value at position {pos}"
            )
        key = _KEYS.get(match.group(1).lower())
        if key is None:
            raise VerificationError(
                Reason.MALFORMED_HEADER, f"{what}: unknown key {match.group(1)[:20]!r}"
            )
        raw = match.group(2)
        if raw.startswith('"'):
            raw = _UNESCAPE.sub(r"\1", raw[1:-1])
        if key not in _REPEATABLE and any(k == key for k, _ in current):
            raise VerificationError(
                Reason.MALFORMED_HEADER, f"{what}: {key} appears twice in one element"
            )
        current.append((key, raw))
        pos = match.end()
        if pos == size:
            elements.append(current)
            return elements
        separator = value[pos]
        if separator == ",":
            elements.append(current)
            current = []
        elif separator != ";":
            raise VerificationError(
                Reason.MALFORMED_HEADER,
                f"{what}: unexpected {separator!r} at position {pos} (unbalanced quotes?)",
            )
        pos += 1


@dataclass(frozen=True)
class EnvoyXFCC(CertificateFormat):
    """XFCC with an element policy and an optional check of ``By=``.

    ``expected_by``: the URI SAN(s) of the Envoy that must have written the element (the
    origin's own identity in a mesh); anything else is ``edge_mismatch``. ``element``:
    ``"only"`` or ``"last"``. The claims are ``sha256`` (``Hash``), ``uris`` and
    ``dns_names`` (``URI``, ``DNS``: each must be a SAN of the certificate) and
    ``unverified_subject`` (``Subject``); ``raw`` holds the element's pairs except
    ``Cert``/``Chain`` (``By``, ``Hash``, ``Subject``, ``URI``, ``DNS``), e.g. the SPIFFE ID
    in ``URI`` when Istio forwards no certificate.
    """

    name: str = "envoy-xfcc"
    header: str = "x-forwarded-client-cert"
    element: Literal["only", "last"] = "only"
    expected_by: tuple[str, ...] = ()
    edge_validates: bool = False

    def __post_init__(self) -> None:
        if self.element not in ("only", "last"):
            raise ValueError("element must be 'only' or 'last'")
        if isinstance(self.expected_by, str):
            object.__setattr__(self, "expected_by", (self.expected_by,))

    @property
    def header_names(self) -> tuple[str, ...]:
        return (self.header,)

    def decode(self, headers: Headers, limits: Limits) -> ForwardedCertificate:
        value = single_value(headers, self.header, limits.max_leaf_bytes + limits.max_chain_bytes)
        if value is None:
            return ForwardedCertificate(None)
        elements = parse_xfcc(value, self.header)
        if self.element == "only" and len(elements) != 1:
            raise VerificationError(
                Reason.MALFORMED_HEADER,
                f"{self.header}: {len(elements)} elements (proxy hops) where exactly one is "
                "allowed; use element='last' if your topology appends hops",
            )
        pairs = elements[-1]
        if self.expected_by:
            by = [v for k, v in pairs if k == "By"]
            if not by or by[0] not in self.expected_by:
                got = repr(by[0][:200]) if by else "no By"
                raise VerificationError(
                    Reason.EDGE_MISMATCH, f"{self.header}: element written for {got}"
                )
        return self._forwarded(pairs, limits)

    def _forwarded(self, pairs: Pairs, limits: Limits) -> ForwardedCertificate:
        fields = dict(pairs)
        sha256 = None
        if "Hash" in fields:
            try:
                sha256 = c.sha256_hex(fields["Hash"])
            except ValueError as exc:
                raise VerificationError(
                    Reason.MALFORMED_HEADER, f"{self.header}: Hash: {exc}"
                ) from None
        claims = EdgeClaims(
            sha256=sha256,
            uris=tuple(v for k, v in pairs if k == "URI" and v),
            dns_names=tuple(v for k, v in pairs if k == "DNS" and v),
            # Envoy does not specify the DN spelling (docs: OpenSSL slash form, observed: RFC
            # 2253-like), so it is kept for logs and never compared or trusted.
            unverified_subject=fields.get("Subject") or None,
            raw=tuple((k, v) for k, v in pairs if k not in ("Cert", "Chain")),
        )
        leaf: bytes | None = None
        chain: tuple[bytes, ...] = ()
        if "Cert" in fields:
            leaf = URL_PEM.decode(fields["Cert"], f"{self.header} Cert", 1)[0]
        if "Chain" in fields:
            ders = URL_PEM_CHAIN.decode(
                fields["Chain"], f"{self.header} Chain", 1 + limits.max_chain_certs
            )
            if leaf is not None and ders[0] != leaf:
                raise VerificationError(
                    Reason.EDGE_MISMATCH, f"{self.header}: Chain does not start with Cert"
                )
            leaf, chain = ders[0], tuple(ders[1:])
        return ForwardedCertificate(leaf, chain, claims)


ENVOY_XFCC = EnvoyXFCC()


def envoy_xfcc(
    *,
    header: str = "x-forwarded-client-cert",
    element: Literal["only", "last"] = "only",
    expected_by: str | tuple[str, ...] = (),
) -> EnvoyXFCC:
    """Envoy/Istio XFCC; ``expected_by`` is the origin-side Envoy's URI SAN (or several)."""
    by = (expected_by,) if isinstance(expected_by, str) else tuple(expected_by)
    return EnvoyXFCC(header=header, element=element, expected_by=by)
