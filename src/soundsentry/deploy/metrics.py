"""Prometheus metrics of the scoring service (``GET /metrics``), in a registry of their own per application.

* ``soundsentry_requests_total{endpoint, method, status}``: answered requests (a path the service does not serve
  counts as ``endpoint="other"``, so a scanner cannot grow the label set).
* ``soundsentry_request_duration_seconds{endpoint}``: time from request to the start of the answer.
* ``soundsentry_decisions_total{machine_type, section, decision}``: clips scored ``normal`` or ``anomaly``.
* ``soundsentry_input_rejections_total{reason}``: clips refused because they cannot be judged (``413`` / ``422``).

Each :func:`~soundsentry.deploy.service.create_app` builds its own :class:`ServiceMetrics`, not the process-wide
default registry, so several applications (and tests) in one process do not share or collide on counters.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ServiceMetrics:
    """The service's counters and histogram, in a fresh :class:`prometheus_client.CollectorRegistry`."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "soundsentry_requests",
            "HTTP requests answered, by endpoint, method and status code.",
            ("endpoint", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "soundsentry_request_duration_seconds",
            "Seconds from a request's arrival to the start of its answer, by endpoint.",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "soundsentry_decisions",
            "Clips scored, by machine type, section and decision (normal / anomaly).",
            ("machine_type", "section", "decision"),
            registry=self.registry,
        )
        self.rejections = Counter(
            "soundsentry_input_rejections",
            "Clips refused because they cannot be judged, by reason.",
            ("reason",),
            registry=self.registry,
        )

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def observe_decisions(self, machine_type: str, section: str, results: Iterable[Mapping[str, Any]]) -> None:
        """Count each result's ``decision`` for its group."""
        for result in results:
            self.decisions.labels(machine_type, section, str(result["decision"])).inc()

    def observe_rejection(self, reason: str) -> None:
        self.rejections.labels(reason).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format of every metric, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """ASGI middleware counting and timing every HTTP request (a plain ASGI wrapper: the request body streams
    through untouched, which the service's upload limit relies on).

    Args:
        app: the wrapped ASGI application.
        metrics: where the observations go.
        endpoints: returns the paths the service serves; any other path is labelled ``other``.
    """

    def __init__(self, app: Any, metrics: ServiceMetrics, endpoints: Callable[[], Iterable[str]]) -> None:
        self.app, self.metrics, self.endpoints = app, metrics, endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in set(self.endpoints()) else "other"
        method, start, started = scope.get("method", ""), time.perf_counter(), [False]

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
                self.metrics.observe_request(endpoint, method, int(message["status"]), time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception:
            if not started[0]:  # no answer was started: the server answers 500
                self.metrics.observe_request(endpoint, method, 500, time.perf_counter() - start)
            raise
