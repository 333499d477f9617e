"""augur's Prometheus metrics, on a registry of their own per app (no global state).

Counters are updated by the request path and the in-process worker; queue depth and job
outcomes across all workers are read from the store at scrape time, so ``/metrics`` of any
replica shows the whole queue. So are the verdicts: ``augur_verdicts{verdict}`` counts incidents
by their latest verdict (confirmed, wrong, not_actionable) and ``augur_root_cause_precision`` is
confirmed ÷ judged (confirmed + wrong; not actionable judges no cause), absent until one is judged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from augur.server.store.queue import JobQueue
from augur.server.store.verdicts import precision, verdict_counts

__all__ = ["Metrics", "RequestMetricsMiddleware"]

log = logging.getLogger(__name__)

_JOB_STATUSES = ("queued", "running", "done", "failed", "parked")


class _QueueCollector(Collector):
    """Jobs per status, read from the store when scraped."""

    def __init__(self, queue: JobQueue | None) -> None:
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "augur_jobs", "Jobs in the store by status (all workers).", labels=["status"]
        )
        if self.queue is not None:
            try:
                depth = self.queue.depth()
            except Exception as exc:  # a scrape must not fail because the store is down
                log.warning("queue depth unavailable: %s", exc)
                return
            for status in sorted(set(_JOB_STATUSES) | set(depth)):
                family.add_metric([status], depth.get(status, 0))
        yield family


class _VerdictCollector(Collector):
    """Incidents by their latest verdict, and the live precision, read from the store when scraped."""

    def __init__(self, queue: JobQueue | None) -> None:
        self.store = queue.store if queue is not None else None

    def collect(self) -> Iterator[Metric]:
        counts = GaugeMetricFamily("augur_verdicts", "Incidents by their latest verdict on the root cause.",
                                   labels=["verdict"])
        share = GaugeMetricFamily("augur_root_cause_precision",
                                  "Root causes confirmed by a person, of those judged (confirmed + wrong).")
        if self.store is not None:
            try:
                found = verdict_counts(self.store)
            except Exception as exc:  # a scrape must not fail because the store is down
                log.warning("verdict counts unavailable: %s", exc)
                return
            for verdict, n in sorted(found.items()):
                counts.add_metric([verdict], n)
            value = precision(found)
            if value is not None:
                share.add_metric([], value)
        yield counts
        yield share


class Metrics:
    """The metric objects of one app, registered on :attr:`registry`."""

    def __init__(self, queue: JobQueue | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.webhooks_received = Counter("augur_webhooks_received", "Webhook requests received.", registry=r)
        self.webhooks_rejected = Counter(
            "augur_webhooks_rejected", "Webhook requests rejected, by reason.", ["reason"], registry=r
        )
        self.alerts_ingested = Counter("augur_alerts_ingested", "Alerts in stored webhooks.", registry=r)
        self.episodes_created = Counter(
            "augur_alert_episodes_created", "New alert episodes stored.", registry=r
        )
        self.incidents_opened = Counter("augur_incidents_opened", "Incidents opened.", registry=r)
        self.alertmanager_pulls = Counter(
            "augur_alertmanager_pulls", "Pulls of Alertmanager's /api/v2/alerts, by outcome (ok, error).",
            ["outcome"], registry=r,
        )
        self.job_outcomes = Counter(
            "augur_job_outcomes",
            "Jobs finished by this process's workers, by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.intake_batch_size = Histogram(
            "augur_intake_batch_notifications",
            "Webhook notifications stored per intake transaction (group commit).",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32),
        )
        self.request_latency = Histogram(
            "augur_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route", "status"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        r.register(_QueueCollector(queue))
        r.register(_VerdictCollector(queue))


class RequestMetricsMiddleware:
    """ASGI middleware timing every HTTP request into :attr:`Metrics.request_latency`.

    The label is the matched route's path template (``/v1/incidents/{incident_id}``), never the raw
    path, so label cardinality stays bounded.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.request_latency.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - start
            )
