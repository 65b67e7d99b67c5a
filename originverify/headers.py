"""Read-only views of a request's header fields that keep what a decoder must see.

A strict decoder needs two facts that a plain ``dict`` loses: how many field lines carried a
name (duplicates are an attack), and whether the client used an underscore spelling
(``Client_Cert``) that some servers fold into the real name.

The caller says what it holds, once, with an explicit constructor; the view never depends
on request data (an earlier version read a mapping as a WSGI environ when a key started
with ``HTTP_``, so a client could choose its own parser):

* ``from_pairs``: raw ``(name, value)`` field lines (ASGI, h11, http.client). Knows both facts.
* ``from_mapping``: a header mapping (aiohttp/multidict ``getall``, Werkzeug/Starlette
  ``getlist``, Django ``request.headers``, a dict). Every field line the mapping still
  holds is kept; keys are header names, never environ keys.
* ``from_environ``: a WSGI environ (``HTTP_*`` keys). The server already joined duplicates
  with ``,`` (the strict decoders refuse the joined value) and folded or dropped underscore
  spellings, so only the server can refuse those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "HeaderInput",
    "HeaderList",
    "Headers",
    "WSGIHeaders",
    "as_headers",
    "from_environ",
    "from_mapping",
    "from_pairs",
    "values_of",
]


@runtime_checkable
class Headers(Protocol):
    """What the core reads from a request's headers."""

    def get_all(self, name: str) -> list[str]:
        """Every field line's value for ``name`` (case-insensitive), in arrival order."""
        ...

    def has_underscore_alias(self, name: str) -> bool:
        """Whether a field line was named like ``name`` with some ``-`` written as ``_``."""
        ...

    def underscored_names(self) -> frozenset[str]:
        """Lower-cased names of all field lines spelled with ``_``, each ``_`` read as ``-``."""
        ...


def _text(value: Any) -> str:
    # Field values are octets; latin-1 maps each octet to one code point and never fails.
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return str(value)


class HeaderList:
    """Headers from field lines, duplicates and underscore spellings kept."""

    __slots__ = ("_fields", "_underscored")

    def __init__(self, pairs: Iterable[tuple[str | bytes, str | bytes]] = ()) -> None:
        fields: dict[str, list[str]] = {}
        underscored: set[str] = set()
        for raw_name, raw_value in pairs:
            name = _text(raw_name).lower()
            if "_" in name:
                underscored.add(name.replace("_", "-"))
            values = fields.get(name)
            if values is None:
                fields[name] = [_text(raw_value)]
            else:
                values.append(_text(raw_value))
        self._fields = fields
        self._underscored = frozenset(underscored)

    def get_all(self, name: str) -> list[str]:
        return self._fields.get(name.lower(), [])

    def has_underscore_alias(self, name: str) -> bool:
        return name.lower() in self._underscored

    def underscored_names(self) -> frozenset[str]:
        return self._underscored

    def values_of(self, names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
        """Every value of each lower-case name in ``names``, as one hashable snapshot."""
        fields = self._fields
        return tuple([tuple(fields.get(name, ())) for name in names])

    def items(self) -> list[tuple[str, str]]:
        return [(name, value) for name, values in self._fields.items() for value in values]


class WSGIHeaders:
    """Headers from a WSGI environ (``HTTP_*`` keys); see the module docstring."""

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    def get_all(self, name: str) -> list[str]:
        key = "HTTP_" + name.upper().replace("-", "_")
        if key == "HTTP_CONTENT_TYPE" or key == "HTTP_CONTENT_LENGTH":
            key = key[5:]
        value = self._environ.get(key)
        return [] if value is None else [_text(value)]

    def has_underscore_alias(self, name: str) -> bool:
        return False

    def underscored_names(self) -> frozenset[str]:
        return frozenset()


def from_pairs(pairs: Iterable[tuple[str | bytes, str | bytes]]) -> HeaderList:
    """Raw field lines: the most faithful view (ASGI ``scope["headers"]``, h11)."""
    return HeaderList(pairs)


def from_environ(environ: Mapping[str, Any]) -> WSGIHeaders:
    """A WSGI environ, read as one only because the caller says it is one."""
    return WSGIHeaders(environ)


def from_mapping(mapping: Mapping[str, Any]) -> HeaderList:
    """Every field line of a header mapping, whatever its multi-value API.

    ``getall`` (aiohttp's multidict) and ``getlist`` (Werkzeug, Starlette) return every line
    of a name; a value that is a list or tuple (API-gateway ``multiValueHeaders``) counts as
    one line per item. A key spelled twice with different case in a plain dict counts twice.
    """
    getall = getattr(mapping, "getall", None)
    getlist = getattr(mapping, "getlist", None)
    pairs: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for key in mapping.keys():  # noqa: SIM118 - multidicts repeat keys; dedupe below
        name = _text(key)
        if getall is not None or getlist is not None:
            # Dedupe on the exact key: a case-sensitive multidict may hold "client-cert" and
            # "Client-Cert" as two keys; asking for each keeps both lines visible (a
            # case-insensitive one answers both with every line: still a duplicate).
            if name in seen:
                continue
            seen.add(name)
            values = getall(name, []) if getall is not None else getlist(name)  # type: ignore[misc]
        else:
            values = mapping[key]
        if isinstance(values, list | tuple):
            pairs.extend((name, value) for value in values)
        else:
            pairs.append((name, values))
    return HeaderList(pairs)


def values_of(headers: Headers, names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """A hashable snapshot of the values of ``names`` (lower-case), e.g. for a cache key."""
    if type(headers) is HeaderList:
        return headers.values_of(names)
    return tuple([tuple(headers.get_all(name)) for name in names])


HeaderInput = Headers | Mapping[str, Any] | Iterable[tuple[str | bytes, str | bytes]]


def as_headers(source: HeaderInput) -> Headers:
    """A view of ``source`` chosen by its *type* alone: a ``Headers`` view as it is, a mapping
    through ``from_mapping``, anything else as field lines. A WSGI environ must be wrapped
    with ``from_environ`` by the caller: its keys are not header names."""
    if isinstance(source, HeaderList | WSGIHeaders):
        return source
    if isinstance(source, list | tuple):  # before the Protocol check, which is slow
        return HeaderList(source)
    if isinstance(source, Mapping):
        return from_mapping(source)
    if isinstance(source, Headers):
        return source
    return HeaderList(source)
