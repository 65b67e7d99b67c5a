"""What ``originverify check`` says to fix, for the two mistakes that look alike otherwise.

* An untrusted chain: walk up from the leaf through what was forwarded and the extra
  intermediates, and say where the walk stops: a missing intermediate (its issuer's name), a
  self-signed top that is not among the anchors, or an anchor with the right name and the
  wrong key; with the anchors that were loaded.
* No certificate under the chosen format: decode the request with every other preset and
  name those that find one (the request never chooses its format in production; here a
  person reads the suggestion).

Diagnosis only: nothing here decides a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from .errors import VerificationError
from .formats import PRESETS, Limits
from .headers import HeaderList

_MAX_WALK = 16


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):  # not its issuer, or not verifiable
        return False
    return True


def _anchor_list(anchors: Sequence[x509.Certificate]) -> str:
    names = [_name(a) for a in anchors[:8]]
    more = f" and {len(anchors) - 8} more" if len(anchors) > 8 else ""
    return "; ".join(names) + more


def chain_diagnosis(
    presented: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    extra_intermediates: Sequence[x509.Certificate] = (),
) -> list[str]:
    """Lines that say why no path reaches the anchors; empty when one does (then the
    refusal is about something else: validity, usage, constraints)."""
    if not presented:
        return []
    pool = [*presented[1:], *extra_intermediates]
    current, walked = presented[0], [presented[0]]
    for _ in range(_MAX_WALK):
        if any(_signed_by(current, anchor) for anchor in anchors):
            return []
        namesakes = [a for a in anchors if a.subject == current.issuer]
        if namesakes:
            return [
                f"an anchor named {_name(namesakes[0])} is loaded, but it did not sign "
                f"{_name(current)}: the anchor file holds another key under that name "
                "(an old or re-keyed CA); load the CA certificate that issued it"
            ]
        issuer = next((c for c in pool if c not in walked and _signed_by(current, c)), None)
        if issuer is None:
            break
        current = issuer
        walked.append(issuer)
    loaded = f"anchors loaded: {_anchor_list(anchors)}"
    issuer_name = current.issuer.rfc4514_string() or "(empty issuer)"
    if current.subject == current.issuer and _signed_by(current, current):
        return [
            f"wrong anchor: the top of the chain, {_name(current)} (self-signed), is not among "
            f"the anchors; {loaded}",
            "fix: put that root in the anchors if it is your client CA; otherwise the client's "
            "certificate comes from a CA this origin does not trust",
        ]
    if len(walked) > 1:
        return [
            f"wrong anchor (likely): the forwarded chain climbs to {_name(current)}, issued by "
            f"{issuer_name}, which is not among the anchors; {loaded}",
            f"fix: add the certificate of {issuer_name} to the anchors if it is your client "
            "root; if it is another intermediate, forward it or pass --extra-intermediates",
        ]
    return [
        f"missing intermediate (likely): the leaf's issuer {issuer_name} was not forwarded, "
        f"is not among the extra intermediates, and is not an anchor; {loaded}",
        "fix: have the edge forward the intermediates (or pass --extra-intermediates / the "
        f"extra_intermediates setting); if {issuer_name} is your root, add it to the anchors",
    ]


def other_formats(headers: HeaderList, current: str) -> list[tuple[str, list[str]]]:
    """Presets other than ``current`` that find a client certificate in these headers, with
    the header names they read that are present."""
    present = {name.lower() for name, _ in headers.items()}
    found = []
    for name, fmt in PRESETS.items():
        if name == current or not fmt.forwards_certificate:
            continue
        try:
            decoded = fmt.decode(headers, Limits())
        except (VerificationError, ValueError):
            continue
        if decoded.leaf is not None:
            names = [h for h in fmt.header_names if h.lower() in present]
            found.append((name, names))
    return found
