"""Prometheus metrics: what ``GET /metrics`` answers.

Two kinds of figures:

* **Process counters**, counted where things happen: requests by method, route template
  and status with their latencies (:func:`observe_request`, called by the request
  middleware), and failed insurer or bureau calls by adapter, status and error class
  (:func:`count_call_error`, registered with the HTTP client's observers by
  :func:`install`). With several worker processes (``tci serve --workers N``) they are kept
  in prometheus_client's multiprocess mode: ``tci serve`` gives the workers a fresh
  directory (``PROMETHEUS_MULTIPROC_DIR``, see :func:`multiprocess_directory`) and a
  scrape of any worker sums every worker's files, so the answer does not depend on which
  worker the scrape reached. Several *instances* are scraped one by one, as Prometheus
  does, and summed there.
* **Ledger figures**, read at scrape time by :class:`LedgerCollector`: sync and job
  outcomes, outbox depth. They come from the ledger, so every process of every instance
  reports the same figures, whichever process did the work.

Labels never carry a buyer, an amount or a secret, and an unmatched path is counted under
the route ``unmatched`` (a scan of random URLs does not create new series).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from tci_gateway.api.context import ApiContext
from tci_gateway.errors import AdapterError
from tci_gateway.http.observers import add_call_error_observer
from tci_gateway.ledger.ops_figures import LedgerFigures, read_figures
from tci_gateway.logs import get_logger, redact_text

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess_dir() -> str | None:
    """The multiprocess directory this process writes its counters to, if any (read once
    by prometheus_client when it is first imported, so set before the process starts)."""
    return os.environ.get(MULTIPROCESS_ENV) or None


# No ``_created`` series beside every counter: noise for Prometheus.
disable_created_metrics()  # type: ignore[no-untyped-call]

# One registry for the process's own counters (not prometheus_client's global one, so
# that nothing a library registers there leaks into the answer).
PROCESS_REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "tci_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=PROCESS_REGISTRY,
)
LATENCY = Histogram(
    "tci_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
    registry=PROCESS_REGISTRY,
)
INSURER_CALL_ERRORS = Counter(
    "tci_insurer_call_errors",
    "Failed attempts of calls to insurer and bureau APIs (each retry counts), by adapter, "
    "HTTP status ('none' when no answer came: connection failure, timeout, reset) and "
    "error class.",
    ["adapter", "status", "error"],
    registry=PROCESS_REGISTRY,
)
if multiprocess_dir() is None:
    # CPU, memory and file descriptors of this process; meaningless summed over workers.
    ProcessCollector(registry=PROCESS_REGISTRY)

_installed = threading.Lock()
_remove_observer: list[Any] = []


def observe_request(scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
    """Count one answered request; its route is the matched route's template (e.g.
    ``/v1/buyers/{buyer_id}``), never the raw path."""
    route = getattr(scope.get("route"), "path", None)
    label = route if isinstance(route, str) else UNMATCHED
    method = str(scope.get("method", ""))
    REQUESTS.labels(method, label, str(status)).inc()
    LATENCY.labels(method, label).observe(seconds)


def count_call_error(error: AdapterError) -> None:
    """Count one failed attempt of an insurer or bureau call."""
    status = str(error.status) if error.status is not None else "none"
    INSURER_CALL_ERRORS.labels(error.adapter or "unknown", status, type(error).__name__).inc()


def install() -> None:
    """Count failed insurer calls from now on (idempotent: once per process)."""
    with _installed:
        if not _remove_observer:
            _remove_observer.append(add_call_error_observer(count_call_error))


class LedgerCollector(Collector):
    """Sync and job outcomes and outbox depth, read from the ledger at each scrape.

    A ledger that does not answer is ``tci_ledger_up 0`` and no ledger figures (the scrape
    itself still succeeds, with the process counters)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tci_ledger_up", "1 when the ledger answered this scrape.")
        try:
            with self.ctx.ledger.reading() as session:
                figures = read_figures(session)
        except Exception as exc:  # any driver error: report it as a figure, not a 500
            get_logger().warning(
                "metrics_ledger_unavailable",
                error=f"{type(exc).__name__}: {redact_text(str(exc))}",
            )
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from ledger_metrics(figures, self.ctx.now())


def ledger_metrics(figures: LedgerFigures, now: datetime) -> Iterable[Metric]:
    """The ledger figures as metric families (``now`` for the outbox ages)."""
    syncs = GaugeMetricFamily(
        "tci_sync_runs",
        "Limit sync runs in the ledger, by insurer and outcome (running, succeeded, "
        "partial, failed).",
        labels=["insurer", "status"],
    )
    sync_last = GaugeMetricFamily(
        "tci_sync_last_finished_timestamp_seconds",
        "When the last sync run of an insurer with this outcome finished (Unix time).",
        labels=["insurer", "status"],
    )
    for outcome in figures.sync_runs:
        syncs.add_metric([outcome.name, outcome.state], outcome.count)
        if outcome.last_finished_at is not None:
            sync_last.add_metric(
                [outcome.name, outcome.state], outcome.last_finished_at.timestamp()
            )
    jobs = GaugeMetricFamily(
        "tci_job_runs",
        "Scheduler job runs in the ledger, by job and state (RUNNING, SUCCEEDED, FAILED).",
        labels=["job", "state"],
    )
    job_last = GaugeMetricFamily(
        "tci_job_last_finished_timestamp_seconds",
        "When the last run of a job in this state finished (Unix time).",
        labels=["job", "state"],
    )
    for outcome in figures.job_runs:
        jobs.add_metric([outcome.name, outcome.state], outcome.count)
        if outcome.last_finished_at is not None:
            job_last.add_metric([outcome.name, outcome.state], outcome.last_finished_at.timestamp())
    depth = GaugeMetricFamily(
        "tci_outbox_pending",
        "Outbox rows still waiting, by outbox (cover_requests, case_actions, "
        "webhook_deliveries) and state.",
        labels=["outbox", "state"],
    )
    age = GaugeMetricFamily(
        "tci_outbox_oldest_pending_age_seconds",
        "Age of the oldest waiting row of an outbox in this state (0 when none waits).",
        labels=["outbox", "state"],
    )
    for row in figures.outbox:
        depth.add_metric([row.outbox, row.state], row.count)
        waited = (now - row.oldest_at).total_seconds() if row.oldest_at is not None else 0.0
        age.add_metric([row.outbox, row.state], max(0.0, waited))
    return [syncs, sync_last, jobs, job_last, depth, age]


class _Forward(Collector):
    """The process registry's metrics, inside a per-scrape registry."""

    def collect(self) -> Iterator[Metric]:
        yield from PROCESS_REGISTRY.collect()


def render(ctx: ApiContext) -> bytes:
    """The Prometheus text exposition for this process (every worker's counters in
    multiprocess mode) and the ledger's figures."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is not None:
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward())
    registry.register(LedgerCollector(ctx))
    return generate_latest(registry)


@contextmanager
def multiprocess_directory() -> Iterator[str]:
    """For ``tci serve --workers N``: the directory the workers keep their counters in,
    exported as ``PROMETHEUS_MULTIPROC_DIR`` for the worker processes (which import
    prometheus_client afresh). An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is used as
    is (it must be emptied before each start, as prometheus_client requires); otherwise a
    fresh directory is made and removed afterwards."""
    given = multiprocess_dir()
    if given is not None:
        yield given
        return
    directory = tempfile.mkdtemp(prefix="tci-metrics-")
    os.environ[MULTIPROCESS_ENV] = directory
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROCESS_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)
