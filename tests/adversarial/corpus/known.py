"""Crash sites the corpus found and that their owners have not fixed yet.

A *boundary hit* (an exception other than ``VerificationError`` caught by the verifier's
exception boundary) at a site listed here is tolerated by the corpus tests; a hit anywhere
else fails them (a new crash site). Each entry also has a reproducer in
``test_corpus_inprocess.py::test_known_crash_site_is_fixed``, marked ``xfail(strict=True)``:
when the owner fixes the site, that test passes, strict xfail turns it into a failure, and
the entry must be deleted here. So this list can only shrink, and never hides a fix.

Sites are matched on ``file in function`` (not line numbers, which move with every edit).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Known:
    site: str  # "originverify/<file> in <function>" of the innermost project frame
    exception: str
    owner: str
    what: str


#: Boundary hits inside ``Verifier.check`` (the request is refused, with a guessed reason).
BOUNDARY: dict[str, Known] = {}  # every site the corpus found is fixed (see REPRODUCERS)


#: Attributes of an *accepted* ClientIdentity that raise when the application reads them
#: (``"name: ExceptionType"``). None since the names helper refused undecodable leaf names
#: (malformed_certificate) and hardened the SAN readers; an entry here would need an
#: owner, like the crash sites above.
IDENTITY_ATTRIBUTES: frozenset[str] = frozenset()


def known_site(site: str, exception: str) -> str | None:
    """The key of the known crash site a boundary hit belongs to, if any."""
    where = _strip_line(site)
    for key, known in BOUNDARY.items():
        if known.site == where and known.exception == exception:
            return key
    return None


def _strip_line(site: str) -> str:
    path, _, rest = site.partition(":")
    _, _, function = rest.partition(" in ")
    return f"{path} in {function}"
