"""The two signature fields, ``Signature-Input`` and ``Signature``, reduced to our one label:
covered components ``(name, bs)``, parameters of the right types, the signature bytes.

Shape errors are ``signature_invalid`` (``signature_coverage`` for component parameters); a
missing label is ``signature_missing``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Reason, VerificationError
from .constants import LABEL, MAX_COMPONENTS, MAX_NONCE
from .sfv import (
    Params,
    StructuredFieldError,
    fast_components,
    fast_input,
    fast_signature,
    parse_dictionary,
)

_PARAMETERS = frozenset({"created", "expires", "keyid", "nonce", "alg", "tag"})
_USUAL_TYPES = {"created": int, "keyid": str, "alg": str, "expires": int, "nonce": str, "tag": str}


@dataclass(slots=True)
class Parsed:
    """One signature, reduced to our label: components (name, bs) and parameters."""

    components: list[tuple[str, bool]]
    params: Params
    signature: bytes
    #: The inner list as received when it is already canonical (the fast path), else None.
    params_value: str | None = None


def parse_fields(signature_input: str, signature: str) -> Parsed:
    """Both dictionaries, reduced to our one label; shape errors are ``signature_invalid``.

    A canonical single-member pair (what signers write) takes one regular expression each;
    anything else goes through the full structured-field parser."""
    fast = fast_input(signature_input)
    value = fast_signature(signature)
    if fast is not None and value is not None and fast[0] == LABEL and value[0] == LABEL:
        _, inner, params, serialized = fast
        return Parsed(_shape(inner), _params(params), value[1], serialized)
    parsed: list[dict[str, tuple[object, Params]]] = []
    for name, text in (("Signature-Input", signature_input), ("Signature", signature)):
        try:
            parsed.append(parse_dictionary(text))
        except StructuredFieldError as exc:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"malformed {name}: {exc}"[:200]
            ) from None
    inputs, values = parsed
    if LABEL not in inputs or LABEL not in values:
        labels = ", ".join(sorted(set(inputs) | set(values)))[:100]
        raise VerificationError(
            Reason.SIGNATURE_MISSING, f"no {LABEL!r} signature (labels: {labels})"
        )
    if len(inputs) != 1 or len(values) != 1:
        others = ", ".join(sorted((set(inputs) | set(values)) - {LABEL}))[:100]
        raise VerificationError(Reason.SIGNATURE_INVALID, f"unexpected signature labels: {others}")
    items, params = inputs[LABEL]
    raw, raw_params = values[LABEL]
    if not isinstance(items, list) or type(raw) is not bytes or raw_params:
        raise VerificationError(
            Reason.SIGNATURE_INVALID, "Signature-Input or Signature has the wrong shape"
        )
    return Parsed(_components(_component_items(items)), _params(params), raw)


def _component_items(items: list[tuple[object, Params]]) -> list[tuple[str, bool]]:
    """``(name, bs)`` of parsed inner-list items: strings, whole or ``;bs`` only."""
    if len(items) > MAX_COMPONENTS:
        raise VerificationError(Reason.SIGNATURE_INVALID, f"more than {MAX_COMPONENTS} components")
    out: list[tuple[str, bool]] = []
    for name, component_params in items:
        if type(name) is not str:
            raise VerificationError(Reason.SIGNATURE_INVALID, "a covered component is not a string")
        # Whole components only; ``bs`` (each field line as a byte sequence) is how the
        # signer covers values that are not visible ASCII, and still covers every byte.
        if component_params and component_params != {"bs": True}:
            raise VerificationError(
                Reason.SIGNATURE_COVERAGE,
                f"component {name[:40]!r} has parameters; only whole components count",
            )
        out.append((name, bool(component_params)))
    return out


_SHAPES: dict[str, list[tuple[str, bool]]] = {}
_MAX_SHAPES = 256


def _shape(inner: str) -> list[tuple[str, bool]]:
    """The checked components of a canonical inner list. An edge covers the same few header
    sets on every request, so the result is remembered (at most 256 lists of at most 4 KB:
    bounded whatever clients send; a list that fails the check is never remembered)."""
    components = _SHAPES.get(inner)
    if components is None:
        components = _components(fast_components(inner))
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        _SHAPES[inner] = components
    return components


def _components(components: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    if len(components) > MAX_COMPONENTS:
        raise VerificationError(Reason.SIGNATURE_INVALID, f"more than {MAX_COMPONENTS} components")
    seen: set[str] = set()
    for name, bs in components:
        if bs and name.startswith("@"):
            raise VerificationError(
                Reason.SIGNATURE_COVERAGE,
                f"component {name[:40]!r} has parameters; only whole components count",
            )
        if name in seen:
            raise VerificationError(Reason.SIGNATURE_INVALID, f"{name[:40]!r} covered twice")
        seen.add(name)
    return components


def _params(params: Params) -> Params:
    if len(params) == 6 and _USUAL_TYPES == {k: type(v) for k, v in params.items()}:
        nonce = params["nonce"]
        assert isinstance(nonce, str)
        if not 0 < len(nonce) <= MAX_NONCE:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"nonce must be 1-{MAX_NONCE} characters"
            )
        return params
    for param, value in params.items():
        if param not in _PARAMETERS:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"unknown signature parameter {param[:32]!r}"
            )
        wanted: type = int if param in ("created", "expires") else str
        if type(value) is not wanted:
            raise VerificationError(
                Reason.SIGNATURE_INVALID, f"parameter {param} has the wrong type"
            )
    nonce = params.get("nonce")
    if isinstance(nonce, str) and not 0 < len(nonce) <= MAX_NONCE:
        raise VerificationError(Reason.SIGNATURE_INVALID, f"nonce must be 1-{MAX_NONCE} characters")
    return params
