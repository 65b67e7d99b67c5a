"""Source proof: the request must come through the edge before any header is trusted."""

from __future__ import annotations

import pytest

from originverify import (
    AllOf,
    AnyOf,
    ConfigurationError,
    EdgeSecret,
    HeaderList,
    Reason,
    RequestContext,
    TrustedProxies,
    VerificationError,
)

OLD, NEW = "old-secret-0123456789abcdef", "new-secret-0123456789abcdef"


def ctx(pairs: list[tuple[str, str]], peer: str | None = "10.0.0.5") -> RequestContext:
    return RequestContext(HeaderList(pairs), peer)


def reason(proof: EdgeSecret | TrustedProxies | AllOf | AnyOf, request: RequestContext) -> Reason:
    with pytest.raises(VerificationError) as info:
        proof.check(request)
    return info.value.reason


def test_secret_accepted_and_rotation_window() -> None:
    proof = EdgeSecret(secrets=[OLD, NEW])
    assert "#1" in proof.check(ctx([("X-Origin-Verify", OLD)]))
    assert "#2" in proof.check(ctx([("x-origin-verify", NEW)]))


def test_wrong_and_missing_secret() -> None:
    proof = EdgeSecret(secrets=[NEW])
    assert reason(proof, ctx([("X-Origin-Verify", OLD)])) is Reason.EDGE_SECRET_MISMATCH
    assert reason(proof, ctx([])) is Reason.EDGE_SECRET_MISSING
    assert reason(proof, ctx([("X-Origin-Verify", NEW[:-1])])) is Reason.EDGE_SECRET_MISMATCH


def test_duplicate_or_underscore_secret_header() -> None:
    proof = EdgeSecret(secrets=[NEW])
    dup = ctx([("X-Origin-Verify", NEW), ("X-Origin-Verify", NEW)])
    assert reason(proof, dup) is Reason.DUPLICATE_HEADER
    alias = ctx([("X-Origin-Verify", NEW), ("X_Origin_Verify", NEW)])
    assert reason(proof, alias) is Reason.AMBIGUOUS_HEADER_NAME


def test_secret_never_in_repr_or_error() -> None:
    proof = EdgeSecret(secrets=[NEW])
    assert NEW not in repr(proof)
    with pytest.raises(VerificationError) as info:
        proof.check(ctx([("X-Origin-Verify", OLD)]))
    assert OLD not in str(info.value) and NEW not in str(info.value)


def test_short_or_empty_secrets_refused() -> None:
    with pytest.raises(ConfigurationError):
        EdgeSecret(secrets=[])
    with pytest.raises(ConfigurationError, match="16 characters"):
        EdgeSecret(secrets=["short"])


def test_secret_from_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    monkeypatch.setenv("EDGE_SECRETS", f"{OLD},{NEW}")
    assert "#2" in EdgeSecret.from_env("EDGE_SECRETS").check(ctx([("X-Origin-Verify", NEW)]))
    path = Path(str(tmp_path)) / "secret"
    path.write_text(f"{NEW}\n")
    assert EdgeSecret.from_file(path).check(ctx([("X-Origin-Verify", NEW)]))
    with pytest.raises(ConfigurationError):
        EdgeSecret.from_env("NOT_SET_ANYWHERE")
    with pytest.raises(ConfigurationError):
        EdgeSecret.from_file(Path(str(tmp_path)) / "missing")


def test_trusted_proxies() -> None:
    proof = TrustedProxies(["10.0.0.0/8", "2001:db8::/32"])
    assert "10.0.0.5" in proof.check(ctx([], "10.0.0.5"))
    assert proof.check(ctx([], "::ffff:10.1.2.3"))
    assert proof.check(ctx([], "2001:db8::1"))
    assert reason(proof, ctx([], "192.0.2.1")) is Reason.PROXY_NOT_TRUSTED
    assert reason(proof, ctx([], None)) is Reason.PROXY_NOT_TRUSTED
    assert reason(proof, ctx([], "not-an-ip")) is Reason.PROXY_NOT_TRUSTED
    with pytest.raises(ConfigurationError):
        TrustedProxies(["10.0.0.0/33"])


def test_all_of_and_any_of() -> None:
    both = AllOf(TrustedProxies(["10.0.0.0/8"]), EdgeSecret(secrets=[NEW]))
    assert both.check(ctx([("X-Origin-Verify", NEW)], "10.0.0.1"))
    assert reason(both, ctx([("X-Origin-Verify", NEW)], "192.0.2.1")) is Reason.PROXY_NOT_TRUSTED
    assert reason(both, ctx([], "10.0.0.1")) is Reason.EDGE_SECRET_MISSING
    either = AnyOf(TrustedProxies(["10.0.0.0/8"]), EdgeSecret(secrets=[NEW]))
    assert either.check(ctx([("X-Origin-Verify", NEW)], "192.0.2.1"))
    assert either.check(ctx([], "10.0.0.1"))
    assert reason(either, ctx([], "192.0.2.1")) is Reason.PROXY_NOT_TRUSTED
    assert both.header_names == ("X-Origin-Verify",)
