"""Read-only views of a request's header fields that keep what a decoder must see.

A strict decoder needs two facts that a plain ``dict`` loses: how many field lines carried a
name (duplicates are an attack), and whether the client used an underscore spelling
(``Client_Cert``) that some servers fold into the real name. Each view keeps what its source
still knows: a raw list of pairs (ASGI, h11, http.client) knows both, a WSGI environ knows
neither (the server already joined duplicates with ``,`` and may have folded ``_`` into ``-``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable


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


def _text(value: str | bytes) -> str:
    # Field values are octets; latin-1 maps each octet to one code point and never fails.
    return value.decode("latin-1") if isinstance(value, bytes) else value


class HeaderList:
    """Headers from a raw list of ``(name, value)`` pairs, duplicates and spellings kept."""

    __slots__ = ("_fields", "_underscored")

    def __init__(self, pairs: Iterable[tuple[str | bytes, str | bytes]]) -> None:
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
    """Headers from a WSGI environ (``HTTP_*`` keys).

    The server has already merged ``Client-Cert`` and ``Client_Cert`` into one key (or dropped
    the underscore spelling: gunicorn >= 22 by default) and joined duplicates with ``,``. Those
    joined values fail the singleton decoders, which is what we want; underscore spellings can
    only be refused by the server, so run gunicorn with its default ``header_map = drop`` or
    ``refuse``.
    """

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


class MappingHeaders:
    """Headers from a case-insensitive mapping (Flask/Werkzeug, Django ``request.headers``).

    Uses ``getlist`` when the mapping has one (Werkzeug), so duplicates stay visible.
    """

    __slots__ = ("_lower", "_mapping")

    def __init__(self, mapping: Mapping[str, Any]) -> None:
        self._mapping = mapping
        self._lower: dict[str, str] | None = None

    def get_all(self, name: str) -> list[str]:
        getlist = getattr(self._mapping, "getlist", None)
        if getlist is not None:
            return [_text(v) for v in getlist(name)]
        value = self._mapping.get(name)
        if value is None:
            if self._lower is None:
                self._lower = {str(k).lower(): k for k in self._mapping}
            key = self._lower.get(name.lower())
            value = None if key is None else self._mapping[key]
        if value is None:
            return []
        if isinstance(value, list | tuple):
            return [_text(v) for v in value]
        return [_text(value)]

    def has_underscore_alias(self, name: str) -> bool:
        return name.lower() in self.underscored_names()

    def underscored_names(self) -> frozenset[str]:
        return frozenset(str(k).lower().replace("_", "-") for k in self._mapping if "_" in str(k))


def values_of(headers: Headers, names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """A hashable snapshot of the values of ``names`` (lower-case), e.g. for a cache key."""
    if type(headers) is HeaderList:
        return headers.values_of(names)
    return tuple([tuple(headers.get_all(name)) for name in names])


HeaderInput = Headers | Mapping[str, Any] | Iterable[tuple[str | bytes, str | bytes]]


def as_headers(source: HeaderInput) -> Headers:
    """Wrap whatever an adapter has in the matching view."""
    if type(source) in _VIEWS:
        return source  # type: ignore[return-value]
    if isinstance(source, Mapping):
        if any(isinstance(k, str) and k.startswith("HTTP_") for k in source):
            return WSGIHeaders(source)
        return MappingHeaders(source)
    if isinstance(source, Headers):
        return source
    return HeaderList(source)


_VIEWS = (HeaderList, WSGIHeaders, MappingHeaders)
