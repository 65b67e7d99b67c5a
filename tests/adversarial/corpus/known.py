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
BOUNDARY: dict[str, Known] = {
    "invalid-version": Known(
        "originverify/stages.py in parse_forwarded",
        "InvalidVersion",
        "lead (stages.py)",
        "x509.InvalidVersion is not a ValueError: a version other than v1/v3 escapes the "
        "parse stage's except clause (refused as malformed_certificate only by the boundary)",
    ),
    "validity-detail-rfc4514": Known(
        "originverify/verify.py in check_validity",
        "ValueError",
        "chain (verify.py)",
        "an expired/not-yet-valid leaf whose subject cannot be decoded (invalid UTF-8 CN, "
        "long-form attribute) raises from rfc4514_string() while the detail is formatted",
    ),
    "engine-san-ip-length": Known(
        "originverify/verify.py in _verify",
        "ValueError",
        "chain (verify.py)",
        "pyca's verifier raises ValueError (not VerificationError) for a leaf whose SAN "
        "iPAddress entry is 5 bytes long, or whose CN is invalid UTF-8 (signed by our CA)",
    ),
    "engine-san-unsupported-type": Known(
        "originverify/verify.py in _verify",
        "UnsupportedGeneralNameType",
        "chain (verify.py)",
        "pyca's verifier raises UnsupportedGeneralNameType for an x400Address in a leaf's SAN",
    ),
    "name-constraints-invalid-ip": Known(
        "originverify/verify.py in _name_constraints_facts",
        "TypeError",
        "chain (verify.py)",
        "a CA on a validated path whose nameConstraints hold an invalid iPAddress subtree "
        "(limbo rfc5280::nc::invalid-ipv4-address, re-issued under our root): "
        "get_extension_for_class raises TypeError, the except clause has ValueError only",
    ),
    "certvalidator-dn-bitstring": Known(
        "originverify/engines.py in _validate",
        "TypeError",
        "chain (engines.py)",
        "pyhanko-certvalidator's path building feeds a DN attribute encoded as BIT STRING "
        "(scottishpower-bitstring-dn.pem, presented as an extra intermediate) to re.sub",
    ),
    "certvalidator-key-usage-bits": Known(
        "originverify/engines.py in _check_leaf_usage",
        "ValueError",
        "chain (engines.py)",
        "asn1crypto raises ValueError reading a keyUsage BIT STRING with 8 unused bits",
    ),
    "certvalidator-key-usage-empty": Known(
        "originverify/engines.py in _check_leaf_usage",
        "IndexError",
        "chain (engines.py)",
        "asn1crypto raises IndexError reading an empty keyUsage BIT STRING (leaf)",
    ),
    "certvalidator-ca-key-usage-empty": Known(
        "originverify/engines.py in _validate",
        "IndexError",
        "chain (engines.py)",
        "the same empty keyUsage BIT STRING on a CA certificate, inside path validation",
    ),
    "certvalidator-unknown-key": Known(
        "originverify/engines.py in _validate",
        "UnsupportedAlgorithm",
        "chain (engines.py)",
        "an intermediate (signed by our root) whose key is on an unknown curve or of an "
        "unknown algorithm: pyhanko-certvalidator raises UnsupportedAlgorithm checking the "
        "leaf's signature",
    ),
    "both-disagreement-detail": Known(
        "originverify/engines.py in validate",
        "ValueError",
        "chain (engines.py)",
        "engine='both': the disagreement detail renders an undecodable subject "
        "(rfc4514_string) while the engines disagree on it",
    ),
}


#: Attributes of an *accepted* ClientIdentity that raise when the application reads them.
IDENTITY = Known(
    "originverify/identity.py in ClientIdentity.subject/common_name",
    "ValueError",
    "names (identity.py)",
    "a leaf the CA signed with an undecodable subject (invalid UTF-8 or Latin-1 bytes in a "
    "UTF8String/IA5String/TeletexString CN, an unknown string tag, a non-string value, an "
    "empty RDN) is accepted; reading subject, common_name, as_dict() or repr() raises",
)
IDENTITY_ATTRIBUTES = frozenset(
    f"{name}: ValueError" for name in ("subject", "common_name", "as_dict()", "repr()")
) | frozenset(
    # engine="certvalidator" accepts a leaf whose SAN holds an invalid IP name (its
    # nameConstraints-style iPAddress): _read_sans catches ValueError, cryptography raises
    # TypeError.
    f"{name}: TypeError"
    for name in ("dns_names", "uris", "emails", "ip_addresses", "spiffe_id", "as_dict()")
)


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
