"""The example folders are complete: a README per edge that names its preset and every
placeholder, links from the docs, and configs that render with nothing left over."""

from __future__ import annotations

from pathlib import Path

import pytest

from originverify import formats
from tests.edges_e2e.conftest import EDGES, EdgeSpec, template_values
from tests.edges_e2e.kit import EXAMPLES, REPO, placeholders, render

TEMPLATES = {
    "nginx": ("edge.conf", "edge-secret.conf.example", "standalone.conf"),
    "haproxy": ("haproxy.cfg",),
    "caddy": ("Caddyfile",),
    "apache": ("edge-vhost.conf", "standalone.conf"),
}


@pytest.mark.parametrize("spec", EDGES, ids=[e.name for e in EDGES])
def test_readme_names_preset_placeholders_and_limits(spec: EdgeSpec) -> None:
    readme = (EXAMPLES / spec.name / "README.md").read_text()
    assert f"| Origin preset | `{spec.preset}`" in readme
    assert formats.get(spec.preset).name == spec.preset
    assert "## What it does" in readme and "## What it cannot do" in readme
    used = set().union(*(placeholders(EXAMPLES / spec.name / f) for f in TEMPLATES[spec.name]))
    undocumented = sorted(p for p in used if "{{" + p + "}}" not in readme)
    assert not undocumented, f"{spec.name}/README.md does not explain {undocumented}"


@pytest.mark.parametrize("spec", EDGES, ids=[e.name for e in EDGES])
def test_templates_render_completely(spec: EdgeSpec, tmp_path: Path) -> None:
    values = template_values(
        tmp_path, lambda name: f"/etc/edge/{name}", "origin.internal:8000", 443, EXAMPLES
    )
    for name in TEMPLATES[spec.name]:
        text = render(EXAMPLES / spec.name / name, values, tmp_path / name).read_text()
        assert "{{" not in text and "}}" not in text, name
    upstreams = "".join((tmp_path / name).read_text() for name in TEMPLATES[spec.name])
    assert "origin.internal:8000" in upstreams


def test_every_config_sets_the_edge_secret_and_strips_client_copies() -> None:
    nginx = (EXAMPLES / "nginx" / "edge.conf").read_text()
    assert "underscores_in_headers off;" in nginx and "error_page 495 = @origin;" in nginx
    assert "location / {\n        proxy_pass" in nginx  # no proxy_set_header in a location
    haproxy = (EXAMPLES / "haproxy" / "haproxy.cfg").read_text()
    assert haproxy.index("del-header ^client[-_]cert") < haproxy.index("set-header Client-Cert")
    assert 'set-header X-Origin-Verify "${EDGE_SECRET}"' in haproxy
    caddy = (EXAMPLES / "caddy" / "Caddyfile").read_text()
    assert caddy.index("request_header -client_*") < caddy.index("request_header @client_cert")
    assert "{env.EDGE_SECRET}" in caddy
    apache = (EXAMPLES / "apache" / "edge-vhost.conf").read_text()
    assert 'RequestHeader set X-Origin-Verify           "${EDGE_SECRET}"' in apache
    directives = [line.strip() for line in apache.splitlines() if not line.strip().startswith("#")]
    assert "SSLVerifyClient optional_no_ca" in directives
    assert not [d for d in directives if d.startswith("SSLCACertificate")]


def test_docs_link_every_config() -> None:
    docs = (REPO / "docs" / "edges.md").read_text()
    index = (EXAMPLES / "README.md").read_text()
    for spec in EDGES:
        assert f"](../examples/edges/{spec.name}/)" in docs, spec.name
        assert f"[`{spec.name}/`]({spec.name}/)" in index, spec.name
    assert "](../examples/cloudfront/)" in docs
    for folder in (*(EXAMPLES / e.name for e in EDGES), REPO / "examples" / "cloudfront"):
        assert (folder / "README.md").exists(), folder
