"""A private cupsd for tests of the ``receiptd://`` backend: its own config, spool, state and
log directories under one temporary root, reached only through its own Unix socket. The
system's cupsd (if any) is never touched.

Its ``ServerBin`` is a directory of its own too, holding CUPS's programs (links to the
system's) and a ``backend/`` with the receiptd backend installed by the same
``receiptd-cups-backend install`` a shop runs, so the test covers the installer as well.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CUPSD = "/usr/sbin/cupsd"
LPADMIN = "/usr/sbin/lpadmin"
SYSTEM_SERVERBIN = Path("/usr/lib/cups")
# Debian: cups-daemon has cupsd, `cups` the backends and filters, cups-client lp/lpstat/lpadmin.
APT_PACKAGES = ("cups", "cups-client")


def unavailable() -> str | None:
    """None if a private cupsd can run here, else why not."""
    absent = [p for p in (CUPSD, LPADMIN, str(SYSTEM_SERVERBIN / "backend"))
              if not os.path.exists(p)]
    absent += [c for c in ("lp", "lpstat") if shutil.which(c) is None]
    if absent:
        return (f"CUPS is not installed (no {', '.join(absent)}; Debian: apt-get install "
                f"{' '.join(APT_PACKAGES)})")
    if os.geteuid() != 0:
        return "cupsd must start as root to run its backends as another user"
    return None


class CupsdProcess:
    """A cupsd of our own under ``root``: its process, its log, stopping it and removing
    everything it wrote. Shared by this module's ``PrivateCups`` and the benchmark's."""

    root: Path  # etc/ (cupsd.conf, cups-files.conf) and log/ under it
    socket: Path  # cupsd's Unix socket: there once it listens
    proc: subprocess.Popen[bytes] | None = None

    def launch(self, timeout: float) -> None:
        """Start cupsd on the configuration under ``root``; return once its socket exists."""
        etc = self.root / "etc"
        self.proc = subprocess.Popen(
            [CUPSD, "-f", "-c", str(etc / "cupsd.conf"), "-s", str(etc / "cups-files.conf")],
            stdout=subprocess.DEVNULL, stderr=(self.root / "log" / "stderr").open("wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private cupsd did not start: {self.log()}")
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def full_log(self) -> str:
        path = self.root / "log" / "error_log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log(self) -> str:
        return self.full_log()[-6000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateCups(CupsdProcess):
    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="receiptd-cups-"))
        self.root.chmod(0o755)  # the backend may run as lp, and must reach its config
        self.socket = self.root / "run" / "cups.sock"
        self.serverbin = self.root / "serverbin"
        #: The backend's config file (receiptd's URL and token); write it before ``start``.
        self.backend_config = self.root / "receiptd-cups.toml"
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    # ---------------------------------------------------------------- setting up

    def _write_config(self) -> None:
        r = self.root
        for sub in ("etc", "spool", "tmp", "cache", "state", "log", "run"):
            (r / sub).mkdir(mode=0o755)
        (r / "spool").chmod(0o710)
        self.serverbin.mkdir(mode=0o755)
        for entry in SYSTEM_SERVERBIN.iterdir():
            if entry.name != "backend":
                (self.serverbin / entry.name).symlink_to(entry)
        (self.serverbin / "backend").mkdir(mode=0o755)
        setenv = "".join(f"SetEnv {k} {v}\n" for k, v in self.env.items())
        (r / "etc" / "cups-files.conf").write_text(f"""\
ServerRoot {r}/etc
RequestRoot {r}/spool
TempDir {r}/tmp
CacheDir {r}/cache
StateDir {r}/state
ServerBin {self.serverbin}
DataDir /usr/share/cups
AccessLog {r}/log/access_log
ErrorLog {r}/log/error_log
PageLog {r}/log/page_log
User lp
Group lp
SystemGroup root
FileDevice No
{setenv}""")
        # JobRetryInterval 1: a job the backend asks to retry comes back within the test.
        # LogLevel debug2: cupsd logs the backend's INFO lines and every exit.
        (r / "etc" / "cupsd.conf").write_text(f"""\
Listen {self.socket}
LogLevel debug2
Browsing No
BrowseLocalProtocols none
DefaultAuthType None
WebInterface No
JobRetryInterval 1
PreserveJobFiles Yes
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
""")

    def install_backend(self) -> str:
        """``receiptd-cups-backend install`` into this cupsd's backend directory; its output."""
        r = subprocess.run(
            [sys.executable, "-m", "receiptd.cli.cups", "install",
             "--dir", str(self.serverbin / "backend"), "--config", str(self.backend_config)],
            capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"install failed ({r.returncode}): {r.stderr}{r.stdout}")
        return r.stdout

    def start(self) -> None:
        self._write_config()
        self.install_backend()
        self.launch(timeout=20.0)

    def add_queue(self, queue: str, device_uri: str) -> None:
        # lpadmin warns that raw queues are deprecated: stderr counts only on failure.
        self.run(LPADMIN, "-p", queue, "-E", "-v", device_uri, "-m", "raw")

    # ---------------------------------------------------------------- the CUPS clients

    def run(self, *args: str, stdin: bytes | None = None) -> str:
        """A CUPS client command against this cupsd (``-h`` its socket); its stdout."""
        cmd = [args[0], "-h", str(self.socket), *args[1:]]
        r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=30,
                           env={**os.environ, "CUPS_SERVER": str(self.socket)})
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: "
                               f"{r.stderr.decode(errors='replace')}")
        return r.stdout.decode(errors="replace")

    def lp(self, queue: str, data: bytes, *options: str) -> int:
        """Print ``data`` raw on ``queue``; the CUPS job id."""
        opts = [x for o in options for x in ("-o", o)]
        out = self.run("lp", "-d", queue, "-o", "raw", *opts, stdin=data)
        found = re.search(rf"request id is {re.escape(queue)}-(\d+)", out)
        if not found:
            raise RuntimeError(f"lp said: {out!r}")
        return int(found.group(1))

    def printer_status(self, queue: str) -> str:
        """``lpstat -l -p QUEUE``: the state, its message and the "Alerts" (state reasons)."""
        return self.run("lpstat", "-l", "-p", queue)

    def completed(self, queue: str) -> str:
        return self.run("lpstat", "-W", "completed", "-o", queue)

    def not_completed(self, queue: str) -> str:
        return self.run("lpstat", "-W", "not-completed", "-o", queue)

    def backend_exits(self, job_id: int) -> list[str]:
        """How each run of the job's backend ended, from cupsd's log, oldest first: "ok", or
        the exit status cupsd reported (``stopped with status 6``)."""
        pattern = re.compile(rf"\[Job {job_id}\] PID \d+ \([^)]*backend/[^)]*\) "
                             r"(exited with no errors|stopped with status \d+|crashed on .*)\.")
        return ["ok" if m.group(1).startswith("exited") else m.group(1)
                for m in pattern.finditer(self.full_log())]

    def wait_backend_runs(self, job_id: int, runs: int, timeout: float = 60.0) -> list[str]:
        """Wait until the job's backend has ended ``runs`` times; how each ended."""
        deadline = time.monotonic() + timeout
        while len(exits := self.backend_exits(job_id)) < runs:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        else:
            return exits
        raise AssertionError(f"job {job_id}: backend ran {len(exits)} of {runs} times in "
                             f"{timeout}s\n{self.log()}")

    def restart_job(self, job_id: int) -> None:
        """What an admin does to print a finished job again (``lp -i ID -H restart``): cupsd
        runs the backend again with the same job id and job-uuid."""
        self.run("lp", "-i", str(job_id), "-H", "restart")

