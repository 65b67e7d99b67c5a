"""Class: validation work that outlives its request, or has no bound.

pyhanko-certvalidator has no work budget, and its coroutine never suspends, so a timed-out
validation used to keep running on the engine's loop thread: a few hostile chains kept a
worker's CPU busy for minutes after their requests were answered (the test suite itself
slowed 30x). Every engine's work is bounded now: these tests drive the hostile shapes
(a same-subject intermediate maze, a name-constraint explosion) through ``certvalidator``
and ``both`` and check the verdict, the time, and that the loop thread is idle afterwards.
They also check that an engine nobody closed does not leave its thread behind.
"""

from __future__ import annotations

import datetime as dt
import gc
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

pytest.importorskip("pyhanko_certvalidator")

from originverify import EdgeSecret, Limits, Reason, Verifier
from originverify.chain import certvalidator
from originverify.devpki import CertificateAuthority
from originverify.formats.sfbinary import serialize_item, serialize_list
from tests.conftest import EDGE_SECRET

NOW = dt.datetime.now(dt.UTC)
START, END = NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30)
ENGINES = ("certvalidator", "both")
LOOP_THREAD = "originverify-certvalidator"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca_cert(
    subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, signer: object, serial: int
) -> x509.Certificate:
    """A CA certificate without key identifiers, so pyhanko cannot prune by AKI/SKI."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    )


def _leaf(issuer: str, signer: object, sans: list[x509.GeneralName]) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("client"))
        .issuer_name(_name(issuer))
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(7)
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), False)
    return builder.sign(signer, hashes.SHA256())  # type: ignore[arg-type]


def _headers(leaf: x509.Certificate, chain: list[x509.Certificate]) -> list[tuple[str, str]]:
    from cryptography.hazmat.primitives.serialization import Encoding

    return [
        ("X-Origin-Verify", EDGE_SECRET),
        ("Client-Cert", serialize_item(leaf.public_bytes(Encoding.DER))),
        ("Client-Cert-Chain", serialize_list([c.public_bytes(Encoding.DER) for c in chain])),
    ]


def _verifier(anchor_pem: bytes, engine: str) -> Verifier:
    return Verifier(
        trust=anchor_pem,
        source=EdgeSecret(secrets=[EDGE_SECRET]),
        engine=engine,  # type: ignore[arg-type]
        cache=None,
        limits=Limits(max_chain_certs=64, max_chain_bytes=1 << 22, max_leaf_bytes=1 << 20),
    )


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == LOOP_THREAD]


def _busy_seconds(threads: list[threading.Thread], over: float) -> float:
    """CPU seconds the given threads burn during ``over`` seconds of wall time."""

    def cpu() -> float:
        total = 0.0
        for thread in threads:
            if thread.ident is None or not thread.is_alive():
                continue
            try:
                total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
            except (OSError, ProcessLookupError):
                continue
        return total

    before = cpu()
    time.sleep(over)
    return cpu() - before


@pytest.fixture(scope="module")
def maze() -> tuple[bytes, x509.Certificate, list[x509.Certificate]]:
    """40 intermediates sharing one subject (and no key identifiers): every one is a
    candidate issuer of every other, so a naive path search has ~40! paths to try."""
    root = CertificateAuthority.root_ca("maze root")
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(40)]
    chain = [
        _ca_cert("ICA", "ICA", keys[i], keys[i - 1] if i else keys[0], i + 2) for i in range(40)
    ]
    return root.pem, _leaf("ICA", keys[-1], []), chain


@pytest.mark.parametrize("engine", ENGINES)
def test_an_intermediate_maze_is_refused_within_the_budget_and_the_work_stops(
    maze: tuple[bytes, x509.Certificate, list[x509.Certificate]], engine: str
) -> None:
    anchor, leaf, chain = maze
    v = _verifier(anchor, engine)
    started = time.monotonic()
    outcome = v.check(_headers(leaf, chain))
    took = time.monotonic() - started
    assert outcome.error is not None
    assert outcome.error.reason in {Reason.INVALID_CERTIFICATE, Reason.UNTRUSTED_CHAIN}
    assert took < certvalidator.WORK_BUDGET + 3, f"took {took:.1f} s"
    # The loop thread is idle once the request is answered: nothing keeps running.
    assert _busy_seconds(_loop_threads(), 0.5) < 0.2


def _constrained_ca(
    count: int,
) -> tuple[CertificateAuthority, ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A root and an intermediate (under it) carrying ``count`` permitted DNS subtrees."""
    root = CertificateAuthority.root_ca("nc root")
    key = ec.generate_private_key(ec.SECP256R1())
    permitted = [x509.DNSName(f"zone{i}.example") for i in range(count)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("nc intermediate"))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(99)
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(
            x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), True
        )
        .sign(root.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return root, key, cert


@pytest.mark.parametrize("engine", ENGINES)
def test_a_name_constraint_explosion_is_refused_before_any_work(engine: str) -> None:
    root, key, inter = _constrained_ca(2100)
    sans: list[x509.GeneralName] = [x509.DNSName(f"h{i}.zone1.example") for i in range(520)]
    leaf = _leaf("nc intermediate", key, sans)
    v = _verifier(root.pem, engine)
    started = time.monotonic()
    outcome = v.check(_headers(leaf, [inter]))
    took = time.monotonic() - started
    assert outcome.error is not None
    # pyca counts its own budget (it accepts this one): under "both" the refusal is then
    # the disagreement, which fails closed all the same.
    allowed = {Reason.NAME_CONSTRAINTS, Reason.ENGINE_DISAGREEMENT if engine == "both" else None}
    assert outcome.error.reason in allowed, outcome.error
    assert took < 2.0, f"took {took:.1f} s"
    assert _busy_seconds(_loop_threads(), 0.3) < 0.2


def test_the_budget_counts_every_candidate_ca_and_every_name() -> None:
    _root, key, inter = _constrained_ca(64)
    leaf = _leaf("nc intermediate", key, [x509.DNSName("a.zone1.example")])
    # 2 names x 64 subtrees: far below the budget, nothing raised.
    certvalidator.check_name_constraint_work(leaf, [inter], 0)
    # Configured anchors and intermediates count too (here: as if 10**6 subtrees).
    with pytest.raises(Exception) as info:
        certvalidator.check_name_constraint_work(leaf, [inter], 10**6)
    assert getattr(info.value, "reason", None) is Reason.NAME_CONSTRAINTS


def test_within_budget_constraints_still_validate_and_match() -> None:
    """The budget is an upper bound on work, not a new rule: ordinary constrained chains
    keep their verdicts (accepted inside the subtree, name_constraints outside)."""
    root, key, inter = _constrained_ca(8)
    inside = _leaf("nc intermediate", key, [x509.DNSName("svc.zone3.example")])
    outside = _leaf("nc intermediate", key, [x509.DNSName("svc.elsewhere.example")])
    for engine in ENGINES:
        v = _verifier(root.pem, engine)
        assert v.check(_headers(inside, [inter])).error is None
        refused = v.check(_headers(outside, [inter])).error
        assert refused is not None and refused.reason is Reason.NAME_CONSTRAINTS, refused


def test_engines_nobody_closed_do_not_leave_threads_behind() -> None:
    root = CertificateAuthority.root_ca("leak root")
    inter = root.intermediate("leak intermediate")
    leaf = inter.issue("leak")
    gc.collect()
    baseline = len(_loop_threads())
    for _ in range(25):
        v = Verifier(
            trust=root.pem,
            source=EdgeSecret(secrets=[EDGE_SECRET]),
            engine="certvalidator",
            cache=None,
        )
        assert v.check(_headers(leaf.cert, list(leaf.intermediates))).error is None
        del v
    gc.collect()
    deadline = time.monotonic() + 5
    while len(_loop_threads()) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_loop_threads()) <= baseline, f"{len(_loop_threads()) - baseline} threads leaked"
