"""Prometheus metrics: counters fed by the workers, gauges read from live state at scrape."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .journal import utcnow
from .printer import PrinterState, Transition

if TYPE_CHECKING:
    from .daemon import Daemon
    from .spooler import Outcome


class _Live(Collector):
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = GaugeMetricFamily("receiptd_printer_state", "1 for the printer's current state",
                                  labels=["printer", "state"])
        connected = GaugeMetricFamily("receiptd_printer_connected", "link is up",
                                      labels=["printer"])
        depth = GaugeMetricFamily("receiptd_queue_depth", "prints waiting", labels=["printer"])
        oldest = GaugeMetricFamily("receiptd_queue_oldest_age_seconds",
                                   "age of the oldest waiting print", labels=["printer"])
        doubt = GaugeMetricFamily("receiptd_prints_in_doubt", "prints sent, not yet confirmed",
                                  labels=["printer"])
        journal = self.daemon.journal()
        for name, session in self.daemon.sessions.items():
            snap = session.snapshot()
            for s in PrinterState:
                state.add_metric([name, s.value], 1.0 if snap.state == s else 0.0)
            connected.add_metric([name], 1.0 if snap.connected else 0.0)
            stats = journal.queue_stats(name)
            depth.add_metric([name], stats.depth)
            doubt.add_metric([name], stats.in_doubt)
            queued_at = stats.oldest_queued_at
            age = (utcnow() - queued_at).total_seconds() if queued_at else 0.0
            oldest.add_metric([name], max(0.0, age))
        size = GaugeMetricFamily("receiptd_journal_bytes", "journal file size")
        try:
            size.add_metric([], os.path.getsize(self.daemon.config.daemon.journal))
        except OSError:
            size.add_metric([], 0)
        yield from (state, connected, depth, oldest, doubt, size)


class Metrics:
    def __init__(self, daemon: Daemon) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Live(daemon))
        self.faults = Counter("receiptd_printer_faults", "fault states entered",
                              ["printer", "state"], registry=self.registry)
        self.prints = Counter("receiptd_prints", "prints finished", ["printer", "kind", "result"],
                              registry=self.registry)
        self.confirmations = Counter("receiptd_confirmations", "prints confirmed",
                                     ["printer", "method"], registry=self.registry)
        self.latency = Histogram(
            "receiptd_print_seconds", "first byte to confirmation", ["printer"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60), registry=self.registry,
        )

    def on_transition(self, t: Transition) -> None:
        if t.state not in (PrinterState.ONLINE, PrinterState.UNKNOWN):
            self.faults.labels(t.printer, t.state.value).inc()

    def on_outcome(self, job: Any, outcome: Outcome, seconds: float) -> None:
        result = "printed" if outcome.printed else "interrupted"
        self.prints.labels(job.printer, job.kind, result).inc()
        if outcome.printed:
            self.confirmations.labels(job.printer, outcome.confirmation or "process_id").inc()
            self.latency.labels(job.printer).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
