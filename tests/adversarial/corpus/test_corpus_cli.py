"""``originverify check`` on captures carrying corpus items: a verdict and an exit status
(1 refused, 0 accepted, 2 configuration), never a traceback. In-process over a slice of
the corpus (``main()`` must return), and as a real process for a few items."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

import pytest

from originverify.cli import main
from originverify.devpki import cert_pem
from tests.adversarial.corpus.harness import (
    SECRET,
    catching,
    placements,
    request_headers,
    subset,
)
from tests.adversarial.corpus.items import Item, MutantPki

SECRET_ENV = "ORIGINVERIFY_CORPUS_SECRET"

#: Where ``check`` currently lets an exception out: (file, function, exception) → owner
#: and what. Reproducers: test_known_cli_crash_is_fixed.
KNOWN: dict[tuple[str, str, str], str] = {
    ("cli.py", "_describe_cert", "UnsupportedAlgorithm"): "adopters: public_key() of an "
    "unknown key type while printing a presented certificate",
    ("cli.py", "_describe_cert", "ValueError"): "adopters: public_key() of a key on an "
    "unsupported curve (secp256k1) while printing it",
    ("diagnose.py", "<listcomp>", "ValueError"): "adopters: chain_diagnosis renders an "
    "undecodable issuer name",
    ("diagnose.py", "<listcomp>", "TypeError"): "adopters: chain_diagnosis builds a Name "
    "from a damaged attribute",
}
UNKNOWN_KEY = "pyca:custom/unsupported_subject_public_key_info.pem#0"
REPRODUCERS = {
    ("cli.py", "_describe_cert", "UnsupportedAlgorithm"): UNKNOWN_KEY,
    ("cli.py", "_describe_cert", "ValueError"): "mutant:leaf:spki-curve-secp256k1:unsigned",
    ("diagnose.py", "<listcomp>", "ValueError"): "mutant:chain:issuer-cn-invalid-utf8:resigned",
    ("diagnose.py", "<listcomp>", "TypeError"): "mutant:chain:n14-length-minus-one",
}


def capture(headers: list[tuple[str, str]]) -> bytes:
    """A request head as a packet capture or ``curl -v`` shows it."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return f"GET /orders HTTP/1.1\r\nHost: origin.example\r\n{lines}\r\n".encode()


def check(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["check", *args])
    return code, out.getvalue()


def _crash_site(exc: BaseException) -> tuple[str, str, str]:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/originverify/" in f.filename]
    if not frames:
        return ("?", "?", type(exc).__name__)
    return (Path(frames[-1].filename).name, frames[-1].name, type(exc).__name__)


@pytest.fixture(scope="module")
def files(mutant_pki: MutantPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("corpus-cli")
    (directory / "anchors.pem").write_bytes(cert_pem(mutant_pki.root.cert))
    return directory


def _run_item(item: Item, pki: MutantPki, files: Path) -> list[str]:
    """Problems with ``check`` on this item as a capture, and as ``--anchors``."""
    problems = []
    anchors = str(files / "anchors.pem")
    for position, leaf, chain in placements(item, pki):
        request = files / "request.txt"
        request.write_bytes(capture(request_headers("cloudfront-passthrough", leaf, chain)))
        problems += _one(item, position, [str(request), "--anchors", anchors])
    configured = files / "configured.pem"
    configured.write_bytes(item.der)
    problems += _one(item, "anchors", [str(request), "--anchors", str(configured)])
    return problems


def _one(item: Item, position: str, args: list[str]) -> list[str]:
    # Boundary hits are judged by test_corpus_inprocess; catching them here also keeps their
    # log lines (with the traceback the boundary logs) out of the output judged below.
    try:
        with catching():
            code, output = check([*args, "--edge-secret-env", SECRET_ENV])
    except Exception as exc:
        site = _crash_site(exc)
        return [] if site in KNOWN else [f"{position}:{item.name}: {site} {exc!r}"]
    if code == 1 and "REJECTED (" not in output:
        return [f"{position}:{item.name}: exit 1 without a verdict line"]
    if code == 2 and not output.startswith("originverify"):
        return [f"{position}:{item.name}: exit 2 without a message saying why"]
    if "Traceback" in output:
        return [f"{position}:{item.name}: a traceback in the output"]
    if code not in (0, 1, 2):
        return [f"{position}:{item.name}: exit {code}"]
    return []


def test_check_on_corpus_captures(
    corpus: list[Item], mutant_pki: MutantPki, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    problems = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for item in subset(corpus, 40):
            problems += _run_item(item, mutant_pki, files)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("site", list(REPRODUCERS), ids=lambda s: "-".join(s))
def test_known_cli_crash_is_fixed(
    site: tuple[str, str, str],
    corpus: list[Item],
    mutant_pki: MutantPki,
    files: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    item = next(i for i in corpus if i.name == REPRODUCERS[site])
    _, leaf, chain = placements(item, mutant_pki)[0]
    request = files / "reproducer.txt"
    request.write_bytes(capture(request_headers("cloudfront-passthrough", leaf, chain)))
    code, output = check([str(request), "--anchors", str(files / "anchors.pem"),
                          "--edge-secret-env", SECRET_ENV])  # fmt: skip
    assert code in (0, 1) and ("REJECTED (" in output or "ACCEPTED" in output)


#: Items for the real process: each kind of breakage once (parse, version, name, key).
PROCESS_ITEMS = (
    "pyca:custom/negative_serial.pem#0",
    "pyca:custom/bad_country.pem#0",
    "mutant:leaf:n3-truncated",
    "mutant:leaf:duplicate-san:unsigned",
    "pyca:ocsp/resp-sha256.der#0",
)


@pytest.mark.parametrize(
    "name",
    [
        *PROCESS_ITEMS,
        "pyca:custom/invalid_version.pem#0",
    ],
)
def test_check_as_a_process_prints_no_traceback(
    name: str, corpus: list[Item], mutant_pki: MutantPki, files: Path
) -> None:
    item = next(i for i in corpus if i.name == name)
    position, leaf, chain = placements(item, mutant_pki)[0]
    request = files / f"process-{position}.txt"
    request.write_bytes(capture(request_headers("cloudfront-passthrough", leaf, chain)))
    result = subprocess.run(
        [sys.executable, "-m", "originverify.cli", "check", str(request),
         "--anchors", str(files / "anchors.pem"), "--edge-secret-env", SECRET_ENV],
        env={**os.environ, SECRET_ENV: SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 1, result.stdout + result.stderr
    assert "REJECTED (" in result.stdout
