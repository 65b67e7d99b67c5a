"""One configuration object: every option of a ``Verifier``, each default defined once.

``Verifier(**options)`` and ``build_verifier(settings)`` both resolve their input here, so a
value means the same thing and a mistake raises the same ``ConfigurationError`` whichever
way the verifier was built. Like pyca's ``PolicyBuilder``, a value given twice is refused:
``policy=`` together with any of the policy keywords is an error, not a silent override.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

from .cache import ResultCache
from .chain import Engine, Profile, RevocationChecker, ValidationPolicy
from .errors import ConfigurationError
from .formats import CLOUDFRONT_PASSTHROUGH, CertificateFormat, Limits
from .formats import get as get_format
from .outcome import Mode, Outcome
from .rules import NO_RULES, Rules
from .source import SourceProof
from .trust import CertSource, TrustStore

log = logging.getLogger("originverify")

__all__ = ["POLICY_KEYS", "Config", "Observer", "VerifierOptions", "parse_flag", "resolve"]

#: Called with every outcome (metrics, audit); an observer that raises is logged, not fatal.
Observer = Callable[[Outcome], None]


class VerifierOptions(TypedDict, total=False):
    """The keyword arguments of ``Verifier``; see docs/configuration.md for each."""

    trust: TrustStore | CertSource | None
    source: SourceProof | None
    format: CertificateFormat | str
    mode: Mode | str
    profile: Profile
    require_eku: bool
    clock_skew: timedelta | float
    max_chain_depth: int
    validation_time: datetime | None
    max_rsa_bits: int
    rules: Rules | Mapping[str, Any] | None
    cache: ResultCache | int | None
    cache_max_age: float
    limits: Limits | Mapping[str, int] | None
    trust_edge_verdict: bool
    extra_intermediates: CertSource
    engine: str | Engine
    revocation: RevocationChecker | None
    policy: ValidationPolicy | None
    observers: Sequence[Observer]
    watch_interval: float | None


#: Options that build the ``ValidationPolicy``; refused next to ``policy=``.
POLICY_KEYS = (
    "profile",
    "require_eku",
    "clock_skew",
    "max_chain_depth",
    "validation_time",
    "max_rsa_bits",
)

_DEFAULT_POLICY = ValidationPolicy()
#: Defaults of options that ``Config`` holds in resolved form (a cache, not its size).
CACHE_SIZE = 1024
CACHE_MAX_AGE = 300.0
WATCH_INTERVAL = 5.0


@dataclass(frozen=True, slots=True)
class Config:
    """Resolved options: every default lives here and nowhere else."""

    trust: TrustStore | None
    source: SourceProof
    format: CertificateFormat = CLOUDFRONT_PASSTHROUGH
    mode: Mode = Mode.REQUIRED
    policy: ValidationPolicy = _DEFAULT_POLICY
    rules: Rules = NO_RULES
    cache: ResultCache | None = None
    limits: Limits = field(default_factory=Limits)
    trust_edge_verdict: bool = False
    engine: str | Engine = "cryptography"
    revocation: RevocationChecker | None = None
    observers: tuple[Observer, ...] = ()
    #: Seconds between polls of the files the verifier was built from (anchors, secret
    #: files, ...); ``None`` turns the watcher off. No thread starts without such files.
    watch_interval: float | None = WATCH_INTERVAL


def resolve(options: Mapping[str, Any]) -> Config:
    """A ``Config`` from ``Verifier`` keyword arguments; ``ConfigurationError`` on any mistake."""
    unknown = set(options) - set(VerifierOptions.__annotations__)
    if unknown:
        raise ConfigurationError(f"unknown Verifier option(s): {', '.join(sorted(unknown))}")
    try:
        return _resolve(options)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"invalid Verifier option: {str(exc).strip(chr(39))}") from None


def _resolve(o: Mapping[str, Any]) -> Config:
    source = o.get("source")
    if source is None:
        raise ConfigurationError(
            "no source proof configured: anyone who can reach the origin could paste a "
            "certificate into a header. Pass source=EdgeSecret(...) or "
            "TrustedProxies(...), or explicitly source=InsecureNoSourceProof()"
        )
    if not isinstance(source, SourceProof):
        raise ConfigurationError(f"source must be a SourceProof, not {type(source).__name__}")
    fmt = o.get("format", CLOUDFRONT_PASSTHROUGH)
    if isinstance(fmt, str):
        fmt = get_format(fmt)
    elif not isinstance(fmt, CertificateFormat):
        raise ConfigurationError("format must be a preset name or a CertificateFormat")
    return Config(
        trust=_trust(o),
        source=source,
        format=fmt,
        mode=Mode(o.get("mode", Mode.REQUIRED)),
        policy=_policy(o),
        rules=_rules(o.get("rules")),
        cache=_cache(o.get("cache", CACHE_SIZE), o.get("cache_max_age", CACHE_MAX_AGE)),
        limits=_limits(o.get("limits")),
        trust_edge_verdict=_bool(o.get("trust_edge_verdict", False), "trust_edge_verdict"),
        engine=o.get("engine", "cryptography"),
        revocation=o.get("revocation"),
        observers=tuple(o.get("observers", ())),
        watch_interval=_interval(o.get("watch_interval", WATCH_INTERVAL)),
    )


def _trust(o: Mapping[str, Any]) -> TrustStore | None:
    trust = o.get("trust")
    extra = o.get("extra_intermediates", ())
    if trust is None:
        if not o.get("trust_edge_verdict", False):
            raise ConfigurationError(
                "no trust anchors: pass trust=TrustStore(...) or a PEM path (only "
                "trust_edge_verdict=True may run without anchors)"
            )
        return None
    if isinstance(trust, TrustStore):
        if extra:
            raise ConfigurationError(
                "extra_intermediates= given with a TrustStore: pass them to the TrustStore"
            )
        return trust
    return TrustStore(trust, extra)


def _policy(o: Mapping[str, Any]) -> ValidationPolicy:
    policy = o.get("policy")
    given = [key for key in POLICY_KEYS if key in o]
    if policy is not None:
        if given:
            raise ConfigurationError(
                f"policy= given together with {', '.join(given)}: set them on the "
                "ValidationPolicy instead (a value set twice is refused)"
            )
        if not isinstance(policy, ValidationPolicy):
            raise ConfigurationError("policy must be a ValidationPolicy")
        return policy
    skew = o.get("clock_skew", 0)
    if not isinstance(skew, timedelta):
        skew = timedelta(seconds=float(skew))
    return ValidationPolicy(
        profile=o.get("profile", _DEFAULT_POLICY.profile),
        require_eku=_bool(o.get("require_eku", _DEFAULT_POLICY.require_eku), "require_eku"),
        clock_skew=skew,
        max_chain_depth=_int(o.get("max_chain_depth", _DEFAULT_POLICY.max_chain_depth)),
        validation_time=o.get("validation_time"),
        max_rsa_bits=_int(o.get("max_rsa_bits", _DEFAULT_POLICY.max_rsa_bits)),
    )


def _rules(rules: Any) -> Rules:
    if rules is None:
        return NO_RULES
    if isinstance(rules, Rules):
        return rules
    if isinstance(rules, Mapping):
        return Rules.from_mapping({str(k).lower(): v for k, v in rules.items()})
    raise ConfigurationError("rules must be a Rules object or a mapping")


def _cache(cache: Any, max_age: Any) -> ResultCache | None:
    if cache is None or isinstance(cache, ResultCache):
        return cache
    size = _int(cache)
    if size < 0:
        raise ConfigurationError(f"cache size must be 0 (off) or positive, not {size}")
    return ResultCache(size, float(max_age)) if size else None


def _limits(limits: Any) -> Limits:
    if limits is None:
        return Limits()
    if isinstance(limits, Limits):
        return limits
    if isinstance(limits, Mapping):
        return Limits(**{str(k).lower(): _int(v) for k, v in limits.items()})
    raise ConfigurationError("limits must be a Limits object or a mapping")


def _interval(value: Any) -> float | None:
    if value is None or value == 0:
        return None
    seconds = float(value)
    if not seconds > 0:
        raise ConfigurationError(f"watch_interval must be positive seconds or None, not {value!r}")
    return seconds


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise ConfigurationError(f"expected an integer, not {value!r}")
    number = int(value)
    if number != float(value):
        raise ConfigurationError(f"expected an integer, not {value!r}")
    return number


def parse_flag(value: Any, key: str) -> bool:
    """A boolean from a settings file or an environment variable. Strict: ``"false"``,
    ``"0"``, ``"no"``, ``"off"`` and ``""`` are False (a truthiness test would read them as
    True, and these flags switch security checks on and off); anything unclear is an error."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"setting {key!r} must be a boolean, not {value!r}")


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}")
    return value


def warn_about(config: Config) -> None:
    """Start-up warnings for configurations that are legal but rarely what is meant."""
    fmt = config.format
    if not fmt.forwards_certificate:
        log.warning(
            "originverify: format %s forwards no certificate (metadata only): every "
            "request is anonymous; required mode refuses all of them",
            fmt.name,
        )
    if config.trust_edge_verdict and not fmt.edge_validates:
        log.warning(
            "originverify: trust_edge_verdict with format %s, which does not validate at "
            "the edge by itself; only requests whose edge claims verified=true pass",
            fmt.name,
        )


def checks_of(config: Config, engine: Engine | None) -> tuple[str, ...]:
    """What a verified identity was established by (``ClientIdentity.checks``)."""
    checks = [f"source:{config.source.label}", f"format:{config.format.name}"]
    if engine is None:
        checks.append("edge_verdict")
    else:
        checks.append(f"chain:{config.policy.profile}:{engine.name}")
        checks.append("eku:clientAuth" + (" required" if config.policy.require_eku else ""))
    if config.revocation is not None:
        mode = getattr(config.revocation, "mode", None)
        scope = getattr(config.revocation, "scope", None)
        checks.append(":".join(str(p) for p in ("revocation", mode, scope) if p))
    if not config.rules.empty:
        checks.append("rules")
    return tuple(checks)
