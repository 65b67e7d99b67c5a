"""Metrics and traces from the one place every verdict passes: ``Verifier(observers=[...])``.

``PrometheusMetrics`` (extra ``metrics``: prometheus_client) counts every outcome by result
and reason code and records how long verification took, by how it was decided (``cache``,
``chain``, ``gate``, ...). Under gunicorn, set ``PROMETHEUS_MULTIPROC_DIR`` before the workers
start and expose ``multiprocess_registry()``: prometheus_client then adds up every worker.

``OpenTelemetrySpans`` (extra ``otel``: opentelemetry-api) records one span per
verification with the reason as an attribute. Neither module is imported unless you build
one, so an origin without them pays nothing.
"""

from __future__ import annotations

import time
from typing import Any

from .outcome import Outcome

__all__ = ["OpenTelemetrySpans", "PrometheusMetrics", "multiprocess_registry", "result_of"]

#: Verification-time buckets, seconds: a cache hit is ~10 µs, a chain ~0.3-1 ms, OCSP more.
BUCKETS = (0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0)


def result_of(outcome: Outcome) -> str:
    """``verified``, ``anonymous``, ``rejected`` or ``would_reject`` (report-only)."""
    if outcome.error is None:
        return "verified" if outcome.identity is not None else "anonymous"
    return "rejected" if outcome.enforced else "would_reject"


class PrometheusMetrics:
    """An observer: ``Verifier(..., observers=[PrometheusMetrics()])``.

    ``originverify_requests_total{result, reason}`` (reason ``none`` when accepted) and
    ``originverify_verification_seconds{via}``. Pass ``registry=`` to keep them out of the
    default registry (tests, several verifiers in one process: give each its own
    ``namespace`` or registry).
    """

    def __init__(self, registry: Any = None, namespace: str = "originverify") -> None:
        from prometheus_client import REGISTRY, Counter, Histogram

        registry = REGISTRY if registry is None else registry
        self.requests = Counter(
            "requests",
            "Verification outcomes by result and reason code",
            ["result", "reason"],
            namespace=namespace,
            registry=registry,
        )
        self.seconds = Histogram(
            "verification_seconds",
            "Time spent deciding a request, by how it was decided",
            ["via"],
            namespace=namespace,
            registry=registry,
            buckets=BUCKETS,
        )

    _shared: dict[str, PrometheusMetrics] = {}  # noqa: RUF012 - one per namespace

    @classmethod
    def default(cls, namespace: str = "originverify") -> PrometheusMetrics:
        """One instance per namespace in the default registry, shared by every verifier the
        process builds (prometheus_client refuses to register a metric name twice)."""
        if namespace not in cls._shared:
            cls._shared[namespace] = cls(namespace=namespace)
        return cls._shared[namespace]

    def __call__(self, outcome: Outcome) -> None:
        reason = outcome.error.reason.value if outcome.error is not None else "none"
        self.requests.labels(result_of(outcome), reason).inc()
        self.seconds.labels(outcome.via).observe(outcome.elapsed)


def multiprocess_registry() -> Any:
    """A registry that adds up every worker's metrics (``PROMETHEUS_MULTIPROC_DIR`` set)."""
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class OpenTelemetrySpans:
    """An observer that records one span per verification (``originverify.verify``), from
    the verification's start to its end, with ``originverify.result``,
    ``originverify.reason``, ``originverify.via`` and the leaf fingerprint on refusals."""

    def __init__(self, tracer: Any = None) -> None:
        from opentelemetry import trace

        self.tracer = tracer if tracer is not None else trace.get_tracer("originverify")
        self._status_error = trace.StatusCode.ERROR

    def __call__(self, outcome: Outcome) -> None:
        end = time.time_ns()
        span = self.tracer.start_span(
            "originverify.verify", start_time=end - int(outcome.elapsed * 1e9)
        )
        span.set_attribute("originverify.result", result_of(outcome))
        span.set_attribute("originverify.via", outcome.via)
        if outcome.error is not None:
            span.set_attribute("originverify.reason", outcome.error.reason.value)
            if outcome.leaf_sha256:
                span.set_attribute("originverify.leaf_sha256", outcome.leaf_sha256)
            if outcome.enforced:
                span.set_status(self._status_error, outcome.error.reason.value)
        span.end(end_time=end)
