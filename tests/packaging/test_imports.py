"""What a production origin imports: never the reference edge forwarder, the demo, the
throwaway PKI builder or the testing kit; and the three distributions release in lockstep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import originverify

ROOT = Path(__file__).resolve().parents[2]
NEVER_LOADED = (
    "originverify.edge",
    "originverify.demo",
    "originverify.devpki",
    "originverify.testing",
)

PROBE = """
import importlib, json, pkgutil, sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_originverify"],
    ORIGINVERIFY={},
)
django.setup()
import originverify
import flask_originverify, django_originverify
# Every module of the core a production origin may use, and every adapter module
# (pkgutil.walk_packages would import the excluded packages to walk into them).
def walk(package):
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if info.name.startswith(NEVER):
            continue
        module = importlib.import_module(info.name)
        if info.ispkg:
            walk(module)
for package in (originverify, flask_originverify, django_originverify):
    walk(package)
print(json.dumps(sorted(name for name in sys.modules if name.startswith("originverify"))))
"""


def test_core_and_adapters_never_load_edge_demo_devpki_or_testing() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "integrations")])
    result = subprocess.run(
        [sys.executable, "-c", f"NEVER = {NEVER_LOADED!r}\n{PROBE}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert {"originverify.wsgi", "originverify.revocation", "originverify.cli"} <= set(loaded)
    for module in NEVER_LOADED:
        assert not [name for name in loaded if name == module or name.startswith(module + ".")]


def _pyproject(path: Path) -> dict[str, object]:
    return tomllib.loads((path / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def test_distributions_release_in_lockstep() -> None:
    core = _pyproject(ROOT)
    assert core["version"] == originverify.__version__
    major_minor = ".".join(originverify.__version__.split(".")[:2])
    for folder, name in (
        ("flask_originverify", "flask-originverify"),
        ("django_originverify", "django-originverify"),
    ):
        project = _pyproject(ROOT / "integrations" / folder)
        assert project["name"] == name
        assert project["version"] == originverify.__version__
        requirement = next(d for d in project["dependencies"] if d.startswith("originverify"))  # type: ignore[attr-defined]
        assert (
            f">={originverify.__version__}" in requirement
            and f"<0.{int(major_minor.split('.')[1]) + 1}" in requirement
        )
        assert (ROOT / "integrations" / folder / "LICENSE").read_bytes() == (
            ROOT / "LICENSE"
        ).read_bytes()
    extras = core["optional-dependencies"]
    assert "asgi" not in extras  # the empty extra is gone  # type: ignore[operator]
    assert extras["flask"] == ["flask-originverify>=0.1.0,<0.2"]  # type: ignore[index]
