"""Build a ``Verifier`` from plain settings (Flask ``app.config``, Django ``ORIGINVERIFY``).

One parser for every framework, so a key means the same thing everywhere and a mistake is
reported the same way, at start-up. Keys are case-insensitive; unknown keys are errors
(a typo in a security setting must not pass silently).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .chain import RevocationChecker
from .config import parse_flag
from .errors import ConfigurationError
from .signatures import SETTINGS_KEYS as SIGNATURE_SETTINGS
from .source import (
    AllOf,
    EdgeSecret,
    InsecureNoSourceProof,
    SourceProof,
    TrustedProxies,
)
from .verifier import Verifier

#: Every accepted key, with what it takes. Documented in docs/configuration.md.
KEYS: dict[str, str] = {
    "format": "preset name or a CertificateFormat (default 'cloudfront-passthrough')",
    "anchors": "trust anchors: PEM/DER file, directory, bytes, or a list of those",
    "extra_intermediates": "intermediates for edges that forward only the leaf",
    "edge_secret_header": "header carrying the edge secret (default X-Origin-Verify)",
    "edge_secrets": "accepted edge secret(s): a string or a list (rotation)",
    "edge_secrets_env": "environment variable holding the secret(s), comma separated",
    "edge_secrets_file": "file holding the secret(s), one per line",
    "trusted_proxies": "CIDRs the edge connects from",
    "source": "a SourceProof object (overrides the keys above)",
    "insecure_no_source_proof": "True to run without any source proof (never in production)",
    "profile": "'private' (default) or 'webpki'",
    "mode": "'required' (default), 'optional' or 'report_only'",
    "require_eku": "leaf must carry an EKU allowing clientAuth (default False)",
    "clock_skew": "seconds of clock skew tolerated on validity periods (default 0)",
    "max_chain_depth": "maximum intermediates between leaf and anchor (default 5)",
    "max_rsa_bits": "largest RSA key accepted in forwarded certificates (default 4096)",
    "cache_size": "verified results kept (default 1024, 0 disables the cache)",
    "cache_max_age": "seconds a cached result may live at most (default 300)",
    "rules": "mapping of allow-lists: subjects, common_names, dns_names, uris, emails, "
    "spiffe_ids, issuers, fingerprints",
    "limits": "mapping: max_leaf_bytes, max_chain_bytes, max_chain_certs, max_metadata_bytes",
    "trust_edge_verdict": "trust the edge's validation instead of re-validating "
    "(opt-in, default False)",
    "engine": "'cryptography' (default), 'certvalidator' or 'both' (must agree)",
    "revocation": "'off' (default), 'soft' or 'hard' (unknown status refused)",
    "revocation_scope": "'leaf' (default) or 'chain'",
    "crl_files": "CRL files or directories (PEM/DER), reloaded in the background",
    "crl_urls": "CRL URLs fetched in the background",
    "crl_signers": "certificates (files/PEM) that may sign CRLs besides the issuer: a CA's "
    "new certificate after a key rollover, a dedicated CRL signer",
    "crl_distribution_points": "also fetch the CRL distribution points certificates name",
    "ocsp": "ask the AIA OCSP responder when no current CRL answers",
    "ocsp_timeout": "seconds an OCSP query may take on the request path",
    "crl_refresh_interval": "longest time between CRL refreshes, in seconds",
    "metrics": "'prometheus' to count outcomes and time verifications (extra 'metrics'), "
    "or 'off' (default)",
    "watch_interval": "seconds between checks of the files the verifier reads (anchors, "
    "secret files) for changes; 0 turns watching off (default 5)",
    "tracing": "True to record an OpenTelemetry span per verification (extra 'otel')",
    **SIGNATURE_SETTINGS,
}
#: Any of these turns the signed envelope (RFC 9421) on as a source proof.
SIGNATURE_KEYS = ("signature_keys", "signature_key_files", "signature_key_env")


def normalize(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Lower-case keys, strip ``prefix`` (``ORIGINVERIFY_``), refuse unknown keys."""
    out: dict[str, Any] = {}
    for raw_key, value in settings.items():
        key = str(raw_key)
        if prefix:
            if not key.upper().startswith(prefix.upper()):
                continue
            key = key[len(prefix) :]
        key = key.lower()
        if key not in KEYS:
            hint = f"{prefix}{key.upper()}" if prefix else key
            raise ConfigurationError(
                f"unknown originverify setting {hint!r}; known: {', '.join(sorted(KEYS))}"
            )
        out[key] = value
    return out


def build_source(settings: Mapping[str, Any]) -> SourceProof | None:
    """The source proof the settings describe; several mechanisms must all hold."""
    if settings.get("source") is not None:
        source = settings["source"]
        if not isinstance(source, SourceProof):
            raise ConfigurationError("'source' must be a SourceProof instance")
        return source
    header = settings.get("edge_secret_header", "X-Origin-Verify")
    proofs: list[SourceProof] = []
    secrets = settings.get("edge_secrets")
    if secrets:
        proofs.append(
            EdgeSecret(header, [secrets] if isinstance(secrets, str | bytes) else secrets)
        )
    elif settings.get("edge_secrets_env"):
        proofs.append(EdgeSecret.from_env(settings["edge_secrets_env"], header))
    elif settings.get("edge_secrets_file"):
        proofs.append(EdgeSecret.from_file(settings["edge_secrets_file"], header))
    if settings.get("trusted_proxies"):
        nets = settings["trusted_proxies"]
        proofs.append(TrustedProxies([nets] if isinstance(nets, str) else nets))
    if any(settings.get(key) for key in SIGNATURE_KEYS):
        from .signatures import from_settings as envelope_from_settings

        envelope = envelope_from_settings(settings)
        if envelope is not None:
            proofs.append(envelope)
    if proofs:
        if _flag(settings.get("insecure_no_source_proof"), "insecure_no_source_proof"):
            raise ConfigurationError("insecure_no_source_proof set together with a source proof")
        return proofs[0] if len(proofs) == 1 else AllOf(*proofs)
    if _flag(settings.get("insecure_no_source_proof"), "insecure_no_source_proof"):
        return InsecureNoSourceProof()
    return None


def _flag(value: Any, key: str) -> bool:
    return parse_flag(value, key)


def _revocation(settings: Mapping[str, Any]) -> RevocationChecker | None:
    if str(settings.get("revocation", "off") or "off").lower() == "off":
        return None
    from .revocation import Revocation

    return Revocation.from_settings(settings)


def _observers(settings: Mapping[str, Any]) -> list[Any]:
    observers: list[Any] = []
    metrics = str(settings.get("metrics") or "off").lower()
    if metrics == "prometheus":
        try:
            from .metrics import PrometheusMetrics

            observers.append(PrometheusMetrics.default())
        except ImportError:
            raise ConfigurationError(
                "metrics='prometheus' needs prometheus_client: pip install 'originverify[metrics]'"
            ) from None
    elif metrics != "off":
        raise ConfigurationError(f"metrics must be 'prometheus' or 'off', not {metrics!r}")
    if _flag(settings.get("tracing", False), "tracing"):
        try:
            from .metrics import OpenTelemetrySpans

            observers.append(OpenTelemetrySpans())
        except ImportError:
            raise ConfigurationError(
                "tracing needs opentelemetry-api: pip install 'originverify[otel]'"
            ) from None
    return observers


#: Settings keys that are ``Verifier`` options under the same name.
_SAME_NAME = (
    "mode",
    "profile",
    "clock_skew",
    "max_chain_depth",
    "max_rsa_bits",
    "rules",
    "cache_max_age",
    "limits",
    "engine",
    "watch_interval",
)


def build_verifier(settings: Mapping[str, Any], prefix: str = "") -> Verifier:
    """A ``Verifier`` from a settings mapping; raises ``ConfigurationError`` on any mistake.

    Only the keys present are passed on: every default is ``Verifier``'s own (config.py).
    """
    s = normalize(settings, prefix)
    options: dict[str, Any] = {key: s[key] for key in _SAME_NAME if key in s}
    for key in ("require_eku", "trust_edge_verdict"):
        if key in s:
            options[key] = _flag(s[key], key)
    if s.get("anchors") is not None:
        options["trust"] = s["anchors"]
        options["extra_intermediates"] = s.get("extra_intermediates") or ()
    elif not options.get("trust_edge_verdict"):
        raise ConfigurationError("no trust anchors configured (set 'anchors')")
    if "format" in s:
        options["format"] = s["format"]
    if "cache_size" in s:
        options["cache"] = s["cache_size"]
    options["observers"] = _observers(s)
    options["source"] = build_source(s)
    options["revocation"] = _revocation(s)
    return Verifier(**options)
