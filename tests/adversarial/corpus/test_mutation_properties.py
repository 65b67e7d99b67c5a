"""Hypothesis over DER mutations of certificates our own PKI issues: one to three named field
mutations, then a random edit of any node of the tree (new tag, new primitive value, a node
duplicated or deleted), re-signed by the real issuer or not, placed as the leaf or as the
intermediate. The properties are the corpus's, for inputs no list anticipated:

* nothing but ``VerificationError`` leaves ``verify_request``;
* a certificate whose signature was not renewed is never accepted (a mutation that keeps
  the bytes identical excepted);
* no boundary hit outside the known crash sites, no accepted identity with an attribute
  that raises beyond the known one.
"""

from __future__ import annotations

import contextlib
import warnings
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from originverify.devpki import cert_pem
from tests.adversarial.corpus import der as tlv
from tests.adversarial.corpus.harness import ACCEPTED, REFUSED, request_headers, run, verifier
from tests.adversarial.corpus.items import MutantPki
from tests.adversarial.corpus.known import IDENTITY_ATTRIBUTES, known_site
from tests.adversarial.corpus.mutations import FIELD_MUTATIONS

EDITS = ("tag", "value", "duplicate", "delete", "none")


@cache
def _pki() -> MutantPki:
    return MutantPki.create()


@cache
def _verifier(engine: str):  # type: ignore[no-untyped-def]
    return verifier("cloudfront-passthrough", cert_pem(_pki().root.cert), engine=engine)


def _edit(cert: tlv.Cert, index: int, edit: str, tag: int, payload: bytes) -> None:
    """Apply one random edit to the ``index``-th node (depth first) of the TBS."""
    nodes = list(cert.tbs.walk())
    path, node = nodes[index % len(nodes)]
    if edit == "tag":
        node.tag = tag
        if node.constructed and not node.children:
            node.children = []
        elif not node.constructed and node.children:
            node.value, node.children = b"".join(c.encode() for c in node.children), []
    elif edit == "value" and not node.constructed:
        node.value = payload
    elif edit in ("duplicate", "delete") and path:
        parent = cert.tbs.at(path[:-1])
        if edit == "duplicate":
            parent.children.insert(path[-1], node.copy())
        else:
            del parent.children[path[-1]]


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, bytes, tuple[bytes, ...], bool, bool]:
    """``(description, leaf DER, chain DERs, re-signed, bytes unchanged)``."""
    pki = _pki()
    role = draw(st.sampled_from(("leaf", "chain")))
    original = pki.leaf.der if role == "leaf" else pki.intermediate_der
    cert = tlv.Cert.parse(original)
    names = draw(st.lists(st.sampled_from(sorted(FIELD_MUTATIONS)), min_size=0, max_size=3))
    for name in names:
        with contextlib.suppress(tlv.DERError, StopIteration, IndexError):
            FIELD_MUTATIONS[name](cert)
    edit = draw(st.sampled_from(EDITS))
    index = draw(st.integers(0, 200))
    tag = draw(st.integers(0, 255))
    payload = draw(st.binary(max_size=24))
    if edit != "none":
        _edit(cert, index, edit, tag, payload)
    resign = draw(st.booleans())
    key = pki.intermediate.key if role == "leaf" else pki.root.key
    der = tlv.resign(cert, key) if resign else cert.encode()
    unchanged = cert.tbs.encode() == tlv.Cert.parse(original).tbs.encode()
    description = f"{role} {names} {edit}@{index} tag={tag:#x} {payload!r} resign={resign}"
    if role == "leaf":
        return description, der, (pki.intermediate_der,), resign, unchanged
    return description, pki.leaf.der, (der,), resign, unchanged


def _check(engine: str, case: tuple[str, bytes, tuple[bytes, ...], bool, bool]) -> None:
    description, leaf, chain, resigned, unchanged = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = run(_verifier(engine), request_headers("cloudfront-passthrough", leaf, chain))
    assert verdict.escaped is None, f"{description}: {verdict.escaped}"
    allowed = {r.value for r in REFUSED}
    if resigned or unchanged:
        allowed.add(ACCEPTED)
    assert verdict.outcome in allowed, f"{description}: {verdict.outcome}"
    new = [str(h) for h in verdict.hits if known_site(h.site, h.exception) is None]
    assert not new, f"{description}: new crash site {new}"
    assert set(verdict.unreadable) <= IDENTITY_ATTRIBUTES, f"{description}: {verdict.unreadable}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_mutants_through_the_default_engine(
    case: tuple[str, bytes, tuple[bytes, ...], bool, bool],
) -> None:
    _check("cryptography", case)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_mutants_through_both_engines(
    case: tuple[str, bytes, tuple[bytes, ...], bool, bool],
) -> None:
    _check("both", case)
