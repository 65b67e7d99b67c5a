"""The test oracle: ``http-message-signatures`` (and ``http-sf`` under it), an independent
RFC 9421 implementation the envelope's own signature base must agree with byte for byte.

The envelope never imports it; only the tests do, through the message view below.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass

from http_message_signatures import HTTPSignatureAlgorithm, PreparedSignature


class Fields:
    """Field lines in order, read-only, as ``http_message_signatures`` reads them: ``items()``
    keeps repeated lines."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self._pairs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lower = name.lower()
        return any(n.lower() == lower for n, _ in self._pairs)


@dataclass(slots=True)
class Message:
    method: str
    url: str
    headers: Fields


def signature_headers(
    prepared: PreparedSignature, algorithm: HTTPSignatureAlgorithm
) -> list[tuple[str, str]]:
    """Sign a prepared RFC 9421 signature base and serialize the two dictionary fields."""
    signature = base64.b64encode(algorithm.sign(prepared.signature_base)).decode()
    return [
        ("Signature-Input", f"{prepared.label}={prepared.signature_params}"),
        ("Signature", f"{prepared.label}=:{signature}:"),
    ]
