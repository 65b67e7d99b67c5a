"""The Flask extension under Flask's test client: configuration, decorators, modes,
``current_client``, error handlers, signals and header stripping."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask, g, jsonify, request
from flask_originverify import (
    AnonymousClient,
    ClientCertificateError,
    ClientCertificateRefused,
    OriginVerify,
    client_cert_exempt,
    client_cert_optional,
    client_cert_required,
    client_rejected,
    client_verified,
    current_client,
)
from ov_flask_app import create_app
from ovkit import SECRET, Headers, Pki, edge, garbage_cert

from originverify import (
    ClientIdentity,
    ConfigurationError,
    EdgeSecret,
    Mode,
    Reason,
    Rules,
    Verifier,
)

PROTECTED = {"x-origin-verify", "client-cert", "client-cert-chain"}


def get(app: Flask, path: str, headers: Headers, **kwargs: Any) -> tuple[int, Any]:
    response = app.test_client().get(path, headers=headers, **kwargs)
    return response.status_code, response.get_json(silent=True)


# -- the scenario matrix ---------------------------------------------------------------------

CASES = [
    # (mode, path, who, expected status, expected common name)
    ("required", "/whoami", "alice", 200, "alice"),
    ("required", "/whoami", "none", 401, None),
    ("required", "/whoami", "forged", 403, None),
    ("required", "/whoami", "garbage", 400, None),
    ("required", "/whoami", "expired", 403, None),
    ("required", "/whoami", "stranger", 403, None),
    ("required", "/whoami", "wrong-secret", 403, None),
    ("required", "/whoami", "no-secret", 403, None),
    ("required", "/admin", "alice", 200, "alice"),
    ("required", "/admin", "bob", 403, None),
    ("required", "/maybe", "none", 200, None),
    ("required", "/maybe", "expired", 403, None),
    ("required", "/lazy", "none", 200, None),
    ("required", "/lazy", "stranger", 403, None),
    ("optional", "/maybe", "none", 200, None),
    ("optional", "/maybe", "alice", 200, "alice"),
    ("optional", "/maybe", "forged", 403, None),
    ("optional", "/maybe", "no-secret", 403, None),
    ("optional", "/whoami", "none", 401, None),
    ("optional", "/admin", "bob", 403, None),
    ("report_only", "/whoami", "alice", 200, "alice"),
    ("report_only", "/whoami", "expired", 200, None),
    ("report_only", "/whoami", "none", 200, None),
    ("report_only", "/whoami", "wrong-secret", 200, None),
    ("report_only", "/admin", "bob", 200, "bob"),
]


def scenario(pki: Pki, who: str) -> Headers:
    return {
        "alice": lambda: edge(pki.alice),
        "bob": lambda: edge(pki.bob),
        "none": lambda: edge(),
        "forged": lambda: edge(pki.forged),
        "garbage": lambda: edge() + garbage_cert(),
        "expired": lambda: edge(pki.expired),
        "stranger": lambda: edge(pki.stranger),
        "wrong-secret": lambda: edge(pki.alice, secret="x" * 32),
        "no-secret": lambda: edge(pki.alice, secret=None),
    }[who]()


@pytest.mark.parametrize(("mode", "path", "who", "status", "cn"), CASES)
def test_scenarios(env: Pki, mode: str, path: str, who: str, status: int, cn: str | None) -> None:
    code, body = get(create_app(mode), path, scenario(env, who))
    assert code == status
    if status == 200:
        assert body["cn"] == cn
        assert body["authenticated"] is (cn is not None)
        assert body["g"] == cn  # g.client_identity is the same client
        assert not PROTECTED & set(body["seen"])


def test_valid_identity_carries_san_and_spiffe(env: Pki) -> None:
    code, body = get(create_app(), "/admin", edge(env.alice))
    assert code == 200
    assert body["spiffe"] == "spiffe://example.org/admin/alice"


def test_duplicate_client_cert_is_refused(env: Pki) -> None:
    # Werkzeug's test client, like servers, joins repeated fields with ", ".
    headers = edge(env.alice) + [("Client-Cert", edge(env.bob)[1][1])]
    code, _ = get(create_app(), "/whoami", headers)
    assert code == 400


def test_duplicate_edge_secret_is_refused(env: Pki) -> None:
    code, _ = get(create_app(), "/whoami", [*edge(env.alice), ("X-Origin-Verify", SECRET)])
    assert code == 403


def test_underscore_spelling_cannot_add_a_certificate(env: Pki) -> None:
    """The test client folds ``Client_Cert`` into ``HTTP_CLIENT_CERT`` like gunicorn's
    ``header_map=dangerous``: next to a genuine header it makes a joined, refused value.
    (Real gunicorn drops the field: see test_flask_gunicorn.)"""
    headers = [*edge(env.bob), ("Client_Cert", edge(env.alice)[1][1])]
    code, _ = get(create_app("optional"), "/maybe", headers)
    assert code == 400


# -- app-wide mode and exemptions ------------------------------------------------------------


def test_app_wide_protects_undecorated_views(env: Pki) -> None:
    app = create_app(app_wide=True)
    assert get(app, "/lazy", edge())[0] == 401
    assert get(app, "/lazy", edge(env.alice))[1]["cn"] == "alice"
    assert get(app, "/lazy", edge(env.stranger))[0] == 403
    assert app.test_client().get("/").status_code == 200  # exempt: no secret, no cert
    # Decorated views keep their own requirement under app-wide mode.
    assert get(app, "/maybe", edge())[0] == 200
    assert get(app, "/admin", edge(env.bob))[0] == 403


def test_app_wide_in_optional_mode_lets_anonymous_in_but_not_strangers(env: Pki) -> None:
    app = create_app("optional", app_wide=True)
    assert get(app, "/lazy", edge())[1]["authenticated"] is False
    assert get(app, "/lazy", edge(env.expired))[0] == 403
    assert get(app, "/lazy", edge(env.alice, secret=None))[0] == 403


def test_app_wide_verifies_unknown_paths_too(env: Pki) -> None:
    app = create_app(app_wide=True)
    assert get(app, "/no-such-page", edge())[0] == 401
    assert get(app, "/no-such-page", edge(env.alice))[0] == 404


# -- configuration -----------------------------------------------------------------------------


def test_app_factory_form_and_keyword_settings(pki: Pki) -> None:
    ext = OriginVerify(anchors=str(pki.anchors), edge_secrets=[SECRET])
    app = Flask("factory")
    app.config["ORIGINVERIFY_MODE"] = "optional"
    ext.init_app(app, mode="report_only")  # keyword arguments win over app.config

    @app.get("/")
    @client_cert_required
    def index() -> str:
        return str(current_client.common_name)

    assert app.test_client().get("/", headers=edge(pki.stranger)).status_code == 200
    with app.app_context():
        assert ext.verifier.mode is Mode.REPORT_ONLY


def test_one_extension_serves_several_apps(pki: Pki) -> None:
    ext = OriginVerify(anchors=str(pki.anchors), edge_secrets=[SECRET])
    first, second = Flask("first"), Flask("second")
    second.config["ORIGINVERIFY_MODE"] = "optional"
    ext.init_app(first)
    ext.init_app(second)
    with first.app_context():
        assert ext.verifier.mode is Mode.REQUIRED
    with second.app_context():
        assert ext.verifier.mode is Mode.OPTIONAL


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "no trust anchors"),
        ({"ORIGINVERIFY_ANCHOR": "client-ca.pem"}, "ORIGINVERIFY_ANCHOR"),
        ({"ORIGINVERIFY_ANCHORS": "/no/such/file.pem"}, "file.pem"),
        ({"ORIGINVERIFY_ANCHORS": None, "ORIGINVERIFY_MODE": "sometimes"}, "sometimes"),
        ({"ORIGINVERIFY_ANCHORS": None, "ORIGINVERIFY_APP_WIDE": "maybe"}, "APP_WIDE"),
        ({"ORIGINVERIFY_ANCHORS": None, "ORIGINVERIFY_RULES": {"spiffe": ["x"]}}, "unknown rule"),
    ],
)
def test_configuration_errors_are_raised_by_init_app(
    pki: Pki, config: dict[str, Any], message: str
) -> None:
    app = Flask("broken")
    app.config["ORIGINVERIFY_EDGE_SECRETS"] = SECRET
    app.config.update(config)
    if "ORIGINVERIFY_ANCHORS" in config and config["ORIGINVERIFY_ANCHORS"] is None:
        app.config["ORIGINVERIFY_ANCHORS"] = str(pki.anchors)  # valid: the error is elsewhere
    with pytest.raises(ConfigurationError, match=message):
        OriginVerify(app)


def test_no_source_proof_is_a_start_up_error(pki: Pki) -> None:
    app = Flask("no-source")
    app.config["ORIGINVERIFY_ANCHORS"] = str(pki.anchors)
    with pytest.raises(ConfigurationError, match="no source proof"):
        OriginVerify(app)


def test_prebuilt_verifier_excludes_settings(pki: Pki) -> None:
    verifier = Verifier(trust=str(pki.anchors), source=EdgeSecret(secrets=[SECRET]))
    app = Flask("prebuilt")
    OriginVerify(app, verifier=verifier)
    assert app.extensions["originverify"].verifier is verifier
    with pytest.raises(ConfigurationError, match="one or the other"):
        OriginVerify(Flask("both"), verifier=verifier, mode="optional")


def test_init_app_twice_is_refused(env: Pki) -> None:
    app = create_app()
    with pytest.raises(ConfigurationError, match="already initialised"):
        OriginVerify(app)


def test_decorator_rules_are_checked_at_decoration_time() -> None:
    with pytest.raises(ConfigurationError, match="SHA-256"):
        client_cert_required(fingerprints=["not-a-pin"])
    with pytest.raises(ConfigurationError, match="either"):
        client_cert_required(rules=Rules(subjects=("*",)), subjects=["*"])


def test_decorator_accepts_prebuilt_rules_and_pins(env: Pki) -> None:
    app = create_app()
    pin = ClientIdentity(env.alice.cert, (), ()).fingerprint_sha256

    @app.get("/pinned")
    @client_cert_required(fingerprints=[pin])
    def pinned() -> str:
        return "pinned"

    @app.get("/ruled")
    @client_cert_required(rules=Rules(emails=("*@example.org",)))
    def ruled() -> str:
        return "ruled"

    assert get(app, "/pinned", edge(env.alice))[0] == 200
    assert get(app, "/pinned", edge(env.bob))[0] == 403
    assert get(app, "/ruled", edge(env.alice))[0] == 200
    assert get(app, "/ruled", edge(env.bob))[0] == 403


def test_strip_headers_can_be_turned_off(env: Pki) -> None:
    app = create_app(strip_headers=False)
    code, body = get(app, "/whoami", edge(env.alice))
    assert code == 200
    assert {"x-origin-verify", "client-cert"} <= set(body["seen"])


def test_withheld_fields_do_not_show_in_environ_dumps(env: Pki) -> None:
    app = create_app()

    @app.get("/environ")
    @client_cert_required
    def environ() -> str:
        return repr(request.environ)

    body = app.test_client().get("/environ", headers=edge(env.alice)).get_data(as_text=True)
    assert SECRET not in body
    assert "withheld" in body


# -- current_client, g, errors, signals ----------------------------------------------------------


def test_anonymous_client_is_falsy_and_unauthenticated(env: Pki) -> None:
    app = create_app("optional")
    with app.test_request_context("/", headers=edge()):
        assert isinstance(current_client._get_current_object(), AnonymousClient)  # type: ignore[attr-defined]
        assert not current_client
        assert current_client.is_authenticated is False
        assert g.client_identity.common_name is None


def test_current_client_outside_a_decorated_view_verifies_lazily(env: Pki) -> None:
    app = create_app()
    with app.test_request_context("/", headers=edge(env.alice)):
        assert "client_identity" not in g
        assert current_client.common_name == "alice"
        assert isinstance(g.client_identity, ClientIdentity)
    with app.test_request_context("/", headers=edge(env.stranger)):
        with pytest.raises(ClientCertificateRefused) as refused:
            _ = current_client.common_name
        assert refused.value.reason is Reason.UNTRUSTED_CHAIN
        assert refused.value.code == 403


def test_error_handlers_can_reshape_refusals(env: Pki) -> None:
    app = create_app()

    @app.errorhandler(401)
    def unauthorized(error: Exception) -> Any:
        return jsonify(custom="please present a certificate"), 401

    @app.errorhandler(ClientCertificateError)
    def refused(error: ClientCertificateError) -> Any:
        # Error handlers see an anonymous client, not a second refusal.
        assert not current_client
        return jsonify(reason=error.reason.value), error.code

    assert get(app, "/whoami", edge()) == (401, {"custom": "please present a certificate"})
    assert get(app, "/whoami", edge(env.expired)) == (403, {"reason": "expired"})
    assert get(app, "/whoami", edge() + garbage_cert()) == (
        400,
        {"reason": "malformed_certificate"},
    )


def test_default_error_is_json_for_api_clients_text_otherwise(env: Pki) -> None:
    client = create_app().test_client()
    api = client.get("/whoami", headers=[*edge(env.expired), ("Accept", "application/json")])
    assert api.status_code == 403
    assert api.get_json() == {"error": "client certificate rejected", "status": 403}
    assert api.headers["Cache-Control"] == "no-store"
    browser = client.get("/whoami", headers=[*edge(env.expired), ("Accept", "text/html")])
    assert browser.mimetype == "text/plain"
    assert browser.get_data(as_text=True) == "client certificate rejected\n"
    missing = client.get("/whoami", headers=edge())
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'ClientCert realm="originverify"'


def test_signals_report_success_and_failure(env: Pki) -> None:
    app = create_app("report_only")
    seen: list[tuple[str, Any, Any]] = []

    def on_verified(sender: Flask, identity: ClientIdentity) -> None:
        seen.append(("verified", sender, identity.common_name))

    def on_rejected(sender: Flask, error: Any, enforced: bool) -> None:
        seen.append(("rejected", error.reason.value, enforced))

    with client_verified.connected_to(on_verified), client_rejected.connected_to(on_rejected):
        get(app, "/whoami", edge(env.alice))
        get(app, "/admin", edge(env.bob))
        get(app, "/whoami", edge())
    assert seen == [
        ("verified", app, "alice"),
        ("rejected", "rule_denied", False),  # report-only: reported, then let through
        ("verified", app, "bob"),
        ("rejected", "missing_certificate", False),
    ]
    refusals: list[tuple[str, bool]] = []

    def on_enforced(sender: Flask, error: Any, enforced: bool) -> None:
        refusals.append((error.reason.value, enforced))

    with client_rejected.connected_to(on_enforced):
        get(create_app(), "/whoami", edge(env.expired))
    assert refusals == [("expired", True)]


def test_rejections_are_logged_with_detail(env: Pki, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="originverify"):
        get(create_app(), "/admin", edge(env.bob))
        get(create_app("report_only"), "/whoami", edge())
    text = caplog.text
    assert "rejected reason=rule_denied status=403" in text
    assert "SPIFFE ID of 'CN=bob" in text
    assert "would reject (report-only) reason=missing_certificate" in text
    assert SECRET not in text


def test_async_views_are_supported(env: Pki) -> None:
    pytest.importorskip("asgiref", reason="Flask runs async views with asgiref (flask[async])")
    app = create_app()

    @app.get("/async")
    @client_cert_required
    async def async_view() -> str:
        return f"async {current_client.common_name}"

    response = app.test_client().get("/async", headers=edge(env.alice))
    assert response.get_data(as_text=True) == "async alice"
    assert app.test_client().get("/async", headers=edge()).status_code == 401


def test_exempt_view_is_not_refused_but_can_still_read_the_client(env: Pki) -> None:
    app = create_app(app_wide=True)

    @app.get("/open")
    @client_cert_exempt
    def open_view() -> str:
        return str(current_client.common_name)

    client = app.test_client()
    assert client.get("/open", headers=edge()).get_data(as_text=True) == "None"
    assert client.get("/open", headers=edge(env.alice)).get_data(as_text=True) == "alice"
    # Reading the client verifies it (optional semantics): the source proof still counts.
    assert client.get("/open").status_code == 403


def test_optional_decorator_keeps_view_metadata() -> None:
    def view() -> str:
        """Doc."""
        return "x"

    wrapped = client_cert_optional(view)
    assert wrapped.__name__ == "view"
    assert wrapped.__doc__ == "Doc."


ACCOUNTS = {"alice": {"account": "alice", "role": "admin"}}


def account_of(identity: ClientIdentity) -> dict[str, str] | None:
    """A principal mapping: the application's own user record, or None."""
    return ACCOUNTS.get(identity.common_name or "")


@pytest.mark.parametrize("principal", [account_of, f"{__name__}.account_of"])
def test_principal_mapping_hook(env: Pki, principal: Any) -> None:
    from flask_originverify import current_principal

    app = create_app("optional", principal=principal)

    @app.get("/principal")
    def show() -> Any:
        return jsonify(principal=current_principal._get_current_object())

    client = app.test_client()
    assert client.get("/principal", headers=edge(env.alice)).get_json() == {
        "principal": {"account": "alice", "role": "admin"}
    }
    assert client.get("/principal", headers=edge(env.bob)).get_json() == {"principal": None}
    assert client.get("/principal", headers=edge()).get_json() == {"principal": None}


def test_principal_setting_must_be_callable(env: Pki) -> None:
    with pytest.raises(ConfigurationError, match="PRINCIPAL"):
        create_app(principal="no.such.module.mapping")
    with pytest.raises(ConfigurationError, match="PRINCIPAL"):
        create_app(principal=42)
