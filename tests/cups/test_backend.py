"""The backend program on its own, run the way cupsd runs it (``job user title copies options
file``, ``DEVICE_URI``, ``PRINTER``) against the real daemon: what it tells CUPS on stderr and
the exit code CUPS acts on (man 7 backend), for each way a job can end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from receiptd.cli.cups import DISCOVERY
from receiptd.cli.cups_job import Job, parse_options
from receiptd.cli.cups_report import REASONS, Reporter
from receiptd.emulator import Emulator
from receiptd.printer import PrinterState

from ..support import TOKENS, DaemonProcess, is_marked, slips_with, wait_until

OK, FAILED, STOP, CANCEL, RETRY = 0, 1, 4, 5, 6
UUID = "urn:uuid:5b1f0c1e-0000-3000-8000-00000000000{}"


class Backend:
    """One run of the backend, its stderr collected line by line as it comes."""

    def __init__(self, tmp: Path, daemon: DaemonProcess, data: bytes, job: int = 7,
                 uri: str = "receiptd://front", token: str = TOKENS["pos"],
                 options: str = f"job-uuid={UUID.format(1)} time-at-creation=1796221215",
                 copies: int = 1) -> None:
        config = tmp / f"cups-{job}.toml"
        config.write_text(f'url = "{daemon.url}"\ntoken = "{token}"\n')
        spool = tmp / f"d{job:05d}-001"
        spool.write_bytes(data)
        env = {**os.environ, "DEVICE_URI": uri, "PRINTER": "front",
               "CUPS_SERVERROOT": str(tmp), "RECEIPTD_CUPS_CONFIG": str(config)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "receiptd.cli.cups", str(job), "alice", "receipt",
             str(copies), options, str(spool)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait(self, timeout: float = 60) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def daemon(emulator: Emulator, daemon_factory: Callable[..., DaemonProcess]) -> DaemonProcess:
    emulator.start_tcp()
    return daemon_factory({"front": emulator.tcp_url})


def slip(tag: str) -> bytes:
    return b"\x1b@" + f"BACKEND {tag}\n".encode() + b"\x1dV\x00"


def receipts(daemon: DaemonProcess) -> list[dict[str, object]]:
    found: list[dict[str, object]] = daemon.clients["cashier"].get(
        "/v1/receipts", params={"source": "cups"}).json()["receipts"]
    return found


# ------------------------------------------------------------------ discovery and success


def test_without_arguments_it_names_its_scheme() -> None:
    r = subprocess.run([sys.executable, "-m", "receiptd.cli.cups"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == OK
    assert r.stdout == DISCOVERY + "\n" == (
        'network receiptd "Unknown" "receiptd (journaled receipts)"\n')


def test_printed_exits_ok_after_clearing_stale_reasons(
    tmp_path: Path, daemon: DaemonProcess, emulator: Emulator
) -> None:
    run = Backend(tmp_path, daemon, slip("OK"))
    assert run.wait() == OK, run.stderr
    state_lines = [line for line in run.lines if line.startswith("STATE:")]
    # Reasons a killed earlier run may have left on the queue go first.
    assert state_lines[0].startswith("STATE: -") and "media-empty-error" in state_lines[0]
    assert run.said("printed")
    [receipt] = receipts(daemon)
    assert receipt["state"] == "printed"
    assert len(slips_with(emulator, "BACKEND OK")) == 1


def test_running_the_same_job_twice_is_one_receipt_another_uuid_is_another(
    tmp_path: Path, daemon: DaemonProcess, emulator: Emulator
) -> None:
    for _ in range(2):
        run = Backend(tmp_path, daemon, slip("TWICE"))
        assert run.wait() == OK, run.stderr
    assert run.said("already accepted (CUPS retry)")
    assert len(receipts(daemon)) == 1
    # The same job id with another job-uuid: cupsd's job ids started again after its state
    # was wiped. A new job, printed, unmarked.
    again = Backend(tmp_path, daemon, slip("TWICE"), options=f"job-uuid={UUID.format(2)}")
    assert again.wait() == OK, again.stderr
    assert len(receipts(daemon)) == 2
    slips = slips_with(emulator, "BACKEND TWICE")
    assert len(slips) == 2 and not any(is_marked(s) for s in slips)


def test_an_empty_job_prints_nothing(tmp_path: Path, daemon: DaemonProcess) -> None:
    run = Backend(tmp_path, daemon, b"")
    assert run.wait() == OK, run.stderr
    assert receipts(daemon) == []


def test_copies_print_one_original_and_say_so(tmp_path: Path, daemon: DaemonProcess) -> None:
    run = Backend(tmp_path, daemon, slip("COPIES"), copies=3)
    assert run.wait() == OK, run.stderr
    assert run.said("WARNING: copies=3")
    assert len(receipts(daemon)) == 1


# ------------------------------------------------------------------ refusals


def test_a_wrong_queue_stops_it(tmp_path: Path, daemon: DaemonProcess) -> None:
    """Unknown printer, bad token, or a URI that is not receiptd's: no job can print until an
    admin fixes the queue, so CUPS stops the queue and keeps the job (CUPS_BACKEND_STOP)."""
    cases = [("receiptd://back", TOKENS["pos"], "unknown_printer"),
             ("receiptd://front", "not-a-token", "unauthorized"),
             ("socket://front", TOKENS["pos"], "is not receiptd://")]
    for job, (uri, token, why) in enumerate(cases, start=1):
        run = Backend(tmp_path, daemon, slip("STOP"), job=job, uri=uri, token=token)
        assert run.wait() == STOP, (uri, run.stderr)
        assert any(line.startswith("ERROR:") and why in line for line in run.lines), run.stderr
    assert receipts(daemon) == []


def test_a_job_receiptd_refuses_is_cancelled(tmp_path: Path, daemon: DaemonProcess) -> None:
    """Bytes outside the raw allow-list (here GS ( E, memory switches) can never print: CUPS
    cancels the job (CUPS_BACKEND_CANCEL) rather than retry it forever."""
    run = Backend(tmp_path, daemon, bytes.fromhex("1b 40 1d 28 45 03 00 01 49 4e"))
    assert run.wait() == CANCEL, run.stderr
    assert run.said("raw_forbidden_command")
    assert receipts(daemon) == []


# ------------------------------------------------------------------ waiting


def test_it_waits_for_a_daemon_that_is_down_and_prints_once_it_is_back(
    tmp_path: Path, daemon: DaemonProcess, emulator: Emulator
) -> None:
    daemon.kill()
    run = Backend(tmp_path, daemon, slip("LATE"))
    wait_until(lambda: run.said("STATE: +connecting-to-device"), timeout=30,
               what="connecting-to-device")
    assert run.proc.poll() is None  # waiting, not failed
    daemon.start()  # same port
    assert run.wait() == OK, run.stderr
    assert run.said("STATE: -connecting-to-device")
    assert len(slips_with(emulator, "BACKEND LATE")) == 1


def test_cover_open_is_reported_then_cleared_and_sigterm_leaves_the_receipt(
    tmp_path: Path, daemon: DaemonProcess, emulator: Emulator
) -> None:
    emulator.inject("cover_open")
    daemon.wait_state("cover_open")
    run = Backend(tmp_path, daemon, slip("COVER"))
    wait_until(lambda: run.said("STATE: +cover-open-report"), timeout=30, what="cover open")
    # cupsd stops a backend with SIGTERM (job cancelled, cupsd stopping): it exits at once;
    # what receiptd accepted still prints when the cover is closed.
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait(30) == RETRY, run.stderr
    [receipt] = receipts(daemon)
    emulator.clear("cover_open")
    daemon.wait_printed(int(str(receipt["id"])))
    assert len(slips_with(emulator, "BACKEND COVER")) == 1


# ------------------------------------------------------------------ the parts


def test_every_printer_state_has_its_reasons() -> None:
    assert set(REASONS) == {s.value for s in PrinterState}
    assert REASONS["paper_out"] == ("media-empty-error", "media-needed-error")
    assert REASONS["cover_open"] == ("cover-open-report",)
    assert REASONS["offline"] == ("offline-report",)


def test_reporter_changes_only_what_moved(tmp_path: Path) -> None:
    out = tmp_path / "stderr"
    with out.open("w") as f:
        reporter = Reporter(f)
        reporter.printer_state("paper_out", "Load paper.")
        reporter.printer_state("paper_out")
        reporter.printer_state("cover_open")
        reporter.printer_state("online")
        reporter.printer_state("paper_near_end")
        reporter.printed()  # the roll is still near its end
        reporter.printer_state("cover_open")
        reporter.printed()
    assert out.read_text().splitlines() == [
        "STATE: +media-empty-error,media-needed-error",
        "INFO: paper out: Load paper.",
        "STATE: -media-empty-error,media-needed-error",
        "STATE: +cover-open-report",
        "STATE: -cover-open-report",
        "STATE: +media-low-warning",
        "STATE: -media-low-warning",
        "STATE: +cover-open-report",
        "STATE: -cover-open-report",
    ]


def test_job_arguments_and_key() -> None:
    opts = "finishings=3 job-uuid=urn:uuid:1 time-at-creation=5 receiptd-order-ref='A 1' raw"
    assert parse_options(opts) == {"finishings": "3", "job-uuid": "urn:uuid:1",
                                   "time-at-creation": "5", "receiptd-order-ref": "A 1",
                                   "raw": "true"}
    job = Job.from_argv(["12", "alice", "t", "1", opts])
    assert job.order_ref() == "A 1" and job.file is None
    key = job.key("till-1", "front")
    assert key.startswith("cups-12-") and len(key) <= 128
    assert key == Job.from_argv(["12", "bob", "u", "2", opts]).key("till-1", "front")
    assert key != job.key("till-2", "front") != job.key("till-1", "back")
    other = Job.from_argv(["12", "alice", "t", "1", opts.replace("urn:uuid:1", "urn:uuid:2")])
    assert other.key("till-1", "front") != key
