#!/usr/bin/env python3
"""Developer entry point that needs only Python >= 3.11 and pip.

    python3 dev.py demo    # the demo: throwaway PKI, real requests, a verdict for each
    python3 dev.py test    # everything CI runs: ruff, mypy --strict, the whole test suite
                           # (spread over the CPUs; OV_TEST_WORKERS=0 for one process)
    python3 dev.py bench   # the benchmarks (not tests)
    python3 dev.py docs    # the documentation site, built strictly into site/
    python3 dev.py config-docs  # regenerate the settings table in docs/configuration.md
    python3 dev.py dist    # sdist + wheel of originverify and both integrations into dist/

Each command creates (or refreshes, when pyproject.toml changed) its own virtual
environment in .venv and runs inside it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# The core and the two integration distributions (docs/packaging.md), installed editable.
DISTRIBUTIONS = (
    ROOT,
    ROOT / "integrations" / "flask_originverify",
    ROOT / "integrations" / "django_originverify",
)
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def ensure_venv() -> None:
    digest = hashlib.sha256()
    for dist in DISTRIBUTIONS:
        digest.update((dist / "pyproject.toml").read_bytes())
    wanted = digest.hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    print("dev.py: installing originverify with its dev extras into .venv", flush=True)
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    editables = [f"{ROOT}[dev]", *(str(dist) for dist in DISTRIBUTIONS[1:])]
    subprocess.run([*pip, *(arg for e in editables for arg in ("-e", e))], check=True)
    STAMP.write_text(wanted)


def run(*command: str) -> None:
    print("+", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT, check=False)
    if result.returncode:
        sys.exit(result.returncode)


def parallel(args: list[str]) -> list[str]:
    """pytest-xdist options for the whole suite: one worker per CPU (at most 4; the
    end-to-end tests start servers of their own), whole files per worker so that a
    file's servers start once. ``OV_TEST_WORKERS=0`` (or ``-n``/``-p no:xdist`` in the
    arguments) runs in one process."""
    if any(a == "-n" or a.startswith("-n") or a == "no:xdist" for a in args):
        return []
    workers = os.environ.get("OV_TEST_WORKERS", str(min(4, os.cpu_count() or 1)))
    if workers in {"0", "1"}:
        return []
    return ["-n", workers, "--dist", "loadfile"]


def main(argv: list[str]) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before any venv exists
        sys.exit("originverify needs Python 3.11 or newer")
    task = argv[0] if argv else "help"
    if task not in {"demo", "test", "lint", "pytest", "bench", "docs", "config-docs", "dist"}:
        print(__doc__)
        sys.exit(0 if task == "help" else 2)
    ensure_venv()
    py = str(BIN / "python")
    if task == "demo":
        run(py, "-m", "originverify.cli", "demo")
    if task in {"test", "lint"}:
        run(py, "-m", "ruff", "check", ".")
        run(py, "-m", "ruff", "format", "--check", ".")
        run(py, "-m", "mypy", "--strict")
    if task == "test":
        run(py, "-m", "pytest", *parallel(argv[1:]), *argv[1:])
    if task == "pytest":
        run(py, "-m", "pytest", *argv[1:])
    if task == "bench":
        run(py, "benchmarks/run_all.py", *argv[1:])
    if task == "docs":
        run(py, "scripts/config_reference.py", "--check")
        os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # material's notice, not ours
        run(py, "-m", "mkdocs", "build", "--strict", *argv[1:])
    if task == "config-docs":
        run(py, "scripts/config_reference.py")
    if task == "dist":
        for dist in DISTRIBUTIONS:
            run(py, "-m", "build", "--outdir", str(ROOT / "dist"), str(dist))


if __name__ == "__main__":
    main(sys.argv[1:])
