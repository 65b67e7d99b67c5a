"""Helpers shared by the benchmark sections (not a benchmark itself; ``dev.py`` skips it).

Timing discipline, used by every section: each case is calibrated to a batch of roughly
``target_s`` seconds, rounds are interleaved (every case once per round, the order rotated
each round), and the reported figure is the median of the per-round means. A noisy neighbour
then slows all cases of a round alike and moves the ratios far less than the absolute
numbers.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from cryptography import x509

from originverify import HeaderList
from originverify.devpki import CertificateAuthority, KeyType, cert_pem
from originverify.formats.sfbinary import serialize_item, serialize_list

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789abcdef0123"
CLIENT_CN = "bench-client"
CLIENT_URI = "spiffe://cluster.local/ns/default/sa/client"  # XFCC's URI element names it
KEY_LABELS = {"ec": "ECDSA P-256", "rsa": "RSA-2048"}

# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


#: The micro-benchmarks' clock. CPU time of this process (all its threads) by default: for
#: this CPU-bound, single-threaded work it equals wall time on an idle core, and it does not
#: count the time another process holds the core, which on a shared VM is most of the noise.
#: ``BENCH_CLOCK=wall`` switches to ``time.perf_counter``.
CLOCK_NAME = "wall" if os.environ.get("BENCH_CLOCK") == "wall" else "cpu"
clock: Callable[[], float] = time.perf_counter if CLOCK_NAME == "wall" else time.process_time


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Mean seconds per call over ``calls`` back-to-back calls."""
    start = clock()
    for _ in range(calls):
        fn()
    return (clock() - start) / calls


def calibrate(fn: Callable[[], object], target_s: float, max_calls: int = 200_000) -> int:
    """How many calls make a batch of about ``target_s`` seconds (at least 3)."""
    fn()  # warm-up: first-call costs (lazy imports, verifier built for this second)
    calls, elapsed = 1, 0.0
    while calls < max_calls:
        elapsed = per_call(fn, calls) * calls
        if elapsed >= target_s / 4:
            break
        calls *= 4
    per = elapsed / calls if elapsed > 0 else 1e-7
    return max(3, min(max_calls, int(target_s / per)))


def interleaved(
    cases: Mapping[str, Callable[[], object]],
    rounds: int,
    target_s: float = 0.03,
    max_calls: Mapping[str, int] | None = None,
) -> dict[str, list[float]]:
    """Per-round mean seconds per call of each case; rounds interleaved, order rotated.

    ``max_calls`` caps a case's batch (a case that consumes a pre-made item per call)."""
    caps = max_calls or {}
    calls = {
        name: min(calibrate(fn, target_s), caps.get(name, 1 << 30)) for name, fn in cases.items()
    }
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(per_call(cases[name], calls[name]))
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(samples: Sequence[float], scale: float = 1e6) -> dict[str, float]:
    """Median, min and max of ``samples`` times ``scale`` (seconds → µs by default)."""
    return {
        "median": median(samples) * scale,
        "min": min(samples) * scale,
        "max": max(samples) * scale,
        "rounds": len(samples),
    }


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """Median of per-round ratios: rounds are paired, so drift between rounds cancels."""
    return median([a / b for a, b in zip(num, den, strict=True) if b])


# ---------------------------------------------------------------------------------------------
# Certificates and headers
# ---------------------------------------------------------------------------------------------


@dataclass
class Chain:
    """A client chain of ``length`` certificates: root (the anchor) ... leaf."""

    key_type: str
    length: int
    ca: CertificateAuthority  # the leaf's issuer
    root: x509.Certificate
    leaf: x509.Certificate
    intermediates: list[x509.Certificate]  # issuer first, root excluded
    leaf_der: bytes
    chain_der: tuple[bytes, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def anchors_pem(self) -> bytes:
        return cert_pem(self.root)

    @property
    def label(self) -> str:
        return KEY_LABELS.get(self.key_type, self.key_type)


def make_chain(key_type: str = "ec", length: int = 3) -> Chain:
    """root → (length - 2) intermediates → leaf, all with ``key_type`` keys.

    The leaf carries an email SAN and clientAuth EKU, so pyca's *default* client policy (what
    a user of the bare verifier gets) accepts it as well as originverify's profiles.
    """
    if length < 2:
        raise ValueError("a chain has at least a leaf and a root")
    kt: KeyType = "rsa" if key_type == "rsa" else "ec"
    ca = CertificateAuthority.root_ca("bench root", key_type=kt)
    for index in range(length - 2):
        ca = ca.intermediate(f"bench intermediate {index + 1}", key_type=kt)
    issued = ca.issue(CLIENT_CN, emails=["bench@example.com"], uris=[CLIENT_URI], key_type=kt)
    return Chain(
        key_type=key_type,
        length=length,
        ca=ca,
        root=issued.root,
        leaf=issued.cert,
        intermediates=list(issued.intermediates),
        leaf_der=issued.der,
        chain_der=issued.chain_der,
    )


def rfc9440_pairs(leaf_der: bytes, chain_der: Sequence[bytes]) -> list[tuple[str, str]]:
    """What CloudFront passthrough sends: the edge secret, ``Client-Cert``, ``-Chain``."""
    pairs = [("X-Origin-Verify", SECRET), ("Client-Cert", serialize_item(leaf_der))]
    if chain_der:
        pairs.append(("Client-Cert-Chain", serialize_list(list(chain_der))))
    return pairs


def rfc9440_headers(chain: Chain) -> HeaderList:
    return HeaderList(rfc9440_pairs(chain.leaf_der, chain.chain_der))


# ---------------------------------------------------------------------------------------------
# Machine facts
# ---------------------------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _tool_version(cmd: list[str], pattern: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine_info() -> dict[str, str]:
    """CPU, cores, kernel and the versions of everything that is measured."""
    from cryptography.hazmat.backends.openssl.backend import backend

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    virt = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
        virt = " (virtual machine)" if " hypervisor" in flags else ""
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model() + virt,
        "cores": f"{os.cpu_count()} logical, {usable} usable by this run",
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openssl (cryptography)": backend.openssl_version_text(),
        "openssl (system, `openssl speed`)": _tool_version(
            ["openssl", "version"], r"(OpenSSL [\w.]+)"
        ),
        "openssl (Python ssl)": ssl.OPENSSL_VERSION,
        "originverify": _version("originverify"),
        "cryptography": _version("cryptography"),
        "pyhanko-certvalidator": _version("pyhanko-certvalidator"),
        "asn1crypto": _version("asn1crypto"),
        "flask": _version("flask"),
        "django": _version("django"),
        "gunicorn": _version("gunicorn"),
        "matplotlib": _version("matplotlib"),
        "wrk": _tool_version(["wrk", "-v"], r"wrk\s+(\S+)"),
        "nginx": _tool_version(["nginx", "-v"], r"nginx/(\S+)"),
    }


# ---------------------------------------------------------------------------------------------
# Servers and load generators (everything on 127.0.0.1)
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextmanager
def server(
    cmd: list[str], port: int, log: Path, env: Mapping[str, str] | None = None, cwd: Path = REPO
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process that listens on ``port``; stopped (TERM, then KILL) on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    try:
        try:
            wait_port(port, proc=proc)
        except RuntimeError as exc:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n{' '.join(cmd)}\n{tail}") from None
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its direct children (the workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for p in (pid, *map(int, children)):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def wrk(
    url: str, seconds: float, connections: int, headers: Sequence[tuple[str, str]] = ()
) -> tuple[float, int]:
    """``(requests/s, requests)`` from one wrk run; any non-2xx answer is an error."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    for name, value in headers:
        cmd += ["-H", f"{name}: {value}"]
    result = subprocess.run(
        [*cmd, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(result.stdout + result.stderr)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses from {url}")
    socket_errors = re.search(r"Socket errors: (.*)", result.stdout)
    if socket_errors and re.search(r"(read|write|timeout) [1-9]", socket_errors.group(1)):
        raise RuntimeError(f"wrk socket errors against {url}: {socket_errors.group(1)}")
    count = re.search(r"(\d+) requests in", result.stdout)
    return float(match.group(1)), int(count.group(1)) if count else 0


def python() -> str:
    return sys.executable


def bare_verifier(root: x509.Certificate) -> Any:
    """pyca's client verifier as its documentation builds it (default policies): the
    baseline every ratio is measured against."""
    from datetime import UTC, datetime

    from cryptography.x509.verification import PolicyBuilder, Store

    return PolicyBuilder().store(Store([root])).time(datetime.now(UTC)).build_client_verifier()
