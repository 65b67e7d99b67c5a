"""Chain validation: the policy, the leaf profile every engine shares, and the engines.

Rooms: ``policy`` (ValidationPolicy, profiles, pyca extension policies), ``leaf`` (the leaf
profile, run once before any engine), ``keys`` (key caps), ``clock`` (validation time and
clock skew), ``engine`` (protocols and path-level checks), ``pyca`` (the default engine),
``certvalidator`` (pyhanko-certvalidator, optional extra), ``both`` (must agree).
"""

from __future__ import annotations

from ..errors import ConfigurationError
from ..trust import TrustStore
from .engine import Engine, RevocationChecker
from .keys import check_key
from .leaf import check_presented
from .policy import PROFILES, Profile, ValidationPolicy
from .pyca import CryptographyEngine

__all__ = [
    "ENGINES",
    "PROFILES",
    "CryptographyEngine",
    "Engine",
    "Profile",
    "RevocationChecker",
    "ValidationPolicy",
    "build_engine",
    "check_key",
    "check_presented",
]

ENGINES = ("cryptography", "certvalidator", "both")


def build_engine(choice: str | Engine, trust: TrustStore, policy: ValidationPolicy) -> Engine:
    """The engine named by ``choice`` (or ``choice`` itself when it is an engine)."""
    if not isinstance(choice, str):
        return choice
    if choice == "cryptography":
        return CryptographyEngine(trust, policy)
    if choice in ("certvalidator", "both"):
        try:
            from .both import BothEngines
            from .certvalidator import CertvalidatorEngine
        except ImportError as exc:
            raise ConfigurationError(
                f"engine={choice!r} needs the 'certvalidator' extra "
                "(pip install 'originverify[certvalidator]')"
            ) from exc
        second = CertvalidatorEngine(trust, policy)
        if choice == "certvalidator":
            return second
        return BothEngines(CryptographyEngine(trust, policy), second)
    raise ConfigurationError(f"engine must be one of {ENGINES}, not {choice!r}")
