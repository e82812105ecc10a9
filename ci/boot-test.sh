#!/usr/bin/env bash
# Boot test, part of `make test`: the real receiptd as a systemd service in a booted Debian 12.
#
# systemd runs as PID 1 in systemd-nspawn (--private-network: the container has its own
# loopback, no route out, and does not see or collide with anything on the host). Into a
# minimal bookworm root it installs
#   * receiptd from a wheel of this working tree, in a venv at /opt/receiptd (dependencies:
#     wheels of exactly the versions in .venv, fetched on the host and installed offline),
#   * the units exactly as shipped in systemd/ (sysusers, tmpfiles, udev rules, service) and a
#     drop-in that does what the README's venv install does (ExecStart=/opt/receiptd/...) plus
#     the test's own settings: WatchdogSec=5s, the hang hook (RECEIPTD_TEST_HOOKS=1,
#     RECEIPTD_TEST_HANG=spool-front: SIGUSR2 hangs that worker) and the sandbox probe as an
#     ExecStartPre= (ci/boot-test-inside.py probe), so it runs under the unit's own sandbox,
#   * /etc/receiptd/receiptd.toml: printer "front" = receiptd-emulator.service (TCP on the
#     container's loopback), the API on the Unix socket /run/receiptd/receiptd.sock only,
# boots it, and boottest.service (ci/boot-test-inside.py) checks: active through READY=1,
# a receipt over the Unix socket printed on the emulator, the sandbox as the unit's own
# process sees it (the probe), a hung worker -> watchdog -> restart with the journal intact,
# the online exposure score, a clean stop. See systemd/README.md, "Boot test".
#
# Needs root, debootstrap, systemd-container (ci/apt-packages.txt) and network access to the
# Debian mirror and PyPI (or a warm pip cache). The bookworm root and the dependency venv are
# cached in $RECEIPTD_BOOTTEST_CACHE (default /var/cache/receiptd-boottest), keyed by what
# goes into them; each run boots a throw-away overlay (or copy) of them.
#   RECEIPTD_SKIP_BOOT_TEST=1  skip, saying so (e.g. a laptop without root); refused under
#                              CI=true, where a check that does not run fails the run
#   RECEIPTD_BOOTTEST_KEEP=1   keep the run directory (root, console log, results)
#   DEBIAN_MIRROR=URL          default http://deb.debian.org/debian
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${RECEIPTD_BOOTTEST_CACHE:-/var/cache/receiptd-boottest}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
packages=systemd,systemd-sysv,dbus,python3,python3-venv,iproute2
py=$repo/.venv/bin/python
boot_timeout=240 # the in-container checks take ~30 s; this only catches a hang

if [[ ${RECEIPTD_SKIP_BOOT_TEST:-} == 1 ]]; then
    if [[ ${CI:-} == true ]]; then
        echo "boot-test: RECEIPTD_SKIP_BOOT_TEST=1 under CI=true: a skipped check fails" >&2
        exit 1
    fi
    echo "boot-test: SKIPPED (RECEIPTD_SKIP_BOOT_TEST=1)"
    exit 0
fi
if [[ $(id -u) != 0 ]]; then
    echo "boot-test: needs root (systemd-nspawn, debootstrap); set RECEIPTD_SKIP_BOOT_TEST=1 to skip" >&2
    exit 1
fi
for cmd in debootstrap systemd-nspawn flock; do
    command -v "$cmd" >/dev/null || {
        echo "boot-test: $cmd missing (ci/system-deps.sh installs ci/apt-packages.txt)" >&2
        exit 1
    }
done
[[ -x $py ]] || { echo "boot-test: $py missing: run make setup" >&2; exit 1; }

start=$SECONDS
step() { printf '== boot-test [%3ds] %s\n' $((SECONDS - start)) "$*"; }

mkdir -p "$cache"
run=$(mktemp -d "$cache/run.XXXXXX")
mounted=
cleanup() {
    if [[ -n $mounted ]]; then umount "$run/root" 2>/dev/null || umount -l "$run/root" || true; fi
    if [[ ${RECEIPTD_BOOTTEST_KEEP:-} == 1 ]]; then
        echo "boot-test: kept $run"
    else
        rm -rf "$run"
    fi
}
trap cleanup EXIT
mkdir -p "$run/wheels" "$run/results"

# One writer of the cache at a time: concurrent `make test` runs share it.
exec 9>"$cache/.lock"

# -- 1. the bookworm root (cold: ~60 s) ---------------------------------------------------------
base_key=$(echo "$suite $packages $mirror" | sha256sum | cut -c1-12)
base=$cache/base-$base_key
if [[ ! -e $base/.complete ]]; then
    flock 9
    if [[ ! -e $base/.complete ]]; then
        step "debootstrap $suite ($packages)"
        for attempt in 1 2; do
            rm -rf "$base.tmp"
            if debootstrap --variant=minbase --include="$packages" "$suite" "$base.tmp" \
                "$mirror" >"$cache/debootstrap.log" 2>&1; then
                break
            fi
            tail -5 "$cache/debootstrap.log" >&2
            if ((attempt == 2)); then
                echo "boot-test: debootstrap failed twice (log: $cache/debootstrap.log)" >&2
                exit 1
            fi
            echo "boot-test: debootstrap failed, retrying once" >&2
            sleep 5
        done
        rm -f "$base.tmp"/var/cache/apt/archives/*.deb
        touch "$base.tmp/.complete"
        rm -rf "$base"
        mv "$base.tmp" "$base"
    fi
    flock -u 9
fi
step "root: $base"

# -- 2. wheels: receiptd from the working tree, its dependencies as in .venv -------------------
# Built from a copy, so the build leaves nothing (build/, *.egg-info) in the source tree.
mkdir -p "$run/src"
tar -C "$repo" --exclude=__pycache__ -cf - pyproject.toml README.md receiptd \
    | tar -C "$run/src" -xf -
step "wheel of the working tree"
"$py" -m pip wheel --quiet --no-deps --wheel-dir "$run/wheels" "$run/src" >"$run/pip.log" 2>&1 \
    || { cat "$run/pip.log" >&2; exit 1; }
wheel=$(cd "$run/wheels" && ls receiptd-*.whl)
"$py" "$repo/ci/runtime-pins.py" >"$run/wheels/pins.txt"

# Run a command in the (not booted) container root: offline, no host network.
in_root() {
    local root=$1
    shift
    # nspawn 252 complains on exit about its propagation directory on overlayfs; harmless.
    systemd-nspawn --quiet --register=no --keep-unit --private-network -D "$root" \
        --bind-ro="$run/wheels:/wheels" --setenv=PIP_NO_CACHE_DIR=1 \
        --setenv=PIP_DISABLE_PIP_VERSION_CHECK=1 "$@" \
        2> >(grep -v '^Attempted to remove disk file system under' >&2)
}

# Layers are stacked with overlayfs when the kernel allows it, else copied.
stack() { # target lowers... (last = bottom)
    local target=$1
    shift
    mkdir -p "$target" "$target.upper" "$target.work"
    local lowers
    lowers=$(IFS=:; echo "$*")
    if mount -t overlay overlay \
        -o "lowerdir=$lowers,upperdir=$target.upper,workdir=$target.work" "$target" 2>/dev/null
    then
        mounted=1
    else
        local layer
        for ((i = $#; i >= 1; i--)); do
            layer=${!i}
            cp -a "$layer/." "$target/"
        done
    fi
}

# -- 3. the dependency venv (cold: ~20 s), a layer with /opt/receiptd -------------------------
venv_key=$( (echo "$base_key"; cat "$run/wheels/pins.txt") | sha256sum | cut -c1-12)
venv=$cache/venv-$venv_key
if [[ ! -e $venv/.complete ]]; then
    flock 9
    if [[ ! -e $venv/.complete ]]; then
        step "dependency wheels ($(wc -l <"$run/wheels/pins.txt") pinned)"
        "$py" -m pip wheel --quiet --no-deps --wheel-dir "$run/wheels" \
            -r "$run/wheels/pins.txt" >"$run/pip.log" 2>&1 || { cat "$run/pip.log" >&2; exit 1; }
        step "venv /opt/receiptd in the root (offline)"
        stage=$run/venv-stage
        mkdir -p "$stage"
        cp -a "$base/." "$stage/"
        in_root "$stage" /bin/sh -c 'python3 -m venv /opt/receiptd &&
            /opt/receiptd/bin/pip install --quiet --no-index --no-deps --find-links /wheels \
                -r /wheels/pins.txt' || { echo "boot-test: venv install failed" >&2; exit 1; }
        rm -rf "$venv.tmp"
        mkdir -p "$venv.tmp/opt"
        mv "$stage/opt/receiptd" "$venv.tmp/opt/receiptd"
        rm -rf "$stage"
        touch "$venv.tmp/.complete"
        rm -rf "$venv"
        mv "$venv.tmp" "$venv"
    fi
    flock -u 9
fi
step "venv: $venv"

# -- 4. this run's root: receiptd, units, config, the emulator, the checks ---------------------
root=$run/root
stack "$root" "$venv" "$base"
rm -f "$root/.complete"
step "install $wheel"
in_root "$root" /opt/receiptd/bin/pip install --quiet --no-index --no-deps "/wheels/$wheel" \
    || { echo "boot-test: receiptd wheel install failed" >&2; exit 1; }

units=$repo/systemd
install -D -m 0644 "$units/receiptd.service" "$root/etc/systemd/system/receiptd.service"
install -D -m 0644 "$units/receiptd.sysusers.conf" "$root/usr/lib/sysusers.d/receiptd.conf"
install -D -m 0644 "$units/receiptd.tmpfiles.conf" "$root/usr/lib/tmpfiles.d/receiptd.conf"
install -D -m 0644 "$units/60-receiptd.rules" "$root/etc/udev/rules.d/60-receiptd.rules"
install -D -m 0644 /dev/stdin "$root/etc/systemd/system/receiptd.service.d/boottest.conf" <<'EOF'
# What systemd/README.md's venv install puts in `systemctl edit receiptd` ...
[Service]
ExecStart=
ExecStart=/opt/receiptd/bin/receiptd run --config /etc/receiptd/receiptd.toml
# ... and the test's own: a quicker watchdog; the hang hook (receiptd/daemon/testhooks.py:
# SIGUSR2 hangs spool-front); and the sandbox probe, which systemd runs with everything the
# unit sets (user, namespaces, seccomp, device policy, IP allow list, cgroup) just before the
# daemon. The probe is the test's, not the product's: the daemon has no probe.
WatchdogSec=5s
Environment=RECEIPTD_TEST_HOOKS=1 RECEIPTD_TEST_HANG=spool-front
ExecStartPre=/opt/receiptd/bin/python /usr/local/lib/boottest/inside.py probe
[Unit]
# The probe connects to the emulator's control port (and its TEST-NET-2 address, added by
# the emulator unit): start after it. Only this test orders receiptd after its printer.
Wants=receiptd-emulator.service
After=receiptd-emulator.service
EOF
# Group receiptd does not exist yet: tmpfiles (after sysusers, at boot) sets root:receiptd 0640.
install -D -m 0600 /dev/stdin "$root/etc/receiptd/receiptd.toml" <<'EOF'
[daemon]
journal = "/var/lib/receiptd/journal.db"
listen = ""
unix_socket = "/run/receiptd/receiptd.sock"
log_format = "json"

[printers.front]
url = "tcp://127.0.0.1:9100"
profile = "TM-T88V"

[[tokens]]
name = "till"
role = "pos"
secret = "boottest-pos-secret"

[[tokens]]
name = "support"
role = "admin"
secret = "boottest-admin-secret"
EOF
install -D -m 0644 /dev/stdin "$root/etc/systemd/system/receiptd-emulator.service" <<'EOF'
[Unit]
Description=receiptd-emulator: the boot test's printer
[Service]
# A TEST-NET-2 address on lo: reachable in the container, outside receiptd's IPAddressAllow=.
ExecStartPre=/usr/sbin/ip address add 198.51.100.7/32 dev lo
ExecStart=/opt/receiptd/bin/receiptd-emulator serve --tcp 127.0.0.1:9100 --control 0.0.0.0:9101 --speed 1000 --transcript /var/lib/receiptd-emulator/transcript.txt
StateDirectory=receiptd-emulator
EOF
# Sandbox probes: a directory the daemon owns outside its state directories (writable by
# permission, so only ProtectSystem= can refuse it), and two device nodes that anyone may open
# by permission: 4:64 (ttyS0, in DeviceAllow=) and 10:200 (tun, not in it).
install -D -m 0644 /dev/stdin "$root/usr/lib/tmpfiles.d/boottest.conf" <<'EOF'
d /srv/boottest-owned 0700 receiptd receiptd -
EOF
mkdir -p "$root/srv/boottest-dev"
mknod -m 0666 "$root/srv/boottest-dev/ttyS0" c 4 64
mknod -m 0666 "$root/srv/boottest-dev/tun" c 10 200
install -D -m 0644 "$repo/ci/boot-test-inside.py" "$root/usr/local/lib/boottest/inside.py"
install -D -m 0644 /dev/stdin "$root/etc/systemd/system/boottest.service" <<'EOF'
[Unit]
Description=receiptd boot test checks
Wants=receiptd.service receiptd-emulator.service
After=receiptd.service receiptd-emulator.service
SuccessAction=poweroff
FailureAction=poweroff
[Service]
Type=oneshot
ExecStart=/opt/receiptd/bin/python /usr/local/lib/boottest/inside.py
StandardOutput=journal+console
TimeoutStartSec=200
EOF
wants=$root/etc/systemd/system/multi-user.target.wants
mkdir -p "$wants"
for unit in receiptd receiptd-emulator boottest; do
    ln -sf "/etc/systemd/system/$unit.service" "$wants/$unit.service"
done

# -- 5. boot -----------------------------------------------------------------------------------
step "boot (systemd as PID 1 in systemd-nspawn)"
rc=0
# --system-call-filter=bpf: nspawn's seccomp filter denies bpf(2) by default, and without it
# the container's systemd silently applies neither IPAddressDeny= nor DevicePolicy= (cgroup
# BPF programs), as it would on a real host. SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1: on a host
# with the legacy/hybrid cgroup layout (as on some CI hosts) the container's systemd would
# otherwise look for the cgroup-v1 devices controller, which nspawn does not delegate, and
# skip DevicePolicy= with only a debug message.
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 \
timeout --kill-after=15 "$boot_timeout" systemd-nspawn --quiet --register=no --keep-unit \
    --private-network --system-call-filter=bpf -D "$root" \
    --bind="$run/results:/var/log/boottest" --boot \
    >"$run/console.log" 2>&1 </dev/null || rc=$?
step "powered off (nspawn exit $rc)"

if [[ -f $run/results/out.log ]]; then sed 's/^/  /' "$run/results/out.log"; fi
result=$run/results/result.json
if [[ -f $result ]] && "$py" -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["ok"] else 1)' "$result"; then
    step "PASS"
    exit 0
fi
echo "boot-test: FAILED" >&2
if [[ ! -f $result ]]; then
    echo "--- no result: the checks never finished (nspawn exit $rc); console:" >&2
    tail -40 "$run/console.log" >&2
fi
if [[ -f $run/results/receiptd.journal.txt ]]; then
    echo "--- journalctl -u receiptd (last 40 lines)" >&2
    tail -40 "$run/results/receiptd.journal.txt" >&2
fi
if [[ ${CI:-} != "" || ${RECEIPTD_BOOTTEST_KEEP:-} != 1 ]]; then
    # Keep the evidence of a failed run next to the cache for a look afterwards.
    rm -rf "$cache/last-failure"
    mkdir -p "$cache/last-failure"
    cp -a "$run/results" "$run/console.log" "$cache/last-failure/" 2>/dev/null || true
    echo "boot-test: console and results copied to $cache/last-failure" >&2
fi
exit 1
