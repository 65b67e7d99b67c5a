"""Throwaway PKIs for the demo, the tests and the benchmarks. Never for production.

Built on ``cryptography`` alone (a core dependency), so ``originverify demo`` works without
the test extras. Every knob a test needs to make a hostile or unusual certificate is here:
key type and size, validity window, EKU (absent, critical, wrong), SAN (absent, critical),
AKI (absent), path length, name constraints.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["ec", "rsa", "ed25519", "p384"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH

_NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DEFAULT_NOT_BEFORE = _NOW - dt.timedelta(days=1)
DEFAULT_NOT_AFTER = _NOW + dt.timedelta(days=365)


def new_key(key_type: KeyType = "ec", rsa_bits: int = 2048) -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP384R1() if key_type == "p384" else ec.SECP256R1())


def _hash_for(key: PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _name(common_name: str, organization: str | None = "originverify test") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Issued:
    """A leaf with its key and the certificates a client would present with it."""

    cert: x509.Certificate
    key: PrivateKey
    intermediates: tuple[x509.Certificate, ...]  # TLS order: issuer first, root excluded
    root: x509.Certificate

    @property
    def der(self) -> bytes:
        return cert_der(self.cert)

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        return tuple(cert_der(c) for c in self.intermediates)

    def write(self, directory: Path, stem: str) -> dict[str, Path]:
        """``<stem>.pem`` (leaf + intermediates), ``<stem>.key``; for curl and the edge."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = {"cert": directory / f"{stem}.pem", "key": directory / f"{stem}.key"}
        paths["cert"].write_bytes(b"".join(cert_pem(c) for c in (self.cert, *self.intermediates)))
        paths["key"].write_bytes(key_pem(self.key))
        paths["key"].chmod(0o600)
        return paths


@dataclass
class CertificateAuthority:
    """A CA that can issue intermediates, client certificates and server certificates."""

    cert: x509.Certificate
    key: PrivateKey
    parents: tuple[x509.Certificate, ...] = field(default=())  # issuer first, root last

    @property
    def root(self) -> x509.Certificate:
        return self.parents[-1] if self.parents else self.cert

    @property
    def pem(self) -> bytes:
        return cert_pem(self.cert)

    @classmethod
    def root_ca(
        cls,
        name: str = "originverify test root",
        *,
        key_type: KeyType = "ec",
        rsa_bits: int = 2048,
        not_before: dt.datetime = DEFAULT_NOT_BEFORE,
        not_after: dt.datetime = DEFAULT_NOT_AFTER + dt.timedelta(days=3650),
        path_length: int | None = None,
        permitted_dns: Sequence[str] = (),
        excluded_dns: Sequence[str] = (),
    ) -> CertificateAuthority:
        key = new_key(key_type, rsa_bits)
        subject = _name(name)
        builder = _ca_builder(
            subject,
            subject,
            key,
            key,
            not_before,
            not_after,
            path_length,
            None,
            permitted_dns,
            excluded_dns,
        )
        return cls(builder.sign(key, _hash_for(key)), key)

    def intermediate(
        self,
        name: str = "originverify test intermediate",
        *,
        key_type: KeyType = "ec",
        rsa_bits: int = 2048,
        not_before: dt.datetime = DEFAULT_NOT_BEFORE,
        not_after: dt.datetime = DEFAULT_NOT_AFTER + dt.timedelta(days=1825),
        path_length: int | None = None,
        eku: Sequence[x509.ObjectIdentifier] | None = None,
        permitted_dns: Sequence[str] = (),
        excluded_dns: Sequence[str] = (),
        subject: x509.Name | None = None,
    ) -> CertificateAuthority:
        key = new_key(key_type, rsa_bits)
        builder = _ca_builder(
            subject or _name(name),
            self.cert.subject,
            key,
            self.key,
            not_before,
            not_after,
            path_length,
            eku,
            permitted_dns,
            excluded_dns,
        )
        cert = builder.sign(self.key, _hash_for(self.key))
        return CertificateAuthority(cert, key, (self.cert, *self.parents))

    def issue(
        self,
        common_name: str | None = "client",
        *,
        dns: Sequence[str] = (),
        uris: Sequence[str] = (),
        emails: Sequence[str] = (),
        ips: Sequence[str] = (),
        eku: Sequence[x509.ObjectIdentifier] | None = (CLIENT_AUTH,),
        eku_critical: bool = False,
        san_critical: bool = False,
        aki: bool = True,
        key_type: KeyType = "ec",
        rsa_bits: int = 2048,
        key: PrivateKey | None = None,
        not_before: dt.datetime = DEFAULT_NOT_BEFORE,
        not_after: dt.datetime = DEFAULT_NOT_AFTER,
        serial: int | None = None,
        is_ca: bool = False,
    ) -> Issued:
        """A leaf; with no SAN arguments it is CN-only, as many private CAs issue them."""
        key = key or new_key(key_type, rsa_bits)
        subject = _name(common_name) if common_name else x509.Name([])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial if serial is not None else x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        if aki:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        if not is_ca:
            builder = builder.add_extension(_leaf_key_usage(key), critical=True)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=eku_critical)
        names: list[x509.GeneralName] = [
            *(x509.DNSName(d) for d in dns),
            *(x509.UniformResourceIdentifier(u) for u in uris),
            *(x509.RFC822Name(e) for e in emails),
            *(x509.IPAddress(ipaddress.ip_address(i)) for i in ips),
        ]
        if names:
            critical = san_critical or not common_name
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=critical)
        cert = builder.sign(self.key, _hash_for(self.key))
        return Issued(cert, key, self._presented(), self.root)

    def _presented(self) -> tuple[x509.Certificate, ...]:
        # A leaf from this CA is presented with this CA (if it is not the root) and every
        # intermediate above it, root excluded.
        if not self.parents:
            return ()
        return (self.cert, *self.parents[:-1])

    def issue_server(self, *hostnames: str, key_type: KeyType = "ec") -> Issued:
        return self.issue(
            hostnames[0] if hostnames else "localhost",
            dns=[h for h in hostnames if not _is_ip(h)] or ["localhost"],
            ips=[h for h in hostnames if _is_ip(h)],
            eku=(SERVER_AUTH,),
            key_type=key_type,
        )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _leaf_key_usage(key: PrivateKey) -> x509.KeyUsage:
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=is_rsa,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    path_length: int | None,
    eku: Sequence[x509.ObjectIdentifier] | None,
    permitted_dns: Sequence[str],
    excluded_dns: Sequence[str],
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if permitted_dns or excluded_dns:
        builder = builder.add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(d) for d in permitted_dns] or None,
                excluded_subtrees=[x509.DNSName(d) for d in excluded_dns] or None,
            ),
            critical=True,
        )
    return builder
