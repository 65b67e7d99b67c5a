"""``python -m build`` of the three distributions from a clean copy of their sources (as a
fresh clone has them): sdist, then the wheel built from that sdist. Each carries the
Apache-2.0 LICENSE and py.typed, exactly its own package, and the metadata users see."""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import originverify

ROOT = Path(__file__).resolve().parents[2]
VERSION = originverify.__version__
JUNK = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".mypy_cache")

# distribution name, source folder, import package, top-level files the sdist must hold
DISTRIBUTIONS = [
    ("originverify", ROOT, "originverify", ["LICENSE", "README.md", "pyproject.toml"]),
    (
        "flask_originverify",
        ROOT / "integrations" / "flask_originverify",
        "flask_originverify",
        ["LICENSE", "README.md", "pyproject.toml"],
    ),
    (
        "django_originverify",
        ROOT / "integrations" / "django_originverify",
        "django_originverify",
        ["LICENSE", "README.md", "pyproject.toml"],
    ),
]


def _clean_copy(source: Path, package: str, target: Path) -> Path:
    if source == ROOT:
        target.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(ROOT / name, target / name)
        shutil.copytree(ROOT / package, target / package, ignore=JUNK)
        return target
    shutil.copytree(source, target, ignore=JUNK)
    return target


def _python_files(source: Path, package: str) -> set[str]:
    base = source / package if source == ROOT else source
    return {
        f"{package}/{path.relative_to(base).as_posix()}"
        for path in base.rglob("*.py")
        if "__pycache__" not in path.parts
    }


@pytest.mark.parametrize(("dist", "source", "package", "sdist_files"), DISTRIBUTIONS)
def test_sdist_and_wheel(
    dist: str, source: Path, package: str, sdist_files: list[str], tmp_path: Path
) -> None:
    tree = _clean_copy(source, package, tmp_path / "src")
    out = tmp_path / "dist"
    result = subprocess.run(
        # --no-isolation: the dev extra's setuptools builds it, so no network is needed
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheel = out / f"{dist}-{VERSION}-py3-none-any.whl"
    sdist = out / f"{dist}-{VERSION}.tar.gz"

    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert set(sdist_files) <= names

    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
        metadata = email.parser.Parser().parsestr(
            archive.read(f"{dist}-{VERSION}.dist-info/METADATA").decode()
        )
        license_text = archive.read(f"{dist}-{VERSION}.dist-info/licenses/LICENSE")
        entry_points = (
            archive.read(f"{dist}-{VERSION}.dist-info/entry_points.txt").decode()
            if f"{dist}-{VERSION}.dist-info/entry_points.txt" in files
            else ""
        )
    assert license_text == (ROOT / "LICENSE").read_bytes()
    assert f"{package}/py.typed" in files
    packaged = {f for f in files if not f.startswith(f"{dist}-{VERSION}.dist-info/")}
    assert {f.split("/")[0] for f in packaged} == {package}  # exactly its own package
    assert _python_files(source, package) <= packaged  # every module, subpackages included
    assert not any(f.endswith(("pyproject.toml", "README.md")) for f in packaged)

    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Version"] == VERSION
    urls = metadata.get_all("Project-URL") or []
    assert any(u.startswith("Homepage, ") for u in urls)
    assert any(u.startswith("Issues, ") for u in urls)
    classifiers = metadata.get_all("Classifier") or []
    requires = metadata.get_all("Requires-Dist") or []
    if dist == "originverify":
        assert requires[0] == "cryptography>=45"
        assert "Framework :: FastAPI" in classifiers
        assert "originverify/edge/proxy.py" in files  # shipped, never imported by the core
        assert "[pytest11]\noriginverify = originverify.testing.plugin" in entry_points
    else:
        assert f"originverify<0.2,>={VERSION}" in requires
        framework = "Flask" if dist.startswith("flask") else "Django"
        assert f"Framework :: {framework}" in classifiers
