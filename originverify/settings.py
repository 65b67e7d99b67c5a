"""Build a ``Verifier`` from plain settings (Flask ``app.config``, Django ``ORIGINVERIFY``).

One parser for every framework, so a key means the same thing everywhere and a mistake is
reported the same way, at start-up. Keys are case-insensitive; unknown keys are errors
(a typo in a security setting must not pass silently).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from .cache import ResultCache
from .envelope import SETTINGS_KEYS as SIGNATURE_SETTINGS
from .errors import ConfigurationError
from .formats import CertificateFormat, Limits
from .rules import Rules
from .source import (
    AllOf,
    EdgeSecret,
    InsecureNoSourceProof,
    SourceProof,
    TrustedProxies,
)
from .trust import TrustStore
from .verifier import Verifier
from .verify import RevocationChecker

#: Every accepted key, with what it takes. Documented in docs/configuration.md.
KEYS: dict[str, str] = {
    "format": "preset name (e.g. 'cloudfront-passthrough') or a CertificateFormat",
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
    "require_eku": "leaf must carry an EKU allowing clientAuth",
    "clock_skew": "seconds of clock skew tolerated on validity periods",
    "max_chain_depth": "maximum intermediates between leaf and anchor",
    "max_rsa_bits": "largest RSA key accepted in forwarded certificates",
    "cache_size": "verified results kept (0 disables the cache)",
    "cache_max_age": "seconds a cached result may live at most",
    "rules": "mapping of allow-lists: subjects, common_names, dns_names, uris, emails, "
    "spiffe_ids, issuers, fingerprints",
    "limits": "mapping: max_leaf_bytes, max_chain_bytes, max_chain_certs, max_metadata_bytes",
    "trust_edge_verdict": "trust the edge's validation instead of re-validating (opt-in)",
    "engine": "'cryptography' (default), 'certvalidator' or 'both' (must agree)",
    "revocation": "'off' (default), 'soft' or 'hard' (unknown status refused)",
    "revocation_scope": "'leaf' (default) or 'chain'",
    "crl_files": "CRL files or directories (PEM/DER), reloaded in the background",
    "crl_urls": "CRL URLs fetched in the background",
    "crl_distribution_points": "also fetch the CRL distribution points certificates name",
    "ocsp": "ask the AIA OCSP responder when no current CRL answers",
    "ocsp_timeout": "seconds an OCSP query may take on the request path",
    "crl_refresh_interval": "longest time between CRL refreshes, in seconds",
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
        from .envelope import from_settings as envelope_from_settings

        envelope = envelope_from_settings(settings)
        if envelope is not None:
            proofs.append(envelope)
    if proofs:
        if settings.get("insecure_no_source_proof"):
            raise ConfigurationError("insecure_no_source_proof set together with a source proof")
        return proofs[0] if len(proofs) == 1 else AllOf(*proofs)
    if settings.get("insecure_no_source_proof"):
        return InsecureNoSourceProof()
    return None


def _lower_keys(value: Any) -> Any:
    """``RULES``/``LIMITS`` written in upper case (Django style) mean the same."""
    if isinstance(value, Mapping):
        return {str(k).lower(): v for k, v in value.items()}
    return value


def _revocation(settings: Mapping[str, Any]) -> RevocationChecker | None:
    if str(settings.get("revocation", "off") or "off").lower() == "off":
        return None
    from .revocation import Revocation

    return Revocation.from_settings(settings)


def build_verifier(settings: Mapping[str, Any], prefix: str = "") -> Verifier:
    """A ``Verifier`` from a settings mapping; raises ``ConfigurationError`` on any mistake."""
    s = normalize(settings, prefix)
    if "anchors" not in s and not s.get("trust_edge_verdict"):
        raise ConfigurationError("no trust anchors configured (set 'anchors')")
    trust = (
        TrustStore(s["anchors"], s.get("extra_intermediates") or ())
        if s.get("anchors") is not None
        else None
    )
    fmt = s.get("format", "cloudfront-passthrough")
    if not isinstance(fmt, str | CertificateFormat):
        raise ConfigurationError("'format' must be a preset name or a CertificateFormat")
    cache_size = int(s.get("cache_size", 1024))
    cache = ResultCache(cache_size, float(s.get("cache_max_age", 300))) if cache_size else None
    rules = _lower_keys(s.get("rules"))
    limits = _lower_keys(s.get("limits"))
    try:
        return Verifier(
            trust=trust,
            source=build_source(s),
            format=fmt,
            mode=s.get("mode", "required"),
            profile=s.get("profile", "private"),
            require_eku=bool(s.get("require_eku", False)),
            clock_skew=timedelta(seconds=float(s.get("clock_skew", 0))),
            max_chain_depth=int(s.get("max_chain_depth", 5)),
            max_rsa_bits=int(s.get("max_rsa_bits", 4096)),
            rules=Rules.from_mapping(rules) if isinstance(rules, Mapping) else rules,
            cache=cache,
            limits=Limits(**limits) if isinstance(limits, Mapping) else limits,
            trust_edge_verdict=bool(s.get("trust_edge_verdict", False)),
            engine=s.get("engine", "cryptography"),
            revocation=_revocation(s),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid originverify setting: {exc}") from None
