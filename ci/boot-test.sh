#!/usr/bin/env bash
# Exploratory, not wired into CI: boot a minimal Debian 12 in systemd-nspawn with the units
# from systemd/ installed and a stand-in daemon (receiptd/sdnotify.py plus a few lines) as
# /usr/bin/receiptd, and check what only a running systemd can show:
#   * Type=notify start-up (READY=1 over the real NOTIFY_SOCKET),
#   * the hung-worker watchdog: a worker that stops beating gets the service restarted,
#   * PrivateUsers=yes keeps group access (a root:lp 0660 and a root:dialout 0660 file can be
#     opened; a root:root 0600 one cannot),
#   * the sandbox as applied (online `systemd-analyze security`).
# Needs root, debootstrap and systemd-container; the bookworm root is cached in $CACHE.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${CACHE:-/var/cache/receiptd-boottest}
base=$cache/root
mkdir -p "$cache"
if [[ ! -x $base/usr/bin/python3 ]]; then
    rm -rf "$base"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,udev,dbus,python3 \
        bookworm "$base" http://deb.debian.org/debian
fi

# A throw-away copy of the cached root per run.
root=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$root"' EXIT
cp -a "$base/." "$root/"

install -D -m 0644 "$repo/systemd/receiptd.service" "$root/etc/systemd/system/receiptd.service"
install -D -m 0644 "$repo/systemd/receiptd.sysusers.conf" "$root/usr/lib/sysusers.d/receiptd.conf"
install -D -m 0644 "$repo/systemd/receiptd.tmpfiles.conf" "$root/usr/lib/tmpfiles.d/receiptd.conf"
install -D -m 0644 "$repo/systemd/60-receiptd.rules" "$root/etc/udev/rules.d/60-receiptd.rules"
install -D -m 0644 "$repo/receiptd/sdnotify.py" "$root/opt/receiptd-test/sdnotify.py"
# structlog is not in the minimal root: a stand-in that prints.
cat >"$root/opt/receiptd-test/structlog.py" <<'EOF'
import sys
class _Log:
    def __getattr__(self, level):
        return lambda event, **kw: print(level, event, kw, file=sys.stderr, flush=True)
def get_logger(name=None):
    return _Log()
EOF
cat >"$root/usr/bin/receiptd" <<'EOF'
#!/usr/bin/python3
"""Stand-in daemon: group access probes, READY=1, and two workers feeding the watchdog."""
import os, sys, threading, time
sys.path.insert(0, "/opt/receiptd-test")
import sdnotify

results = []
for path in ("/srv/lp-file", "/srv/dialout-file", "/srv/root-file"):
    try:
        with open(path, "rb"):
            results.append(f"{path}=open")
    except OSError as exc:
        results.append(f"{path}=denied({exc.errno})")
with open("/proc/self/status") as f:
    groups = [line.split(":", 1)[1].strip() for line in f if line.startswith("Groups:")]
results.append(f"groups={groups[0] if groups else '?'}")
results.append(f"watchdog_interval={sdnotify.watchdog_interval()}")
with open("/var/lib/receiptd/probe", "a") as f:
    f.write(" ".join(results) + "\n")

wd = sdnotify.Watchdog.from_env()
hang = os.path.exists("/var/lib/receiptd/hang-next") and not os.path.exists(
    "/var/lib/receiptd/hung-once")

def worker(name, hangs):
    while True:
        wd.beat(name)
        if hangs:
            open("/var/lib/receiptd/hung-once", "w").close()
            time.sleep(3600)  # the hung worker: never beats again
        time.sleep(0.5)

for name, hangs in (("printer-a", False), ("spool-a", hang)):
    threading.Thread(target=worker, args=(name, hangs), daemon=True).start()
sdnotify.ready()
sdnotify.status("stand-in: " + " ".join(results))
while True:
    wd.maybe_notify()
    time.sleep(wd.period or 1)
EOF
chmod 0755 "$root/usr/bin/receiptd"
printf 'x\n' >"$root/srv/lp-file"
printf 'x\n' >"$root/srv/dialout-file"
printf 'x\n' >"$root/srv/root-file"
chown 0:7 "$root/srv/lp-file" && chmod 0660 "$root/srv/lp-file"
chown 0:20 "$root/srv/dialout-file" && chmod 0660 "$root/srv/dialout-file"
chmod 0600 "$root/srv/root-file"

# Shorter watchdog for the test; everything else as shipped.
install -D -m 0644 /dev/stdin "$root/etc/systemd/system/receiptd.service.d/test.conf" <<'EOF'
[Service]
WatchdogSec=3s
EOF
# The test driver inside the container: let receiptd start, make the next start hang a worker,
# restart, wait for the watchdog to fire and the restart to happen, record, power off.
install -D -m 0755 /dev/stdin "$root/usr/local/bin/boottest" <<'EOF'
#!/bin/sh
out=/var/log/boottest.out
exec >"$out" 2>&1
set -x
systemctl is-active receiptd
systemctl show receiptd -p ActiveState -p SubState -p Result -p NRestarts -p StatusText
touch /var/lib/receiptd/hang-next
systemctl restart receiptd
sleep 8
systemctl show receiptd -p ActiveState -p SubState -p Result -p NRestarts -p StatusText
cat /var/lib/receiptd/probe
ls -la /var/lib/receiptd /run/receiptd /var/cache/receiptd /etc/receiptd
systemd-analyze security receiptd --no-pager | tail -1
journalctl -u receiptd --no-pager -o cat | tail -30
systemctl poweroff
EOF
install -D -m 0644 /dev/stdin "$root/etc/systemd/system/boottest.service" <<'EOF'
[Unit]
After=receiptd.service
Wants=receiptd.service
[Service]
Type=oneshot
ExecStart=/usr/local/bin/boottest
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/receiptd.service \
    "$root/etc/systemd/system/multi-user.target.wants/receiptd.service"
ln -sf /etc/systemd/system/boottest.service \
    "$root/etc/systemd/system/multi-user.target.wants/boottest.service"

start=$(date +%s)
timeout 120 systemd-nspawn --quiet --register=no --keep-unit -D "$root" -b \
    >"$cache/console.log" 2>&1 || echo "nspawn exited with $? (console: $cache/console.log)"
echo "booted and powered off in $(($(date +%s) - start)) s"
cat "$root/var/log/boottest.out"
