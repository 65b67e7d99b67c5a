"""Prometheus counters and histograms, and OpenTelemetry spans, from real verifications;
and the multiprocess mode under a real gunicorn with two workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from originverify import EdgeSecret, Verifier, build_verifier
from originverify.metrics import OpenTelemetrySpans, PrometheusMetrics
from tests.conftest import EDGE_SECRET, PKI, passthrough_headers

HERE = Path(__file__).resolve().parent


def verifier(pki: PKI, *observers: object, mode: str = "required") -> Verifier:
    source = EdgeSecret("X-Origin-Verify", [EDGE_SECRET])
    return Verifier(trust=pki.root_pem, source=source, mode=mode, observers=list(observers))  # type: ignore[arg-type]


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_counters_by_result_and_reason_and_time_by_path(pki: PKI) -> None:
    registry = CollectorRegistry()
    v = verifier(pki, PrometheusMetrics(registry))
    stranger = pki.root.intermediate("elsewhere").issue("eve")
    for _ in range(3):
        v.verify_request(passthrough_headers(pki.leaf))
    for headers in (passthrough_headers(None), passthrough_headers(stranger, chain=[])):
        with pytest.raises(Exception):  # noqa: B017 - the reason is checked below
            v.verify_request(headers)
    total = "originverify_requests_total"
    assert sample(registry, total, result="verified", reason="none") == 3
    assert sample(registry, total, result="rejected", reason="missing_certificate") == 1
    assert sample(registry, total, result="rejected", reason="untrusted_chain") == 1
    seconds = "originverify_verification_seconds_count"
    assert sample(registry, seconds, via="chain") == 1
    assert sample(registry, seconds, via="cache") == 2
    assert sample(registry, seconds, via="refused") == 2


def test_report_only_counts_would_reject(pki: PKI) -> None:
    registry = CollectorRegistry()
    v = verifier(pki, PrometheusMetrics(registry), mode="report_only")
    v.verify_request(passthrough_headers(None))
    total = "originverify_requests_total"
    assert sample(registry, total, result="would_reject", reason="missing_certificate") == 1


def test_settings_key_shares_one_default_instance(pki: PKI) -> None:
    settings = {"anchors": pki.root_pem, "edge_secrets": [EDGE_SECRET], "metrics": "prometheus"}
    first, second = build_verifier(settings), build_verifier(settings)
    assert first.config.observers == second.config.observers
    assert isinstance(first.config.observers[0], PrometheusMetrics)


def test_one_span_per_verification(pki: PKI) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    v = verifier(pki, OpenTelemetrySpans(provider.get_tracer("test")))
    v.verify_request(passthrough_headers(pki.leaf))
    v.check.__self__  # noqa: B018 - the verifier stays alive
    with pytest.raises(Exception):  # noqa: B017
        v.verify_request(passthrough_headers(None))
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["originverify.verify", "originverify.verify"]
    assert spans[0].attributes["originverify.result"] == "verified"
    assert spans[1].attributes["originverify.reason"] == "missing_certificate"
    assert spans[1].status.status_code.name == "ERROR"
    assert spans[0].end_time >= spans[0].start_time


@pytest.mark.e2e
def test_multiprocess_mode_adds_up_every_gunicorn_worker(pki: PKI, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(pki.root_pem)
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "OV_TEST_ANCHORS": str(anchors),
        "OV_TEST_SECRET": EDGE_SECRET,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent.parent)]),
    }
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    argv += ["--graceful-timeout", "2", "metrics_app:app"]
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/metrics", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((tmp_path / "gunicorn.log").read_text()) from None
                time.sleep(0.1)
        good, anonymous = passthrough_headers(pki.leaf), passthrough_headers(None)
        workers: set[str] = set()
        sent = 0
        while len(workers) < 2 and sent < 400:  # bounded: until both workers answered
            reply = httpx.get(url + "/", headers=good, timeout=10)
            assert reply.status_code == 200
            workers.add(reply.text)
            assert httpx.get(url + "/", headers=anonymous, timeout=10).status_code == 401
            sent += 1
        text = httpx.get(url + "/metrics", timeout=10).text
    finally:
        process.terminate()
        process.wait(10)
    assert len(workers) == 2, "both workers answered"
    lines = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("originverify_requests_total")
    }
    verified = 'originverify_requests_total{reason="none",result="verified"}'
    missing = 'originverify_requests_total{reason="missing_certificate",result="rejected"}'
    assert (lines[verified], lines[missing]) == (sent, sent)
