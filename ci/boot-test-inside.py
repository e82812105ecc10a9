"""The checks of ci/boot-test.sh, run *inside* the booted container by boottest.service.

It runs with the receiptd venv's Python (/opt/receiptd/bin/python, for httpx) as root,
outside receiptd's sandbox, and talks to the daemon the way a POS app on the box would: over
the Unix socket /run/receiptd/receiptd.sock with bearer tokens. Results go to
/var/log/boottest (a directory of the host, bind-mounted): result.json, out.log, and the
daemon's journal and the emulator's transcript for the record. The container powers off when
this exits (SuccessAction=/FailureAction= of the unit).

``inside.py probe`` is the sandbox probe, and the only code of this test that runs under
receiptd's sandbox: the test's drop-in makes it an ``ExecStartPre=`` of receiptd.service, so
systemd starts it with the unit's user, namespaces, seccomp filter, device policy and IP allow
list, in the unit's cgroup, just before the daemon. It tries the writes, opens and connects
below, prints one ``boottest-probe {json}`` line to the unit's journal and always exits 0; the
checks read that line. The daemon itself carries no probe.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

OUT = Path("/var/log/boottest")
SOCK = "/run/receiptd/receiptd.sock"
TOKENS = {"pos": "boottest-pos-secret", "admin": "boottest-admin-secret"}
CONTROL = ("127.0.0.1", 9101)
# TEST-NET-2, added to lo by the emulator unit: routable inside the container, not allowed by
# the unit's IPAddressAllow=.
FOREIGN = "198.51.100.7"
PROBE_MARK = "boottest-probe "

# What the probe tries under the sandbox, and what the unit must answer.
WRITES = {
    "/var/lib/receiptd/probe": "ok", "/var/cache/receiptd/probe": "ok",
    "/run/receiptd/probe": "ok", "/tmp/probe": "ok",
    "/etc/receiptd/probe": "EROFS", "/etc/probe": "EROFS", "/usr/local/probe": "EROFS",
    "/opt/receiptd/probe": "EROFS", "/var/lib/probe": "EROFS", "/var/log/probe": "EROFS",
    "/root/probe": "EACCES",
    # Owned by receiptd, so only ProtectSystem=strict refuses it.
    "/srv/boottest-owned/probe": "EROFS",
}
DEVICES = ["/srv/boottest-dev/tun", "/srv/boottest-dev/ttyS0"]
CONNECTS = [f"127.0.0.1:{CONTROL[1]}", f"{FOREIGN}:{CONTROL[1]}"]

checks: list[dict[str, Any]] = []
_t0 = time.monotonic()


def say(msg: str) -> None:
    line = f"[{time.monotonic() - _t0:6.1f}s] {msg}"
    print(line, flush=True)
    with (OUT / "out.log").open("a", encoding="utf-8") as f:
        f.write(line + "\n")


def check(name: str, ok: bool, detail: Any = "") -> bool:
    checks.append({"name": name, "ok": bool(ok), "detail": detail,
                   "at_s": round(time.monotonic() - _t0, 1)})
    say(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + str(detail) if detail != '' else ''}")
    return bool(ok)


def wait_for(what: str, predicate: Callable[[], Any], timeout: float,
             interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}"
                       + (f" (last error: {last_error!r})" if last_error else ""))


def run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=False).stdout


def show(unit: str, *props: str) -> dict[str, str]:
    out = run("systemctl", "show", unit, *(f"--property={p}" for p in props))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def unit_journal(unit: str) -> str:
    return run("journalctl", "--no-pager", "-o", "cat", "-u", unit)


def client(role: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=SOCK), base_url="http://receiptd",
                        headers={"Authorization": f"Bearer {TOKENS[role]}"}, timeout=10)


def control(command: str) -> str:
    with socket.create_connection(CONTROL, timeout=5) as s:
        s.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode().strip()


def transcript() -> str:
    return str(json.loads(control("text")))


def document(tag: str) -> dict[str, Any]:
    return {"blocks": [
        {"type": "text", "text": f"RECEIPT {tag}", "align": "center", "bold": True},
        {"type": "row", "left": "Flat white", "right": "3.20"},
        {"type": "rule"},
        {"type": "row", "left": "TOTAL", "right": "3.20"},
        {"type": "cut"},
    ]}


def submit(tag: str) -> dict[str, Any]:
    with client("pos") as c:
        r = c.post("/v1/printers/front/receipts",
                   json={"document": document(tag), "order_ref": tag})
    if r.status_code != 202:
        raise AssertionError(f"submit {tag}: {r.status_code} {r.text}")
    body: dict[str, Any] = r.json()
    return body


def receipt(receipt_id: int) -> dict[str, Any]:
    with client("pos") as c:
        r = c.get(f"/v1/receipts/{receipt_id}")
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


def printed(receipt_id: int) -> bool:
    return receipt(receipt_id)["state"] == "printed"


def printer_state() -> str:
    with client("admin") as c:
        return str(c.get("/v1/printers/front").json()["state"])


def main() -> None:
    # -- 1. start-up through READY=1 -------------------------------------------------------
    # boottest.service is ordered After=receiptd.service: for Type=notify that means after
    # READY=1 (or after the start failed).
    props = show("receiptd", "Type", "ActiveState", "SubState", "NRestarts", "StatusText",
                 "MainPID", "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic")
    check("unit is Type=notify", props.get("Type") == "notify", props.get("Type"))
    check("receiptd active (running) after boot",
          (props.get("ActiveState"), props.get("SubState")) == ("active", "running"),
          f"{props.get('ActiveState')}/{props.get('SubState')}")
    check("no restart during start-up", props.get("NRestarts") == "0", props.get("NRestarts"))
    check("STATUS= line from the daemon", "front:" in props.get("StatusText", ""),
          props.get("StatusText"))
    log = unit_journal("receiptd")
    check("daemon logged ready (journal open, API listening)", '"event": "ready"' in log)
    # Active means READY=1 arrived; the daemon sends it only once the API listens, so the
    # very first request must work — no retry here.
    with client("pos") as c:
        health = c.get("/healthz")
    check("API answers on the Unix socket at once", health.status_code == 200, health.text)
    pid = props.get("MainPID", "0")
    status = Path(f"/proc/{pid}/status").read_text() if pid != "0" else ""
    uid_line = next((x for x in status.splitlines() if x.startswith("Uid:")), "Uid: ?")
    receiptd_uid = run("id", "-u", "receiptd").strip()
    check("runs as user receiptd (sysusers)", uid_line.split()[1] == receiptd_uid,
          f"{uid_line.split()[1]} vs receiptd={receiptd_uid}")
    st = os.stat(SOCK)
    check("API socket /run/receiptd/receiptd.sock is 0660",
          oct(st.st_mode & 0o777) == "0o660", oct(st.st_mode & 0o777))

    # -- 2. a receipt over the Unix socket reaches the emulated printer --------------------
    wait_for("the emulator's control port", lambda: control("status").startswith("{"), 30)
    state = wait_for("printer front online", lambda: printer_state() == "online", 30)
    check("printer front online", state)
    first = submit("BOOT-1")
    check("submit over the Unix socket: 202 queued", first["state"] in ("queued", "printing",
                                                                        "printed"), first["id"])
    wait_for("receipt BOOT-1 printed", lambda: printed(first["id"]), 30)
    text = transcript()
    check("emulator transcript shows RECEIPT BOOT-1",
          "RECEIPT BOOT-1" in text and "[CUT]" in text, text.strip().splitlines()[:3])
    journal_db = Path("/var/lib/receiptd/journal.db")
    st = journal_db.stat()
    check("journal file is 0600 and owned by receiptd",
          oct(st.st_mode & 0o777) == "0o600" and str(st.st_uid) == receiptd_uid,
          f"{oct(st.st_mode & 0o777)} uid {st.st_uid}")

    # -- 3. the sandbox, as the unit's own process sees it (the probe, ExecStartPre=) -------
    probe = wait_for("the sandbox probe's line in the unit's journal", probe_result, 10)
    check("probe ran as user receiptd", str(probe["uid"]) == receiptd_uid, probe["uid"])
    check("probe ran in receiptd.service's cgroup (IPAddressDeny=, DevicePolicy= apply)",
          probe["cgroup"].endswith("/receiptd.service"), probe["cgroup"])
    check("probe ran with no new privileges (NoNewPrivileges=)", probe["no_new_privs"] == "1",
          probe["no_new_privs"])
    # The container has a seccomp filter of its own, so "Seccomp: 2" proves nothing: a call
    # any user may make, but in @resources, which the unit's SystemCallFilter= takes away.
    here_call = probe_syscall()
    check("control: sched_setaffinity works outside the sandbox", here_call == "ok", here_call)
    check("sandbox: SystemCallFilter=~@resources refuses sched_setaffinity",
          probe["syscall"] == "EPERM", probe["syscall"])
    for path, want in WRITES.items():
        got = probe["write"].get(path)
        # /etc/receiptd is 0750 root:receiptd: file permissions answer before the read-only
        # mount does; either refusal is a refusal.
        ok = got == want or (path.startswith("/etc/receiptd/") and got in ("EROFS", "EACCES"))
        check(f"sandbox: write {path} -> {want}", ok, got)
    # Device nodes (0666): the cgroup device policy decides. tun is outside DeviceAllow= and
    # must be EPERM; ttyS is inside, so anything but EPERM (ok, or EIO/ENXIO with no UART).
    here = {path: probe_open(path) for path in DEVICES}
    check("control: the tun node opens outside the sandbox", here[DEVICES[0]] == "ok", here)
    got = probe["open"][DEVICES[0]]
    check("sandbox: DevicePolicy=closed denies tun (10:200)", got == "EPERM", got)
    got = probe["open"][DEVICES[1]]
    check("sandbox: DeviceAllow=char-ttyS admits ttyS0 (4:64)", got != "EPERM", got)
    # /tmp is the service's own (PrivateTmp=): the probe's file never shows up out here.
    check("sandbox: loopback printer port reachable", probe["connect"][CONNECTS[0]] == "ok",
          probe["connect"][CONNECTS[0]])
    outside = probe_connect(FOREIGN, CONTROL[1])
    check(f"control: {FOREIGN} reachable outside the sandbox", outside == "ok", outside)
    # The cgroup egress filter drops the SYN: EPERM or, for TCP, a connect timeout.
    got = probe["connect"][CONNECTS[1]]
    check(f"sandbox: IPAddressDeny blocks {FOREIGN} (not in the allow list)",
          got in ("EPERM", "TimeoutError"), got)
    # The daemon has no probe of its own, even with the test hooks on.
    with client("admin") as c:
        r = c.post("/v1/test-hooks/probe", json={"write": ["/var/lib/receiptd/x"]})
    check("no probe route in the daemon (404)", r.status_code == 404, r.status_code)

    # -- 4. a hung worker: the watchdog restarts the service; nothing is lost --------------
    before = show("receiptd", "MainPID", "NRestarts")
    os.kill(int(before["MainPID"]), signal.SIGUSR2)  # RECEIPTD_TEST_HANG=spool-front
    hung = wait_for("spool-front hanging",
                    lambda: "test_hook_worker_hanging" in unit_journal("receiptd"), 20)
    check("test hook: SIGUSR2 hung spool-front in its loop", hung)
    second = submit("BOOT-2")  # the API still journals it; the hung spooler cannot print it
    check("receipt accepted while the spooler hangs", second["state"] == "queued",
          second["state"])

    def restarted() -> bool:
        now = show("receiptd", "MainPID", "NRestarts", "ActiveState", "SubState")
        return (now["NRestarts"] != before["NRestarts"] and now["MainPID"] != before["MainPID"]
                and (now["ActiveState"], now["SubState"]) == ("active", "running"))

    wait_for("the watchdog restart", restarted, 60, interval=0.5)
    after = show("receiptd", "MainPID", "NRestarts")
    log = unit_journal("receiptd")
    check("watchdog fired (systemd: 'Watchdog timeout')", "Watchdog timeout" in log,
          next((x for x in log.splitlines() if "Watchdog timeout" in x), "no such line"))
    check("daemon withheld WATCHDOG=1 for the hung worker",
          "sd_watchdog_withheld" in log and "spool-front" in log)
    check("service restarted with a new main process",
          after["NRestarts"] == "1" and after["MainPID"] != before["MainPID"],
          f"NRestarts={after['NRestarts']} pid {before['MainPID']} -> {after['MainPID']}")
    wait_for("receipt BOOT-2 printed after the restart", lambda: printed(second["id"]), 30)
    again = receipt(first["id"])
    check("journal survived the restart: BOOT-1 still printed",
          again["state"] == "printed", again["state"])
    text = transcript()
    check("BOOT-2 printed after the restart, BOOT-1 only once",
          text.count("RECEIPT BOOT-2") == 1 and text.count("RECEIPT BOOT-1") == 1,
          {"BOOT-1": text.count("RECEIPT BOOT-1"), "BOOT-2": text.count("RECEIPT BOOT-2")})

    # -- 5. the online exposure score, and a clean stop ------------------------------------
    sec = run("systemd-analyze", "security", "--no-pager", "receiptd")
    score = next((x for x in sec.splitlines() if "Overall exposure" in x), "no score")
    check("systemd-analyze security (online)", "Overall exposure" in score, score.strip())
    stop = subprocess.run(["systemctl", "stop", "receiptd"], capture_output=True, text=True,
                          timeout=60, check=False)
    props = show("receiptd", "Result", "ExecMainStatus", "ActiveState")
    check("systemctl stop: drained and exited 0",
          stop.returncode == 0 and props.get("Result") == "success"
          and props.get("ExecMainStatus") == "0" and props.get("ActiveState") == "inactive",
          props)


def probe_open(path: str) -> str:
    """Open an existing file or device node read-write, without side effects: "ok" or the
    errno name."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK))
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return "ok"


def probe_write(path: str) -> str:
    """Create ``path`` (a new file only), write a byte, remove it: "ok" or the errno name."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    try:
        os.write(fd, b"x")
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):  # left in a throw-away container: no matter
            os.unlink(path)


def probe_syscall() -> str:
    """sched_setaffinity to the current set: allowed to any user, but in @resources."""
    try:
        os.sched_setaffinity(0, os.sched_getaffinity(0))
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return "ok"


def probe_connect(host: str, port: int, patience: float = 0.0) -> str:
    """A TCP connect: "ok", the errno name or the exception's name. A refusal is retried for
    ``patience`` seconds (the emulator may still be starting), anything else is the answer."""
    deadline = time.monotonic() + patience
    while True:
        try:
            with socket.create_connection((host, port), timeout=3):
                return "ok"
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                return "ECONNREFUSED"
            time.sleep(0.2)
        except OSError as exc:
            if exc.errno:
                return errno.errorcode.get(exc.errno, str(exc.errno))
            return type(exc).__name__


def probe() -> dict[str, Any]:
    """What the unit's sandbox lets its own process do (run as ExecStartPre=)."""
    status = dict(line.split(":\t", 1) for line in
                  Path("/proc/self/status").read_text().splitlines() if ":\t" in line)
    return {
        "uid": os.getuid(),
        "cgroup": Path("/proc/self/cgroup").read_text().strip().rpartition(":")[2],
        "no_new_privs": status.get("NoNewPrivs", "").strip(),
        "syscall": probe_syscall(),
        "write": {path: probe_write(path) for path in WRITES},
        "open": {path: probe_open(path) for path in DEVICES},
        "connect": {addr: probe_connect(*_host_port(addr), patience=20) for addr in CONNECTS},
    }


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def probe_result() -> dict[str, Any] | None:
    """The first probe line receiptd.service's journal holds (the first start's)."""
    for line in unit_journal("receiptd").splitlines():
        if line.startswith(PROBE_MARK):
            result: dict[str, Any] = json.loads(line[len(PROBE_MARK):])
            return result
    return None


if __name__ == "__main__" and sys.argv[1:] == ["probe"]:
    try:
        print(PROBE_MARK + json.dumps(probe()), flush=True)
    except Exception:  # a broken probe fails the checks that wait for its line, not the unit
        traceback.print_exc()
    sys.exit(0)

if __name__ == "__main__":
    error = None
    try:
        main()
    except Exception:
        error = traceback.format_exc()
        say("ERROR " + error)
    (OUT / "receiptd.journal.txt").write_text(run("journalctl", "--no-pager", "-u", "receiptd"))
    (OUT / "boot.journal.txt").write_text(run("journalctl", "--no-pager", "-b"))
    (OUT / "emulator.journal.txt").write_text(
        run("journalctl", "--no-pager", "-u", "receiptd-emulator"))
    try:
        (OUT / "transcript.txt").write_text(transcript())
    except OSError as exc:
        say(f"no transcript: {exc}")
    ok = error is None and all(c["ok"] for c in checks)
    (OUT / "result.json").write_text(json.dumps(
        {"ok": ok, "error": error, "checks": checks,
         "seconds": round(time.monotonic() - _t0, 1)}, indent=2))
    say("RESULT " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)
