"""The command lines: ``receiptctl`` against the real daemon (TCP and Unix socket), ``receiptd``
configuration output, and a clean SIGTERM drain."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from receiptd.emulator import Emulator

from ..support import TOKENS, DaemonProcess, sample_document, slips_with, wait_until


def ctl(daemon: DaemonProcess, role: str, *args: str, stdin: str | None = None,
        socket: Path | None = None) -> subprocess.CompletedProcess[str]:
    where = ["--socket", str(socket)] if socket else ["--url", daemon.url]
    return subprocess.run(
        [sys.executable, "-m", "receiptd.cli.ctl", *where, "--token", TOKENS[role], *args],
        input=stdin, capture_output=True, text=True, timeout=30, env=daemon.env,
    )


def test_receiptctl_round_trip(emulator: Emulator, tmp_path: Path,
                               daemon_factory: Callable[..., DaemonProcess]) -> None:
    emulator.start_tcp()
    daemon = daemon_factory({"front": emulator.tcp_url})
    doc = tmp_path / "r.json"
    doc.write_text(json.dumps(sample_document("CTL-1")))
    out = ctl(daemon, "pos", "print", str(doc), "--order-ref", "T-77")
    assert out.returncode == 0, out.stderr
    receipt_id = int(out.stdout.split()[1])
    daemon.wait_printed(receipt_id)

    out = ctl(daemon, "pos", "print", "-", stdin="plain text receipt\nline two\n")
    assert out.returncode == 0, out.stderr
    daemon.wait_printed(int(out.stdout.split()[1]))
    assert slips_with(emulator, "plain text receipt")

    out = ctl(daemon, "cashier", "receipts", "--order-ref", "T-77")
    assert out.returncode == 0 and f"{receipt_id} " in out.stdout and "T-77" in out.stdout
    out = ctl(daemon, "pos", "show", str(receipt_id))
    assert out.returncode == 0 and "original" in out.stdout and "printed" in out.stdout
    out = ctl(daemon, "cashier", "reprint", str(receipt_id), "--reason", "lost")
    assert out.returncode == 0, out.stderr
    wait_until(lambda: daemon.receipt(receipt_id)["copies"] == 1, what="copy")
    out = ctl(daemon, "admin", "printers")
    assert out.returncode == 0 and "front" in out.stdout and "online" in out.stdout

    out = ctl(daemon, "pos", "receipts")  # pos may not search: a clear error, exit 1
    assert out.returncode == 1 and "forbidden" in out.stderr


def test_unix_socket_api(emulator: Emulator, tmp_path: Path,
                         daemon_factory: Callable[..., DaemonProcess]) -> None:
    emulator.start_tcp()
    sock = tmp_path / "run" / "receiptd.sock"
    daemon = daemon_factory({"front": emulator.tcp_url}, extra_args=["--unix-socket", str(sock)])
    mode = stat.S_IMODE(os.stat(sock).st_mode)
    assert mode & 0o007 == 0, oct(mode)  # no access for others
    out = ctl(daemon, "pos", "print", "-", stdin="over the unix socket\n", socket=sock)
    assert out.returncode == 0, out.stderr
    daemon.wait_printed(int(out.stdout.split()[1]))


def test_receiptd_config_prints_effective_config(tmp_path: Path) -> None:
    cfg = tmp_path / "r.toml"
    cfg.write_text('[printers.front]\nurl = "tcp://10.1.2.3:9100"\n')
    out = subprocess.run([sys.executable, "-m", "receiptd.cli.daemon", "config", "--config",
                          str(cfg), "--token", "admin:supersecret1"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    effective = json.loads(out.stdout)
    assert effective["printers"]["front"]["url"] == "tcp://10.1.2.3:9100"
    assert effective["tokens"][0]["secret"] == "***"
    cfg.write_text('[printers.front]\nurl = "tcp://10.1.2.3:9100"\ncolour = "red"\n')
    out = subprocess.run([sys.executable, "-m", "receiptd.cli.daemon", "config", "--config",
                          str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 78 and "printers.front.colour" in out.stderr


def test_sigterm_finishes_the_print_in_hand(daemon_factory: Callable[..., DaemonProcess]) -> None:
    with Emulator() as emu:
        emu.start_tcp()
        daemon = daemon_factory({"front": emu.tcp_url})
        assert daemon.proc is not None
        # 10 mm into the receipt the head crawls: the rest cannot come out before it is let go,
        # so the print is on its way out when SIGTERM arrives, whatever the machine's speed.
        emu.arm("slow", after_mm=10, mm_per_s=0.2)
        receipt = daemon.submit({"document": sample_document("DRAIN", lines=12)})
        emu.wait(lambda e: "slow" in e.transcript.events(), timeout=20)
        assert daemon.receipt(receipt["id"])["state"] == "printing"
        slip = slips_with(emu, "RECEIPT DRAIN")
        assert len(slip) == 1 and slip[0][-1]["type"] != "cut"  # mid-receipt

        daemon.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: '"draining"' in daemon.log(), what="the daemon draining")
        assert daemon.proc.poll() is None  # it waits for the receipt on the paper
        emu.clear("slow")
        assert daemon.proc.wait(30) == 0, daemon.log()
        daemon.start()  # the journal says how it ended: confirmed before exit, not in doubt
        final = daemon.receipt(receipt["id"])
        assert final["state"] == "printed", (final, daemon.log())
        assert [p["kind"] for p in final["prints"]] == ["original"]
        slips = slips_with(emu, "RECEIPT DRAIN")
        assert len(slips) == 1 and slips[0][-1]["type"] == "cut"
