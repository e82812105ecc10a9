"""Prometheus metrics: counters fed by the workers, gauges read from live state at scrape.

Written in Prometheus's text format by ``monitor.exposition`` (no client library).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from receiptd.journal import Journal, Print, utcnow
from receiptd.monitor.exposition import CounterVec, Family, HistogramVec, Registry
from receiptd.monitor.health import Fleet
from receiptd.printer import PrinterState, Transition
from receiptd.spool.spooler import Outcome


class _Live:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def collect(self) -> Iterator[Family]:
        state = Family("receiptd_printer_state", "1 for the printer's current state",
                                  labels=["printer", "state"])
        connected = Family("receiptd_printer_connected", "link is up",
                                      labels=["printer"])
        depth = Family("receiptd_queue_depth", "prints waiting", labels=["printer"])
        oldest = Family("receiptd_queue_oldest_age_seconds",
                                   "age of the oldest waiting print", labels=["printer"])
        doubt = Family("receiptd_prints_in_doubt", "prints sent, not yet confirmed",
                                  labels=["printer"])
        journal = self.fleet.journal()
        for name, session in self.fleet.sessions.items():
            snap = session.snapshot()
            for s in PrinterState:
                state.add([name, s.value], 1.0 if snap.state == s else 0.0)
            connected.add([name], 1.0 if snap.connected else 0.0)
            stats = journal.search.queue_stats(name)
            depth.add([name], stats.depth)
            doubt.add([name], stats.in_doubt)
            queued_at = stats.oldest_queued_at
            age = (utcnow() - queued_at).total_seconds() if queued_at else 0.0
            oldest.add([name], max(0.0, age))
        size = Family("receiptd_journal_bytes",
                                 "journal size on disk: the file and its WAL")
        path = self.fleet.config.daemon.journal
        total = 0
        for part in (path, f"{path}-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(part)
        size.add([], total)
        yield from (state, connected, depth, oldest, doubt, size)
        yield from self._history(journal)

    def _history(self, journal: Journal) -> Iterator[Family]:
        """Counts kept in the journal (they survive restarts) and the fault history."""
        per_printer = ["printer"]
        def counter(name: str, help: str, labels: list[str] = per_printer) -> Family:
            return Family(name, help, "counter", labels)

        def gauge(name: str, help: str, labels: list[str] = per_printer) -> Family:
            return Family(name, help, "gauge", labels)

        submitted = counter("receiptd_receipts_submitted", "receipts accepted")
        printed = counter("receiptd_receipts_printed", "originals confirmed printed")
        reprints = counter("receiptd_reprints_requested", "cashier copies asked")
        retries = counter("receiptd_prints_interrupted",
                          "prints cut short and requeued as marked reprints")
        held = counter("receiptd_prints_held", "prints held for a person after too many "
                       "interrupted attempts in a row")
        failed = counter("receiptd_prints_failed", "prints that could not be made from the journal")
        paper = counter("receiptd_paper_used_mm", "paper used (estimated)")
        roll = gauge("receiptd_paper_roll_remaining_mm",
                     "paper left on the roll (estimate; needs roll_length_m)")
        fault_s = counter("receiptd_printer_fault_seconds",
                          "time spent in each fault state (journal history)", ["printer", "state"])
        outages = counter("receiptd_printer_outages", "fault episodes (journal)")
        mttr = gauge("receiptd_printer_mttr_seconds", "mean time from a fault to ready again")
        maint = gauge("receiptd_printer_maintenance", "printer's own GS g 2 counters",
                      ["printer", "counter"])
        for name, session in self.fleet.sessions.items():
            counters = journal.search.counters(name)
            submitted.add([name], counters.get("submitted", 0))
            printed.add([name], counters.get("printed_originals", 0))
            reprints.add([name], counters.get("reprints_requested", 0))
            retries.add([name], counters.get("interrupted_retries", 0))
            held.add([name], counters.get("held", 0))
            failed.add([name], counters.get("failed", 0))
            used = float(counters.get("paper_mm", 0.0))
            paper.add([name], used)
            history = self.fleet.health.history(journal, name)
            estimate = history.roll(used, self.fleet.config.printers[name].roll_length_m)
            if estimate["roll_remaining_mm"] is not None:
                roll.add([name], estimate["roll_remaining_mm"])
            summary = history.summary()
            for fault, entry in summary["faults"].items():
                fault_s.add([name, fault], entry["seconds"])
            outages.add([name], summary["outages"])
            if summary["mttr_s"] is not None:
                mttr.add([name], summary["mttr_s"])
            for key, value in session.snapshot().maintenance.items():
                maint.add([name, key], value)
        yield from (submitted, printed, reprints, retries, held, failed, paper, roll, fault_s,
                    outages, mttr, maint)


class Metrics:
    def __init__(self, fleet: Fleet) -> None:
        self.registry = Registry()
        self.registry.register(_Live(fleet))
        self.faults = CounterVec("receiptd_printer_faults", "fault states entered",
                                 ["printer", "state"])
        self.prints = CounterVec("receiptd_prints", "prints finished",
                                 ["printer", "kind", "result"])
        self.confirmations = CounterVec("receiptd_confirmations", "prints confirmed",
                                        ["printer", "method"])
        self.latency = HistogramVec("receiptd_print_seconds", "first byte to confirmation",
                                    ["printer"], buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        for metric in (self.faults, self.prints, self.confirmations, self.latency):
            self.registry.register(metric)

    def on_transition(self, t: Transition) -> None:
        if t.state not in (PrinterState.ONLINE, PrinterState.UNKNOWN):
            self.faults.inc(t.printer, t.state.value)

    def on_outcome(self, job: Print, outcome: Outcome, seconds: float) -> None:
        result = outcome.kind
        self.prints.inc(job.printer, job.kind, result)
        if outcome.printed:
            self.confirmations.inc(job.printer, outcome.confirmation or "process_id")
            self.latency.observe(job.printer, value=seconds)

    def render(self) -> bytes:
        return self.registry.render()
