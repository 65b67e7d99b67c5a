"""``build_verifier``: the settings parser every framework adapter shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from originverify import AllOf, ConfigurationError, EdgeSecret, Mode, build_verifier
from tests.conftest import EDGE_SECRET, PKI, passthrough_headers


def test_flask_style_prefixed_settings(pki: PKI, tmp_path: Path) -> None:
    anchors = tmp_path / "ca.pem"
    anchors.write_bytes(pki.root.pem)
    config = {
        "ORIGINVERIFY_ANCHORS": str(anchors),
        "ORIGINVERIFY_EDGE_SECRETS": [EDGE_SECRET],
        "ORIGINVERIFY_MODE": "optional",
        "ORIGINVERIFY_RULES": {"emails": ["*@example.com"]},
        "SECRET_KEY": "not ours",
    }
    verifier = build_verifier(config, prefix="ORIGINVERIFY_")
    assert verifier.mode is Mode.OPTIONAL
    assert verifier.verify_request(passthrough_headers(pki.leaf)) is not None


def test_django_style_dict_with_proxies_and_secret(
    pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SECRET", EDGE_SECRET)
    verifier = build_verifier(
        {
            "anchors": pki.root.pem,
            "edge_secrets_env": "MY_SECRET",
            "trusted_proxies": ["10.0.0.0/8"],
            "limits": {"max_chain_certs": 2},
            "cache_size": 0,
            "profile": "webpki",
        }
    )
    assert isinstance(verifier.source, AllOf)
    assert verifier.cache is None and verifier.limits.max_chain_certs == 2
    assert verifier.policy.profile == "webpki"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"edge_secrets": EDGE_SECRET}, "no trust anchors"),
        ({"anchors": "/nonexistent/ca.pem", "edge_secrets": EDGE_SECRET}, "cannot read"),
        ({"anchors": b"not a cert", "edge_secrets": EDGE_SECRET}, "not a usable certificate"),
        ({"anchor": "x"}, r"unknown originverify setting"),
        ({"anchors": "PKI", "edge_secrets": EDGE_SECRET, "profile": "lax"}, "profile"),
        ({"anchors": "PKI"}, "no source proof"),
        ({"anchors": "PKI", "edge_secrets": EDGE_SECRET, "limits": {"max_leaf": 1}}, "invalid"),
        (
            {"anchors": "PKI", "edge_secrets": EDGE_SECRET, "insecure_no_source_proof": True},
            "together",
        ),
    ],
)
def test_mistakes_are_reported_at_start_up(
    pki: PKI, settings: dict[str, object], message: str
) -> None:
    resolved = {k: (pki.root.pem if v == "PKI" else v) for k, v in settings.items()}
    with pytest.raises(ConfigurationError, match=message):
        build_verifier(resolved)


def test_anchor_directory(pki: PKI, tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_bytes(pki.root.pem)
    (tmp_path / "README").write_text("ignored")
    verifier = build_verifier({"anchors": tmp_path, "source": EdgeSecret(secrets=[EDGE_SECRET])})
    assert verifier.trust is not None and len(verifier.trust.anchors) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match=r"no \.pem"):
        build_verifier({"anchors": empty, "source": EdgeSecret(secrets=[EDGE_SECRET])})
