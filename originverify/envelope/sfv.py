"""The slice of RFC 8941 structured fields the envelope reads and writes: dictionaries whose
members are items or inner lists, with parameters.

Written here (not ``http-sf``) because it runs on every signed request: compiled regular
expressions over a header already capped at a few KB, one pass, no intermediate objects.
``http-sf`` stays the oracle in the tests. Stricter than RFC 8941 in one way: a repeated
dictionary or parameter key is an error (the RFC keeps the last), since two readings of one
signature are what an attacker wants.
"""

from __future__ import annotations

import base64
import binascii
import re

Params = dict[str, object]
#: One dictionary member: ``(item or list of (item, params), params)``.
Member = tuple[object, Params]


class Token(str):
    """An RFC 8941 token; a ``str`` subclass so ``type(value) is str`` tells it from a string."""

    __slots__ = ()


class StructuredFieldError(ValueError):
    """The text is not a valid structured field of the expected shape."""


_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
_NUMBER = re.compile(r"-?([0-9]+)(?:\.([0-9]*))?")
_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]*")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")
_UNESCAPE = re.compile(r"\\([\"\\])")
_OWS = re.compile(r"[ \t]*")
_SP = re.compile(r" *")


def parse_dictionary(text: str) -> dict[str, Member]:
    """An RFC 8941 dictionary; raises ``StructuredFieldError``."""
    end = len(text)
    pos = _SP.match(text).end()  # type: ignore[union-attr]
    result: dict[str, Member] = {}
    while pos < end:
        match = _KEY.match(text, pos)
        if match is None:
            raise StructuredFieldError(f"expected a key at offset {pos}")
        key, pos = match.group(), match.end()
        if key in result:
            raise StructuredFieldError(f"duplicate dictionary key {key[:32]!r}")
        value: object = True
        if text.startswith("=", pos):
            if text.startswith("(", pos + 1):
                value, pos = _inner_list(text, pos + 2)
            else:
                value, pos = _bare_item(text, pos + 1)
        params, pos = _params(text, pos)
        result[key] = (value, params)
        pos = _OWS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= end:
            break
        if text[pos] != ",":
            raise StructuredFieldError(f"expected ',' at offset {pos}")
        pos = _OWS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if pos >= end:
            raise StructuredFieldError("trailing comma")
    return result


def _inner_list(text: str, pos: int) -> tuple[list[tuple[object, Params]], int]:
    items: list[tuple[object, Params]] = []
    end = len(text)
    while True:
        pos = _SP.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= end:
            raise StructuredFieldError("unterminated inner list")
        if text[pos] == ")":
            return items, pos + 1
        item, pos = _bare_item(text, pos)
        params, pos = _params(text, pos)
        items.append((item, params))
        if pos >= end or text[pos] not in " )":
            raise StructuredFieldError(f"expected ' ' or ')' at offset {pos}")


def _params(text: str, pos: int) -> tuple[Params, int]:
    params: Params = {}
    while text.startswith(";", pos):
        pos = _SP.match(text, pos + 1).end()  # type: ignore[union-attr]
        match = _KEY.match(text, pos)
        if match is None:
            raise StructuredFieldError(f"expected a parameter key at offset {pos}")
        key, pos = match.group(), match.end()
        if key in params:
            raise StructuredFieldError(f"duplicate parameter {key[:32]!r}")
        value: object = True
        if text.startswith("=", pos):
            value, pos = _bare_item(text, pos + 1)
        params[key] = value
    return params, pos


def _bare_item(text: str, pos: int) -> tuple[object, int]:
    char = text[pos : pos + 1]
    if char == '"':
        match = _STRING.match(text, pos)
        if match is None:
            raise StructuredFieldError(f"malformed string at offset {pos}")
        raw = match.group(1)
        return (_UNESCAPE.sub(r"\1", raw) if "\\" in raw else raw), match.end()
    if char == "-" or char.isdigit():
        return _number(text, pos)
    if char == ":":
        match = _BYTES.match(text, pos)
        if match is None:
            raise StructuredFieldError(f"malformed byte sequence at offset {pos}")
        try:
            return base64.b64decode(match.group(1), validate=True), match.end()
        except (binascii.Error, ValueError):
            raise StructuredFieldError("byte sequence is not base64") from None
    if char == "?":
        flag = text[pos + 1 : pos + 2]
        if flag not in ("0", "1"):
            raise StructuredFieldError(f"malformed boolean at offset {pos}")
        return flag == "1", pos + 2
    match = _TOKEN.match(text, pos)
    if match is None:
        raise StructuredFieldError(f"unexpected character at offset {pos}")
    return Token(match.group()), match.end()


def _number(text: str, pos: int) -> tuple[object, int]:
    match = _NUMBER.match(text, pos)
    if match is None:
        raise StructuredFieldError(f"malformed number at offset {pos}")
    whole, fraction = match.group(1), match.group(2)
    if fraction is None:
        if len(whole) > 15:
            raise StructuredFieldError("integer longer than 15 digits")
        return int(match.group()), match.end()
    if len(whole) > 12 or not 1 <= len(fraction) <= 3:
        raise StructuredFieldError("malformed decimal")
    return float(match.group()), match.end()


# -- serialization (what the signature base and the signer write) ------------------------------


def serialize_string(value: str) -> str:
    """An sf-string; the caller guarantees visible ASCII (checked where values come in)."""
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def serialize_params(params: Params) -> str:
    """``;key=value`` for each parameter; ``True`` is written as the bare key."""
    out = []
    for key, value in params.items():
        if value is True:
            out.append(f";{key}")
        elif value is False:
            out.append(f";{key}=?0")
        elif type(value) is int:
            out.append(f";{key}={value}")
        elif type(value) is str:
            out.append(f";{key}={serialize_string(value)}")
        elif isinstance(value, Token):
            out.append(f";{key}={value}")
        else:
            raise StructuredFieldError(f"cannot serialize parameter {key!r}")
    return "".join(out)


# -- the fast path: the canonical shape signers write ------------------------------------------

_FAST_NAME = r'"[!#-\[\]-~]*"(?:;bs)?'
_FAST_VALUE = r'(?:0|-?[1-9][0-9]{0,14}|"[ !#-\[\]-~]*")'
_FAST_PARAM = rf"[a-z*][a-z0-9_.*-]*={_FAST_VALUE}"
#: ``label=("c1" "c2";bs ...);k=1;k="v"...``: one member, canonical serialization (single
#: spaces, no escapes, no leading zeros, ``;bs`` only as a component parameter).
FAST_INPUT = re.compile(
    rf"([a-z*][a-z0-9_.*-]*)=(\((?:{_FAST_NAME}(?: {_FAST_NAME})*)?\)((?:;{_FAST_PARAM})*))"
)
_FAST_PARAMS = re.compile(r';([a-z*][a-z0-9_.*-]*)=(?:(0|-?[1-9][0-9]{0,14})|"([ !#-\[\]-~]*)")')
_USUAL_PARAMS = re.compile(
    r';created=(0|[1-9][0-9]{0,14});keyid="([ !#-\[\]-~]*)";alg="([ !#-\[\]-~]*)"'
    r';expires=(0|[1-9][0-9]{0,14});nonce="([ !#-\[\]-~]*)";tag="([ !#-\[\]-~]*)"'
)
_FAST_ITEM = re.compile(r'"([^"]*)"(;bs)?')
#: ``label=:base64:`` with canonical padding.
FAST_SIGNATURE = re.compile(
    r"([a-z*][a-z0-9_.*-]*)=:((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?):"
)


def fast_input(text: str) -> tuple[str, str, Params, str] | None:
    """``(label, inner list text, params, serialized inner list with params)`` when ``text``
    is one member in canonical form, else None (then ``parse_dictionary`` decides). The
    serialization is exactly what ``@signature-params`` must hold, so it is reused as is;
    ``fast_components`` reads the inner list."""
    match = FAST_INPUT.fullmatch(text)
    if match is None:
        return None
    label, serialized, params_text = match.groups()
    inner = serialized[1 : len(serialized) - len(params_text) - 1]
    usual = _USUAL_PARAMS.fullmatch(params_text)
    if usual is not None:  # the order our signer writes: no duplicates possible
        created, keyid, alg, expires, nonce, tag = usual.groups()
        params: Params = {
            "created": int(created),
            "keyid": keyid,
            "alg": alg,
            "expires": int(expires),
            "nonce": nonce,
            "tag": tag,
        }
        return label, inner, params, serialized
    params = {}
    for key, number, string in _FAST_PARAMS.findall(params_text):
        if key in params:
            return None
        params[key] = int(number) if number else string
    return label, inner, params, serialized


def fast_components(inner: str) -> list[tuple[str, bool]]:
    """``(name, bs)`` of the items of a canonical inner list (``FAST_INPUT`` matched it)."""
    return [(name, bool(bs)) for name, bs in _FAST_ITEM.findall(inner)]


def fast_signature(text: str) -> tuple[str, bytes] | None:
    """``(label, signature bytes)`` for one canonical ``label=:base64:`` member, else None."""
    match = FAST_SIGNATURE.fullmatch(text)
    if match is None:
        return None
    return match.group(1), base64.b64decode(match.group(2))
