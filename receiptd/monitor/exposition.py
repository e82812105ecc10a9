"""Prometheus's text exposition format (0.0.4), and the three kinds of metric the daemon keeps.

receiptd exposes a few dozen series: counters the workers increment, one histogram, and
families built at scrape time from live state and the journal. That needs the format, not a
client library: ``prometheus_client`` costs 1.3 MB of resident memory and 32 modules in a
daemon that is measured by its idle footprint. The output follows the format as Prometheus
documents it and as ``prometheus_client`` writes it (``# HELP``, ``# TYPE``, a counter's
samples named ``<name>_total``, histogram buckets with ``le`` and a ``+Inf`` bucket, label
values escaped), so scrapers and ``promtool`` read it unchanged; per-series ``_created``
timestamps are not written (nothing reads them).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{_escape_label(str(v))}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


@dataclass
class Family:
    """One metric family at scrape time: a gauge or a counter with its samples.

    A counter's ``name`` is given without ``_total``; its samples are written with it.
    """

    name: str
    help: str
    kind: str = "gauge"  # "gauge" | "counter"
    labels: Sequence[str] = ()
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def add(self, values: Sequence[str], value: float) -> None:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.labels)} label values expected")
        self.samples.append((tuple(values), float(value)))

    def lines(self) -> Iterator[str]:
        sample = f"{self.name}_total" if self.kind == "counter" else self.name
        yield f"# HELP {sample} {_escape_help(self.help)}"
        yield f"# TYPE {sample} {self.kind}"
        for values, value in self.samples:
            yield f"{sample}{_labels(self.labels, values)} {_number(value)}"


def gauge(name: str, help: str, value: float) -> Family:
    """A gauge family with a single unlabelled sample."""
    family = Family(name, help)
    family.add((), value)
    return family


class Collector(Protocol):
    def collect(self) -> Iterable[Family]: ...


class CounterVec:
    """A counter per combination of label values, incremented by any thread."""

    def __init__(self, name: str, help: str, labels: Sequence[str]) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *values: str, amount: float = 1.0) -> None:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name}: {len(self.label_names)} label values expected")
        with self._lock:
            self._values[values] = self._values.get(values, 0.0) + amount

    def collect(self) -> Iterable[Family]:
        family = Family(self.name, self.help, "counter", self.label_names)
        with self._lock:
            for values, value in self._values.items():
                family.add(values, value)
        return [family]


class HistogramVec:
    """Cumulative buckets, count and sum per combination of label values."""

    def __init__(self, name: str, help: str, labels: Sequence[str],
                 buckets: Sequence[float]) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self.bounds = (*tuple(sorted(float(b) for b in buckets)), math.inf)
        self._series: dict[tuple[str, ...], list[float]] = {}  # bucket counts..., sum
        self._lock = threading.Lock()

    def observe(self, *values: str, value: float) -> None:
        with self._lock:
            series = self._series.setdefault(values, [0.0] * (len(self.bounds) + 1))
            for i, bound in enumerate(self.bounds):
                if value <= bound:
                    series[i] += 1
                    break
            series[-1] += value

    def collect(self) -> Iterable[Family]:
        return [_HistogramFamily(self)]


class _HistogramFamily(Family):
    def __init__(self, histogram: HistogramVec) -> None:
        super().__init__(histogram.name, histogram.help, "histogram", histogram.label_names)
        with histogram._lock:
            self._series = {k: list(v) for k, v in histogram._series.items()}
        self._bounds = histogram.bounds

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {_escape_help(self.help)}"
        yield f"# TYPE {self.name} histogram"
        names = ("le", *self.labels)
        for values, series in self._series.items():
            running = 0.0
            for bound, count in zip(self._bounds, series, strict=False):
                running += count
                le = "+Inf" if math.isinf(bound) else repr(bound)
                yield f"{self.name}_bucket{_labels(names, (le, *values))} {_number(running)}"
            labels = _labels(self.labels, values)
            yield f"{self.name}_count{labels} {_number(running)}"
            yield f"{self.name}_sum{labels} {_number(series[-1])}"


class Registry:
    """What ``/metrics`` writes: every registered collector's families, in order."""

    def __init__(self) -> None:
        self._collectors: list[Collector] = []

    def register(self, collector: Collector) -> None:
        self._collectors.append(collector)

    def render(self) -> bytes:
        out: list[str] = []
        for collector in self._collectors:
            for family in collector.collect():
                out.extend(family.lines())
        return ("\n".join(out) + "\n").encode() if out else b""


__all__ = ["CONTENT_TYPE", "Collector", "CounterVec", "Family", "HistogramVec", "Registry",
           "gauge"]
