"""Prometheus metrics: counters fed by the workers, gauges read from live state at scrape."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from receiptd.journal import Journal, Print, utcnow
from receiptd.monitor.health import Fleet
from receiptd.printer import PrinterState, Transition
from receiptd.spool.spooler import Outcome


class _Live(Collector):
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("receiptd_printer_state", "1 for the printer's current state",
                                  labels=["printer", "state"])
        connected = GaugeMetricFamily("receiptd_printer_connected", "link is up",
                                      labels=["printer"])
        depth = GaugeMetricFamily("receiptd_queue_depth", "prints waiting", labels=["printer"])
        oldest = GaugeMetricFamily("receiptd_queue_oldest_age_seconds",
                                   "age of the oldest waiting print", labels=["printer"])
        doubt = GaugeMetricFamily("receiptd_prints_in_doubt", "prints sent, not yet confirmed",
                                  labels=["printer"])
        journal = self.fleet.journal()
        for name, session in self.fleet.sessions.items():
            snap = session.snapshot()
            for s in PrinterState:
                state.add_metric([name, s.value], 1.0 if snap.state == s else 0.0)
            connected.add_metric([name], 1.0 if snap.connected else 0.0)
            stats = journal.search.queue_stats(name)
            depth.add_metric([name], stats.depth)
            doubt.add_metric([name], stats.in_doubt)
            queued_at = stats.oldest_queued_at
            age = (utcnow() - queued_at).total_seconds() if queued_at else 0.0
            oldest.add_metric([name], max(0.0, age))
        size = GaugeMetricFamily("receiptd_journal_bytes",
                                 "journal size on disk: the file and its WAL")
        path = self.fleet.config.daemon.journal
        total = 0
        for part in (path, f"{path}-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(part)
        size.add_metric([], total)
        yield from (state, connected, depth, oldest, doubt, size)
        yield from self._history(journal)

    def _history(self, journal: Journal) -> Iterator[Metric]:
        """Counts kept in the journal (they survive restarts) and the fault history."""
        per_printer = ["printer"]
        submitted = CounterMetricFamily("receiptd_receipts_submitted", "receipts accepted",
                                        labels=per_printer)
        printed = CounterMetricFamily("receiptd_receipts_printed", "originals confirmed printed",
                                      labels=per_printer)
        reprints = CounterMetricFamily("receiptd_reprints_requested", "cashier copies asked",
                                       labels=per_printer)
        retries = CounterMetricFamily("receiptd_prints_interrupted",
                                      "prints cut short and requeued as marked reprints",
                                      labels=per_printer)
        held = CounterMetricFamily("receiptd_prints_held",
                                   "prints held for a person after too many interrupted "
                                   "attempts in a row", labels=per_printer)
        failed = CounterMetricFamily("receiptd_prints_failed",
                                     "prints that could not be made from the journal",
                                     labels=per_printer)
        paper = CounterMetricFamily("receiptd_paper_used_mm", "paper used (estimated)",
                                    labels=per_printer)
        roll = GaugeMetricFamily("receiptd_paper_roll_remaining_mm",
                                 "paper left on the roll (estimate; needs roll_length_m)",
                                 labels=per_printer)
        fault_s = CounterMetricFamily("receiptd_printer_fault_seconds",
                                      "time spent in each fault state (journal history)",
                                      labels=["printer", "state"])
        outages = CounterMetricFamily("receiptd_printer_outages", "fault episodes (journal)",
                                      labels=per_printer)
        mttr = GaugeMetricFamily("receiptd_printer_mttr_seconds",
                                 "mean time from a fault to ready again", labels=per_printer)
        maint = GaugeMetricFamily("receiptd_printer_maintenance",
                                  "printer's own GS g 2 counters", labels=["printer", "counter"])
        for name, session in self.fleet.sessions.items():
            counters = journal.search.counters(name)
            submitted.add_metric([name], counters.get("submitted", 0))
            printed.add_metric([name], counters.get("printed_originals", 0))
            reprints.add_metric([name], counters.get("reprints_requested", 0))
            retries.add_metric([name], counters.get("interrupted_retries", 0))
            held.add_metric([name], counters.get("held", 0))
            failed.add_metric([name], counters.get("failed", 0))
            used = float(counters.get("paper_mm", 0.0))
            paper.add_metric([name], used)
            history = self.fleet.health.history(journal, name)
            estimate = history.roll(used, self.fleet.config.printers[name].roll_length_m)
            if estimate["roll_remaining_mm"] is not None:
                roll.add_metric([name], estimate["roll_remaining_mm"])
            summary = history.summary()
            for fault, entry in summary["faults"].items():
                fault_s.add_metric([name, fault], entry["seconds"])
            outages.add_metric([name], summary["outages"])
            if summary["mttr_s"] is not None:
                mttr.add_metric([name], summary["mttr_s"])
            for key, value in session.snapshot().maintenance.items():
                maint.add_metric([name, key], value)
        yield from (submitted, printed, reprints, retries, held, failed, paper, roll, fault_s,
                    outages, mttr, maint)


class Metrics:
    def __init__(self, fleet: Fleet) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Live(fleet))
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

    def on_outcome(self, job: Print, outcome: Outcome, seconds: float) -> None:
        result = outcome.kind
        self.prints.labels(job.printer, job.kind, result).inc()
        if outcome.printed:
            self.confirmations.labels(job.printer, outcome.confirmation or "process_id").inc()
            self.latency.labels(job.printer).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
