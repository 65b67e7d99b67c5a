"""SPIFFE IDs parsed and validated to the SPIFFE ID specification, and path patterns that
match whole segments.

A SPIFFE ID is ``spiffe://<trust domain><path>``: the scheme is exactly ``spiffe``; the
trust domain is 1-255 of ``a-z 0-9 . - _`` (so no upper case, port, user info or
percent-encoding); the path is empty or ``/segment`` repeated, each segment non-empty, not
``.`` or ``..``, made of ``A-Z a-z 0-9 . - _``; no trailing ``/``, query or fragment; at most
2048 bytes in all. Anything else is not a SPIFFE ID (``parse`` returns ``None``).

Patterns (``Rules(spiffe_ids=...)``) are SPIFFE IDs whose path segments may be globs:
``*`` alone matches exactly one segment, ``*`` inside a segment (``sa-*``) matches within
that segment only, and a final ``**`` matches one or more further segments. The trust
domain is always literal. Because identities are validated first, no pattern can match a
``..`` segment: ``spiffe://example.org/device/*`` matches ``.../device/a`` and nothing else
below ``device``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import ConfigurationError

SCHEME: Final = "spiffe://"
MAX_LENGTH: Final = 2048
MAX_TRUST_DOMAIN: Final = 255
_TRUST_DOMAIN: Final = re.compile(r"[a-z0-9._-]+")
_SEGMENT: Final = re.compile(r"[A-Za-z0-9._-]+")
_SEGMENT_GLOB: Final = re.compile(r"[A-Za-z0-9._*-]+")


@dataclass(frozen=True, slots=True)
class SpiffeID:
    """A valid SPIFFE ID: trust domain and path segments."""

    trust_domain: str
    segments: tuple[str, ...]

    def __str__(self) -> str:
        return SCHEME + self.trust_domain + "".join("/" + s for s in self.segments)


def parse(uri: str) -> SpiffeID | None:
    """The SPIFFE ID ``uri`` spells, or ``None`` if it is not a valid one."""
    if len(uri.encode("utf-8", "surrogatepass")) > MAX_LENGTH or not uri.startswith(SCHEME):
        return None
    rest = uri[len(SCHEME) :]
    domain, slash, path = rest.partition("/")
    if len(domain) > MAX_TRUST_DOMAIN or not _TRUST_DOMAIN.fullmatch(domain):
        return None
    if not slash:
        return SpiffeID(domain, ())
    segments = tuple(path.split("/"))
    for segment in segments:
        if segment in (".", "..") or not _SEGMENT.fullmatch(segment):
            return None
    return SpiffeID(domain, segments)


def is_spiffe_uri(uri: str) -> bool:
    """Whether ``uri`` claims the ``spiffe`` scheme (in any letter case), valid or not."""
    scheme, colon, _ = uri.partition(":")
    return bool(colon) and scheme.lower() == "spiffe"


_Segment = str | re.Pattern[str]


@dataclass(frozen=True, slots=True)
class SpiffePattern:
    """A compiled SPIFFE ID pattern."""

    text: str
    trust_domain: str
    segments: tuple[_Segment, ...]
    rest: bool  # a final ``**``: one or more further segments

    @classmethod
    def parse(cls, text: str) -> SpiffePattern:
        def bad(why: str) -> ConfigurationError:
            return ConfigurationError(f"SPIFFE ID pattern {text!r}: {why}")

        if not text.startswith(SCHEME):
            raise bad("must start with spiffe://")
        domain, slash, path = text[len(SCHEME) :].partition("/")
        if not _TRUST_DOMAIN.fullmatch(domain) or len(domain) > MAX_TRUST_DOMAIN:
            raise bad("the trust domain must be literal: a-z 0-9 . - _ (no port, no glob)")
        parts = path.split("/") if slash else []
        rest = bool(parts) and parts[-1] == "**"
        if rest:
            parts.pop()
        segments: list[_Segment] = []
        for part in parts:
            if part in ("", ".", "..") or not _SEGMENT_GLOB.fullmatch(part):
                raise bad(f"segment {part!r} is not a SPIFFE path segment or glob")
            if "**" in part:
                raise bad("'**' is allowed only as the whole last segment")
            if "*" not in part:
                segments.append(part)
            else:
                pieces = (re.escape(p) for p in part.split("*"))
                segments.append(re.compile("[A-Za-z0-9._-]*".join(pieces)))
        return cls(text, domain, tuple(segments), rest)

    def matches(self, spiffe_id: SpiffeID | None) -> bool:
        if spiffe_id is None or spiffe_id.trust_domain != self.trust_domain:
            return False
        got = spiffe_id.segments
        wanted = len(self.segments)
        if len(got) < wanted or (len(got) == wanted and self.rest):
            return False
        if len(got) > wanted and not self.rest:
            return False
        for want, segment in zip(self.segments, got, strict=False):
            if isinstance(want, str):
                if want != segment:
                    return False
            elif want.fullmatch(segment) is None:
                return False
        return True
