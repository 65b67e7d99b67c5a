"""``originverify check`` names the fix: wrong anchor vs missing intermediate, a wrong
``--format``, a redacted secret; and it never prints a traceback on hostile input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from originverify import testing
from originverify.cli import MAX_HEADER_FIELDS, main
from originverify.devpki import CertificateAuthority, cert_pem
from originverify.formats import PRESETS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki() -> testing.PKI:
    return testing.PKI("check")


def write(tmp_path: Path, pairs: list[tuple[str, str]], name: str = "req.http") -> Path:
    path = tmp_path / name
    head = "GET /x HTTP/1.1\r\nHost: origin.test\r\n"
    path.write_text(head + "".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n", "latin-1")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    code = main(["check", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_missing_intermediate_names_the_issuer(
    pki: testing.PKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = pki.write_anchors(tmp_path / "ca.pem")
    leaf = pki.client("alice")
    capture = write(tmp_path, testing.Edge(secret=None).pairs(leaf.der))
    code, out = run(capsys, capture, "--anchors", anchors, "--no-source-check")
    assert code == 1
    assert "missing intermediate (likely): the leaf's issuer " in out
    assert (
        "CN=check intermediate" in out
        and "anchors loaded: CN=check root,O=originverify test" in out
    )
    assert "wrong anchor" not in out


def test_wrong_anchor_names_the_top_and_the_loaded_anchors(
    pki: testing.PKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = testing.PKI("elsewhere").write_anchors(tmp_path / "other.pem")
    capture = write(tmp_path, testing.Edge(secret=None).pairs(pki.client("alice")))
    code, out = run(capsys, capture, "--anchors", other, "--no-source-check")
    assert code == 1
    assert "wrong anchor (likely): the forwarded chain climbs to" in out
    assert "issued by CN=check root,O=originverify test" in out
    assert "anchors loaded: CN=elsewhere root,O=originverify test" in out
    assert "missing intermediate" not in out


def test_self_signed_top_not_among_anchors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = CertificateAuthority.root_ca("client root")
    issued = root.intermediate("client inter").issue("bob")
    chain = [*issued.intermediates, issued.root]  # the client also sent its root
    pairs = testing.Edge(secret=None).pairs(testing.client_cert(issued.cert, chain))
    anchors = tmp_path / "ca.pem"
    anchors.write_bytes(cert_pem(CertificateAuthority.root_ca("our root").cert))
    code, out = run(capsys, write(tmp_path, pairs), "--anchors", anchors, "--no-source-check")
    assert code == 1
    assert "wrong anchor: the top of the chain, CN=client root,O=originverify test" in out
    assert "(self-signed), is not among the anchors" in out


def test_anchor_with_the_right_name_and_another_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issued = CertificateAuthority.root_ca("rekeyed root").issue("carol")
    anchors = tmp_path / "ca.pem"
    anchors.write_bytes(cert_pem(CertificateAuthority.root_ca("rekeyed root").cert))
    pairs = testing.Edge(secret=None).pairs(issued)
    code, out = run(capsys, write(tmp_path, pairs), "--anchors", anchors, "--no-source-check")
    assert code == 1
    assert "an anchor named CN=rekeyed root,O=originverify test is loaded, but it did not" in out


@pytest.mark.parametrize(
    ("edge_format", "chosen"),
    [("envoy-xfcc", "cloudfront-passthrough"), ("cloudfront-passthrough", "nginx")],
)
def test_wrong_format_names_the_right_preset(
    edge_format: str,
    chosen: str,
    pki: testing.PKI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    anchors = pki.write_anchors(tmp_path / "ca.pem")
    capture = write(tmp_path, testing.Edge(edge_format, secret=None).pairs(pki.client()))
    code, out = run(capsys, capture, "--anchors", anchors, "--format", chosen, "--no-source-check")
    assert code == 1
    assert "wrong format? the request carries a client certificate in the headers of:" in out
    fix = next(line for line in out.splitlines() if line.startswith("fix: run check with"))
    assert f"--format {edge_format} " in fix and f"--format {chosen} " not in fix
    assert "fix: no client certificate reached the origin" not in out


def test_no_certificate_at_all_keeps_the_generic_fix(
    pki: testing.PKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = pki.write_anchors(tmp_path / "ca.pem")
    code, out = run(capsys, write(tmp_path, []), "--anchors", anchors, "--no-source-check")
    assert code == 1 and "wrong format?" not in out
    assert "fix: no client certificate reached the origin" in out


# -- hostile captures: a clear error and exit 2, never a traceback -----------------------------

HOSTILE = {
    "too many header lines": b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADER_FIELDS + 1)),
    "line over 64 KiB": b"Client-Cert: :" + b"A" * (64 * 1024) + b":\r\n",
    "binary junk": bytes(range(256)) * 4,
    "NUL in a value": b"Client-Cert: :AAAA\x00:\r\n",
    "no colon": b"GET / HTTP/1.1\r\nthis is not a header\r\n",
    "non-token name": b"Cl\xc3\xa9ent-Cert: x\r\n",
    "fold without a field": b"\tcontinued\r\n",
    "over 1 MiB": b"X: " + b"a" * (1 << 20) + b"\r\n",
    "empty": b"",
    "blank lines only": b"\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_capture_is_a_clear_error(
    case: str, pki: testing.PKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = pki.write_anchors(tmp_path / "ca.pem")
    capture = tmp_path / "hostile.http"
    capture.write_bytes(HOSTILE[case])
    code, out = run(capsys, capture, "--anchors", anchors, "--no-source-check")
    assert code == 2
    assert "cannot read the captured request:" in out


@pytest.mark.parametrize(
    "value",
    [
        "\u00e9t\u00e9".encode().decode("latin-1"),  # UTF-8 bytes read as latin-1
        "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),  # not valid UTF-8
        "\xff\xfe:==:",
        ":" + "%" * 100 + ":",
    ],
)
def test_bad_encodings_in_values_are_rejected_not_crashed(
    value: str, pki: testing.PKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = pki.write_anchors(tmp_path / "ca.pem")
    code, out = run(
        capsys, write(tmp_path, [("Client-Cert", value)]), "--anchors", anchors, "--no-source-check"
    )
    assert code == 1
    assert "REJECTED (400 malformed_header)" in out


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2048))
def test_any_bytes_never_raise(data: bytes, tmp_path: Path, pki: testing.PKI) -> None:
    anchors = tmp_path / "ca.pem"
    anchors.write_bytes(pki.anchors_pem)
    capture = tmp_path / "fuzz.http"
    capture.write_bytes(data)
    assert main(["check", str(capture), "--anchors", str(anchors), "--no-source-check"]) in (1, 2)


_NAMES = sorted({n for fmt in PRESETS.values() for n in fmt.header_names} | {"Client_Cert"})
_VALUE = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=300,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.lists(st.tuples(st.sampled_from(_NAMES), _VALUE), max_size=8),
    fmt=st.sampled_from(sorted(PRESETS)),
)
def test_well_formed_heads_with_hostile_values_never_raise(
    fields: list[tuple[str, str]], fmt: str, tmp_path: Path, pki: testing.PKI
) -> None:
    # Valid header syntax, every preset's header names, junk values: the verifier and the
    # wrong-format diagnosis (which decodes with every other preset) must answer, not raise.
    anchors = tmp_path / "ca.pem"
    anchors.write_bytes(pki.anchors_pem)
    capture = write(tmp_path, fields, "fields.http")
    args = ["check", str(capture), "--anchors", str(anchors), "--no-source-check", "--format", fmt]
    assert main(args) in (1, 2)


def test_binary_junk_from_stdin_in_a_real_process(pki: testing.PKI, tmp_path: Path) -> None:
    anchors = pki.write_anchors(tmp_path / "ca.pem")
    result = subprocess.run(
        [sys.executable, "-m", "originverify.cli", "check", "-", "--anchors", str(anchors)]
        + ["--no-source-check"],
        input=os.urandom(4096) + b"\x00",
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr
    assert b"cannot read the captured request" in result.stderr


def test_bad_time_is_a_usage_error(
    pki: testing.PKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = pki.write_anchors(tmp_path / "ca.pem")
    with pytest.raises(SystemExit) as caught:
        main(["check", str(write(tmp_path, [])), "--anchors", str(anchors), "--time", "soon"])
    assert caught.value.code == 2
    assert "is not an ISO 8601 time" in capsys.readouterr().err


def test_edge_without_the_extra_prints_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.startswith("originverify.edge")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "OpenSSL", None)  # import OpenSSL -> ImportError
    assert main(["edge", "--listen", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'originverify[edge]'" in err and "Traceback" not in err
    assert main(["edge"]) == 2  # no arguments at all: the same hint
