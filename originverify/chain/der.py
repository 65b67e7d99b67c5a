"""The few raw fields of a certificate the fast path compares byte for byte.

pyca's verifier compares names, algorithm identifiers and serials as encoded, not as parsed
values; reading them straight from the DER is exact and costs a few µs, where going
through ``x509.Name`` and re-encoding would cost more and could normalise. Only DER that
pyca already parsed is walked here, so the walker is strict and small: anything unexpected
returns ``None`` and the caller falls back to the full engine.
"""

from __future__ import annotations

from typing import NamedTuple

VERSION_3 = b"\xa0\x03\x02\x01\x02"
UTC_TIME, GENERALIZED_TIME = 0x17, 0x18


class CertFields(NamedTuple):
    """Raw pieces of one certificate (full TLVs unless noted)."""

    tbs: bytes  # what the signature covers
    signature_algorithm: bytes  # outer AlgorithmIdentifier
    tbs_signature_algorithm: bytes  # the one inside tbsCertificate
    signature: bytes  # BIT STRING content without the unused-bits byte
    version_3: bool
    serial: bytes  # INTEGER content
    issuer: bytes
    not_before: tuple[int, bytes]  # (tag, content)
    not_after: tuple[int, bytes]
    subject: bytes


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """``(tag, content start, content end)`` of the element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 3:
            raise ValueError("length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("truncated")
    return tag, pos, end


def cert_fields(der: bytes) -> CertFields | None:
    """The fields, or ``None`` when the DER is not a plain v1/v3 certificate."""
    try:
        return _fields(der)
    except (ValueError, IndexError):
        return None


def _fields(der: bytes) -> CertFields | None:
    tag, pos, end = _tlv(der, 0)
    if tag != 0x30 or end != len(der):
        return None
    tbs_tag, tbs_start, tbs_end = _tlv(der, pos)
    _, _, alg_end = _tlv(der, tbs_end)
    sig_tag, sig_start, sig_end = _tlv(der, alg_end)
    if tbs_tag != 0x30 or sig_tag != 0x03 or sig_end != end or der[sig_start] != 0:
        return None
    cursor = tbs_start
    version_3 = der[cursor] == 0xA0
    if version_3:
        _, _, cursor_end = _tlv(der, cursor)
        version_3 = der[cursor:cursor_end] == VERSION_3
        cursor = cursor_end
    elements = []
    for _ in range(6):  # serial, signature, issuer, validity, subject, spki
        element = _tlv(der, cursor)
        elements.append((cursor, element))
        cursor = element[2]
    if cursor > tbs_end:
        return None
    (_, serial), (alg_at, alg), (issuer_at, issuer), (_, validity), (subject_at, subject) = (
        elements[:5]
    )
    if serial[0] != 0x02 or validity[0] != 0x30:
        return None
    _, nb_start, nb_end = nb = _tlv(der, validity[1])
    _, na_start, na_end = na = _tlv(der, nb_end)
    return CertFields(
        tbs=der[pos:tbs_end],
        signature_algorithm=der[tbs_end:alg_end],
        tbs_signature_algorithm=der[alg_at : alg[2]],
        signature=der[sig_start + 1 : sig_end],
        version_3=version_3,
        serial=der[serial[1] : serial[2]],
        issuer=der[issuer_at : issuer[2]],
        not_before=(nb[0], der[nb_start:nb_end]),
        not_after=(na[0], der[na_start:na_end]),
        subject=der[subject_at : subject[2]],
    )
