"""Canonicalisation: the RFC 9421 signature base, built the same way by signer and verifier.

Only what the envelope covers: ``@method``, ``@authority``, ``@path``, ``@query`` and whole
header fields (``;bs`` for values that are not visible ASCII). ``http-message-signatures``
is the oracle in ``tests/signatures/test_base_oracle.py``: byte-identical bases on RFC 9421's
examples and on generated requests.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Sequence

from .sfv import Params, serialize_params, serialize_string

# RFC 3986 reg-name (unreserved only), IPv4, or an IP literal, then an optional port.
_AUTHORITY = re.compile(r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# Bytes outside RFC 3986 pchar / query, and any '%' not starting a valid escape.
_UNSAFE_PATH = re.compile(rb"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9._~!$&'()*+,;=:@/%-]")
_UNSAFE_QUERY = re.compile(rb"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9._~!$&'()*+,;=:@/?%-]")
_SAFE_TARGET = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@/-]*(?:\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?")
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Z-]+")
# What a field value may hold outside ``;bs``: visible ASCII, space, tab.
VISIBLE = re.compile(r"[\t\x20-\x7e]*")
# The URL's scheme is never covered; both sides use https so that @authority drops a default
# port identically.
_SCHEME = "https"


def text(value: str | bytes) -> str:
    """Octets as latin-1 code points, as servers hand header values to applications; text
    beyond latin-1 goes on the wire as UTF-8."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8").decode("latin-1")
    return value


def _escape(raw: bytes, unsafe: re.Pattern[bytes]) -> str:
    return unsafe.sub(lambda m: b"%%%02X" % m.group()[0], raw).decode("ascii")


def _split_target(target: str) -> tuple[str, str | None]:
    if _SAFE_TARGET.fullmatch(target):  # nothing to escape: the common case, no copies
        safe_path, mark, safe_query = target.partition("?")
        return safe_path, (safe_query if mark else None)
    if not target.startswith("/"):
        raise ValueError(f"request target {target[:80]!r} is not in origin form (/path?query)")
    try:
        raw = target.encode("latin-1")
    except UnicodeEncodeError:
        raw = target.encode("utf-8")
    path, sep, query = raw.partition(b"?")
    return _escape(path, _UNSAFE_PATH), (_escape(query, _UNSAFE_QUERY) if sep else None)


def request_url(authority: str, target: str) -> str:
    """The absolute URL both sides derive ``@authority``, ``@path`` and ``@query`` from.

    Bytes a client may still send raw (``|``, ``{``, ``"``, non-ASCII, a stray ``%``) are
    percent-encoded the same way on both sides; valid targets are left exactly as sent.
    Raises ``ValueError`` for a target not in origin form or a malformed authority.
    """
    if not _AUTHORITY.fullmatch(authority):
        raise ValueError(f"authority {authority[:80]!r} is not host[:port]")
    path, query = _split_target(target)
    url = f"{_SCHEME}://{authority}{path}"
    return url if query is None else f"{url}?{query}"


def derived_values(method: str, authority: str, target: str) -> dict[str, str]:
    """``@method``, ``@authority``, ``@path`` and ``@query`` as RFC 9421 §2.2 defines them."""
    if not _METHOD.fullmatch(method):
        raise ValueError(f"method {method[:20]!r} is not an upper-case token")
    if not _AUTHORITY.fullmatch(authority):
        raise ValueError(f"authority {authority[:80]!r} is not host[:port]")
    path, query = _split_target(target)
    if authority.startswith("["):
        end = authority.index("]") + 1
        host, port = authority[:end], authority[end + 1 :]
    else:
        host, _, port = authority.partition(":")
    if port and port.lstrip("0") == "443":
        port = ""
    return {
        "@method": method,
        "@authority": host.lower() + (":" + port if port else ""),
        "@path": path,
        "@query": "?" + (query or ""),
    }


def field_value(values: Sequence[str], bs: bool) -> str:
    """A header component's value: lines trimmed and joined, or each line as a byte sequence."""
    if bs:
        return ", ".join(
            ":" + base64.b64encode(v.strip(" \t").encode("latin-1")).decode() + ":" for v in values
        )
    joined = (
        values[0].strip(" \t") if len(values) == 1 else ", ".join(v.strip(" \t") for v in values)
    )
    if not visible(joined):
        raise ValueError("a covered header is not visible ASCII and not covered with ;bs")
    return joined


def visible(value: str) -> bool:
    """Visible ASCII, spaces and tabs only: what a field value may hold outside ``;bs``."""
    return value.isascii() and (value.isprintable() or value.replace("\t", " ").isprintable())


def component_id(name: str, bs: bool) -> str:
    """The serialized identifier of a header component."""
    return f'"{name}";bs' if bs else f'"{name}"'


def signature_params(ids: Iterable[str], params: Params) -> str:
    """The ``@signature-params`` value: the inner list of component ids and the parameters."""
    return "(" + " ".join(ids) + ")" + serialize_params(params)


def request_base(
    method: str,
    authority: str,
    target: str,
    get_all: Callable[[str], Sequence[str]],
    components: Sequence[tuple[str, bool]],
    params: Params,
    params_value: str | None = None,
) -> tuple[bytes, str]:
    """The signature base of a request and its ``@signature-params`` value.

    ``components`` are ``(name, bs)`` in signature order: the derived components above and
    header names (lower-case) whose lines ``get_all`` returns. ``params_value``, when given,
    is the canonical serialization of ``components`` and ``params`` (as received on the fast
    path), else it is serialized here. Raises ``ValueError``.
    """
    derived = derived_values(method, authority, target)
    parts: list[str] = []
    ids: list[str] = []
    for name, bs in components:
        value = derived.get(name)
        if value is not None:
            ident = f'"{name}"'
        else:
            values = get_all(name)
            if name[:1] == "@" or not values:
                raise ValueError(f"component {name[:40]!r} is neither derived here nor present")
            ident = f'"{name}";bs' if bs else f'"{name}"'
            value = field_value(values, bs)
        ids.append(ident)
        parts += (ident, ": ", value, "\n")
    if params_value is None:
        params_value = signature_params(ids, params)
    parts += ('"@signature-params": ', params_value)
    return "".join(parts).encode("ascii"), params_value


def signature_base(lines: Iterable[tuple[str, str]], params_value: str) -> bytes:
    """The bytes that are signed: ``"id": value`` per component, then the parameters."""
    parts: list[str] = []
    for ident, value in lines:
        parts += (ident, ": ", value, "\n")
    parts += ('"@signature-params": ', params_value)
    return "".join(parts).encode("ascii")


__all__ = [
    "VISIBLE",
    "component_id",
    "derived_values",
    "field_value",
    "request_base",
    "request_url",
    "serialize_string",
    "signature_base",
    "signature_params",
    "text",
    "visible",
]
