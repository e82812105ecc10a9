"""A private CUPS server for the benchmark: its own config, spool, state and log directories,
its own port and Unix socket. The system's cupsd (if any) is never touched, and this one is
stopped and removed at the end.

The queue is what POS installations use today: a raw queue (`-m raw`, no filters) whose device
is `socket://HOST:PORT` (the AppSocket/JetDirect backend, like a LAN receipt printer's 9100).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from receiptd.testing.cups import CupsdProcess

CUPSD = "/usr/sbin/cupsd"
LPADMIN = "/usr/sbin/lpadmin"
BACKEND = "/usr/lib/cups/backend/socket"  # the raw queue's device: socket://HOST:PORT
# Debian: cups-daemon has cupsd but no backends; `cups` adds them (socket among them);
# cups-client has lpadmin and lp. ci/apt-packages.txt lists the same two for `make test`.
APT_PACKAGES = ("cups", "cups-client")


def _absent() -> list[str]:
    need = [CUPSD, LPADMIN, BACKEND]
    return [p for p in need if not os.path.exists(p)] + ([] if shutil.which("lp") else ["lp"])


def available() -> str | None:
    """None if a private CUPS can run here, else why not."""
    if absent := _absent():
        return (f"CUPS is not installed (no {', '.join(absent)}; Debian: "
                f"apt-get install {' '.join(APT_PACKAGES)})")
    if os.geteuid() != 0:
        return "cupsd needs root to start its backends as user lp"
    return None


def ensure_installed() -> None:
    """Install Debian's CUPS if any part the benchmark uses is missing and we are root."""
    if not _absent():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(f"please install: {' '.join(APT_PACKAGES)} ({', '.join(_absent())} "
                           "missing)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-qq", "-o", "DPkg::Lock::Timeout=300"]
    subprocess.run([*apt, "update"], check=True, env=env)
    subprocess.run([*apt, "install", "-y", "--no-install-recommends", *APT_PACKAGES],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    if absent := _absent():
        raise RuntimeError(f"installed {' '.join(APT_PACKAGES)}, still missing: "
                           f"{', '.join(absent)}")


class PrivateCups(CupsdProcess):
    def __init__(self, port: int, queue: str = "bench") -> None:
        self.port = port
        self.queue = queue
        self.root = Path(tempfile.mkdtemp(prefix="bench-cups-"))
        self.root.chmod(0o755)  # the backend runs as lp and must reach the spool
        self.socket = self.root / "run" / "cups.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> None:
        r = self.root
        for sub in ("etc", "spool", "tmp", "cache", "state", "log", "run"):
            (r / sub).mkdir(mode=0o755)
        (r / "etc" / "cups-files.conf").write_text(f"""\
ServerRoot {r}/etc
RequestRoot {r}/spool
TempDir {r}/tmp
CacheDir {r}/cache
StateDir {r}/state
ServerBin /usr/lib/cups
DataDir /usr/share/cups
AccessLog {r}/log/access_log
ErrorLog {r}/log/error_log
PageLog {r}/log/page_log
User lp
Group lp
SystemGroup root
FileDevice No
""")
        # MaxJobs 0: the default (500) would refuse part of the 1,000-receipt burst.
        # JobRetryInterval 1: the default 30 s retry would dominate every fault measurement.
        (r / "etc" / "cupsd.conf").write_text(f"""\
Listen 127.0.0.1:{self.port}
Listen {self.socket}
LogLevel warn
Browsing No
BrowseLocalProtocols none
DefaultAuthType None
WebInterface No
MaxJobs 0
PreserveJobFiles No
JobRetryInterval 1
<Location />
  Order allow,deny
  Allow 127.0.0.1
</Location>
<Policy default>
  JobPrivateAccess default
  JobPrivateValues default
  SubscriptionPrivateAccess default
  SubscriptionPrivateValues default
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
""")

    def start(self, device_uri: str) -> None:
        self._write_config()
        self.launch(timeout=15.0)
        # lpadmin warns that raw queues are deprecated: we know, so stderr counts only on failure.
        r = subprocess.run([LPADMIN, "-h", f"127.0.0.1:{self.port}", "-p", self.queue, "-E",
                            "-v", device_uri, "-m", "raw"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"lpadmin: {r.stderr.strip()} (exit {r.returncode})")
