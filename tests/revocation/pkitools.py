"""Real CRLs, OCSP responses and a real local HTTP server to serve them.

Everything is produced with cryptography's builders and signed by the test CAs, and served
over TCP on 127.0.0.1 by the standard library's ``ThreadingHTTPServer``: the code under test
fetches with ``urllib`` exactly as in production.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from originverify.devpki import (
    CLIENT_AUTH,
    CertificateAuthority,
    Issued,
    PrivateKey,
    _hash_for,
    _leaf_key_usage,
    _name,
    new_key,
)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


# -- CRLs ---------------------------------------------------------------------------------


def make_crl(
    ca: CertificateAuthority,
    revoked: Iterable[int] = (),
    *,
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
    no_next_update: bool = False,
    signing_key: PrivateKey | None = None,
    issuer_name: x509.Name | None = None,
    number: int | None = 1,
    aki: bool = True,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    entries: Sequence[x509.RevokedCertificate] = (),
) -> x509.CertificateRevocationList:
    """A CRL from ``ca`` (or forged: another ``signing_key`` or ``issuer_name``);
    ``entries`` adds prepared entries (see ``entry``) after the plain ``revoked`` serials."""
    this_update = this_update or NOW - HOUR
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=issuer_name or ca.cert.subject,
        last_update=this_update,
        next_update=None if no_next_update else (next_update or NOW + DAY),
        revoked_certificates=[
            *(entry(serial) for serial in revoked),
            *entries,
        ],
    )
    key = signing_key or ca.key
    if aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(key, _hash_for(key))  # type: ignore[arg-type]


def entry(
    serial: int,
    reason: x509.ReasonFlags | None = None,
    certificate_issuer: x509.Name | None = None,
) -> x509.RevokedCertificate:
    """A CRL entry, with a reason code and/or a certificateIssuer (indirect CRLs)."""
    builder = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW - DAY)
    if reason is not None:
        builder = builder.add_extension(x509.CRLReason(reason), critical=False)
    if certificate_issuer is not None:
        builder = builder.add_extension(
            x509.CertificateIssuer([x509.DirectoryName(certificate_issuer)]), critical=True
        )
    return builder.build()


def idp(
    names: Sequence[x509.GeneralName] | None = None,
    *,
    relative: x509.RelativeDistinguishedName | None = None,
    only_user: bool = False,
    only_ca: bool = False,
    only_attr: bool = False,
    reasons: frozenset[x509.ReasonFlags] | None = None,
    indirect: bool = False,
) -> tuple[x509.IssuingDistributionPoint, bool]:
    """An issuingDistributionPoint extension (critical), for ``make_crl(extensions=[...])``."""
    return (
        x509.IssuingDistributionPoint(
            full_name=list(names) if names is not None else None,
            relative_name=relative,
            only_contains_user_certs=only_user,
            only_contains_ca_certs=only_ca,
            only_some_reasons=reasons,
            indirect_crl=indirect,
            only_contains_attribute_certs=only_attr,
        ),
        True,
    )


def delta(base: int) -> tuple[x509.DeltaCRLIndicator, bool]:
    return x509.DeltaCRLIndicator(base), True


def point(
    names: Sequence[x509.GeneralName] | None = None,
    *,
    relative: x509.RelativeDistinguishedName | None = None,
    reasons: frozenset[x509.ReasonFlags] | None = None,
    crl_issuer: x509.Name | None = None,
) -> x509.DistributionPoint:
    """One CRL distribution point for ``issue(points=[...])``."""
    return x509.DistributionPoint(
        list(names) if names is not None else None,
        relative,
        reasons,
        [x509.DirectoryName(crl_issuer)] if crl_issuer is not None else None,
    )


def crl_signer(
    ca: CertificateAuthority,
    subject: x509.Name | str = "crl signer",
    *,
    crl_sign: bool = True,
) -> Issued:
    """A dedicated CRL-signing certificate issued by ``ca`` (not a CA; keyUsage cRLSign)."""
    key = new_key("ec")
    name = _name(subject) if isinstance(subject, str) else subject
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not crl_sign,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=crl_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca.key, _hash_for(ca.key))  # type: ignore[arg-type]
    )
    return Issued(cert, key, ca._presented(), ca.root)


def pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def der(obj: x509.CertificateRevocationList | ocsp.OCSPResponse) -> bytes:
    return obj.public_bytes(serialization.Encoding.DER)


# -- certificates with CRLDP / AIA --------------------------------------------------------


def issue(
    ca: CertificateAuthority,
    common_name: str = "device",
    *,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
    eku: Sequence[x509.ObjectIdentifier] | None = (CLIENT_AUTH,),
    is_ca: bool = False,
    points: Sequence[x509.DistributionPoint] | None = None,
    serial: int | None = None,
) -> Issued:
    """A leaf (or, ``is_ca``, a key-holding CA cert) whose extensions name a CRL
    distribution point and/or an OCSP responder."""
    key = new_key("ec")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),  # type: ignore[arg-type]
            False,
        )
        .add_extension(_leaf_key_usage(key), critical=True)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if points is not None:
        builder = builder.add_extension(x509.CRLDistributionPoints(list(points)), critical=False)
    if crl_url:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(crl_url)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                    )
                ]
            ),
            critical=False,
        )
    cert = builder.sign(ca.key, _hash_for(ca.key))  # type: ignore[arg-type]
    return Issued(cert, key, ca._presented(), ca.root)


def ocsp_responder_cert(
    ca: CertificateAuthority, *, eku: Sequence[x509.ObjectIdentifier] | None = None
) -> Issued:
    """A delegated OCSP responder certificate (OCSP-signing EKU unless ``eku`` says else)."""
    return issue(
        ca,
        "ocsp responder",
        eku=(ExtendedKeyUsageOID.OCSP_SIGNING,) if eku is None else eku,
    )


# -- OCSP ---------------------------------------------------------------------------------


def make_ocsp(
    cert: x509.Certificate,
    issuer: CertificateAuthority,
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
    *,
    responder: Issued | None = None,
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
    no_next_update: bool = False,
    serial_for: x509.Certificate | None = None,
    forged_by: CertificateAuthority | None = None,
) -> ocsp.OCSPResponse:
    """A signed OCSP response about ``cert`` (or about ``serial_for``, to mismatch).

    ``forged_by``: a CA with the issuer's name but another key signs it, naming itself
    (hence, by name, the issuer) as the responder.
    """
    this_update = this_update or NOW - HOUR
    revoked = status is ocsp.OCSPCertStatus.REVOKED
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=serial_for or cert,
        issuer=issuer.cert,
        algorithm=hashes.SHA1(),
        cert_status=status,
        this_update=this_update,
        next_update=None if no_next_update else (next_update or NOW + DAY),
        revocation_time=this_update - HOUR if revoked else None,
        revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
    )
    if responder is not None:
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder.cert)
        builder = builder.certificates([responder.cert])
        key = responder.key
    elif forged_by is not None:
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.NAME, forged_by.cert)
        key = forged_by.key
    else:
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.NAME, issuer.cert)
        key = issuer.key
    return builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]


# -- the HTTP server ----------------------------------------------------------------------

Route = bytes | Callable[[bytes], bytes]


@dataclass
class Served:
    """What a path answers: a body (or a function of the request body), a delay, a status."""

    body: Route
    delay: float = 0.0
    status: int = 200
    content_type: str = "application/octet-stream"


@dataclass
class RevocationServer:
    """A real HTTP server on 127.0.0.1; ``routes`` can be changed while it runs."""

    routes: dict[str, Served] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def serve(self, path: str, body: Route, **kwargs: float | int | str) -> str:
        self.routes[path] = Served(body, **kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def start(self) -> RevocationServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: bytes) -> None:
                owner.hits[self.path] += 1
                served = owner.routes.get(self.path)
                if served is None:
                    self.send_error(404)
                    return
                if served.delay:
                    time.sleep(served.delay)
                payload = served.body(body) if callable(served.body) else served.body
                try:
                    self.send_response(served.status)
                    self.send_header("Content-Type", served.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def do_GET(self) -> None:
                self._answer(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(length))

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.server = server
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def dead_url(path: str = "/down") -> str:
    """A URL on a port nothing listens on: connection refused, immediately."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def ocsp_serial(request_body: bytes) -> int:
    """The serial number an OCSP request asks about."""
    return ocsp.load_der_ocsp_request(request_body).serial_number
