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
from tests.adversarial.corpus.harness import SECRET, placements, request_headers, subset
from tests.adversarial.corpus.items import Item, MutantPki

SECRET_ENV = "ORIGINVERIFY_CORPUS_SECRET"

#: Where ``check`` currently lets an exception out: (function, exception) → what. In
#: cli.py (owner: adopters) unless said otherwise. Reproducers: test_known_cli_crash_is_fixed.
KNOWN: dict[tuple[str, str], str] = {
    ("read_request", "LineTooLong"): "a header line over 64 KiB (http.client's limit)",
    ("_describe_cert", "ValueError"): "rfc4514_string()/public_key()/dates of an odd "
    "certificate (invalid UTF-8 name, secp256k1 key, year 9999) while printing it",
    ("_describe_cert", "UnsupportedAlgorithm"): "public_key() of an unknown key type",
    ("_describe_cert", "TypeError"): "rfc4514_string() of a damaged name",
    # trust.py (owner: chain), via --anchors: see test_corpus_config.py
    ("_parse_bytes", "InvalidVersion"): "an anchor with a version other than v1/v3",
}
UNKNOWN_KEY = "pyca:custom/unsupported_subject_public_key_info.pem#0"
REPRODUCERS = {
    ("read_request", "LineTooLong"): "pyca:custom/crl_almost_10k.pem#0",
    ("_describe_cert", "ValueError"): "pyca:custom/invalid_utf8_common_name.pem#0",
    ("_describe_cert", "UnsupportedAlgorithm"): UNKNOWN_KEY,
    ("_describe_cert", "TypeError"): "mutant:chain:n14-length-minus-one",
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


def _crash_site(exc: BaseException) -> tuple[str, str]:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/originverify/" in f.filename]
    return (frames[-1].name if frames else "?", type(exc).__name__)


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
    try:
        code, output = check([*args, "--edge-secret-env", SECRET_ENV])
    except Exception as exc:
        site = _crash_site(exc)
        return [] if site in KNOWN else [f"{position}:{item.name}: {site} {exc!r}"]
    if code == 1 and "REJECTED (" not in output:
        return [f"{position}:{item.name}: exit 1 without a verdict line"]
    if code == 2 and "configuration error" not in output:
        return [f"{position}:{item.name}: exit 2 without a configuration error message"]
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


@pytest.mark.xfail(strict=True, reason="owner: adopters (cli.py)")
@pytest.mark.parametrize("site", list(REPRODUCERS), ids=lambda s: f"{s[0]}-{s[1]}")
def test_known_cli_crash_is_fixed(
    site: tuple[str, str],
    corpus: list[Item],
    mutant_pki: MutantPki,
    files: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    item = next(i for i in corpus if i.name == REPRODUCERS[site])
    _, leaf, chain = placements(item, mutant_pki)[-1]
    request = files / "reproducer.txt"
    request.write_bytes(capture(request_headers("cloudfront-passthrough", leaf, chain)))
    code, output = check([str(request), "--anchors", str(files / "anchors.pem"),
                          "--edge-secret-env", SECRET_ENV])  # fmt: skip
    assert code == 1 and "REJECTED (" in output


#: Items for the real process: each kind of breakage once (parse, version, name, key).
PROCESS_ITEMS = (
    "pyca:custom/negative_serial.pem#0",
    "pyca:custom/bad_country.pem#0",
    "mutant:leaf:n3-truncated",
    "mutant:leaf:duplicate-san:unsigned",
    "pyca:ocsp/resp-sha256.der#0",
)


@pytest.mark.parametrize("name", PROCESS_ITEMS)
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
